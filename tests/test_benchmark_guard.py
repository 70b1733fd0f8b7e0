"""The benchmark's memory guard: a stage (and what it starts) past the limit is stopped and reported;
one within it runs to the end. Memory only, never timing."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
spec = importlib.util.spec_from_file_location("benchmark_run", RUN)
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)

# Says so, then holds about 400 MB of written memory and waits (the guard must end it).
HOG = "import sys, time; print('allocating', file=sys.stderr, flush=True); block = b'x' * (400 * 2**20); time.sleep(60)"


def test_a_stage_past_the_limit_is_stopped_and_reported():
    completed, seen = run.guarded_run([sys.executable, "-c", HOG], limit_gb=0.2, env=dict(os.environ))
    assert completed is None
    assert seen["stopped"]["rss_gb"] > 0.2
    assert seen["stopped"]["during"] == "last heard: allocating"


def test_memory_of_the_stages_children_counts():
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {HOG!r}])"
    completed, seen = run.guarded_run([sys.executable, "-c", parent], limit_gb=0.2, env=dict(os.environ))
    assert completed is None and seen["stopped"]["rss_gb"] > 0.2
    assert not [pid for pid in run.process_tree(os.getpid())[1:] if run.rss_mb(pid) > 300]  # none left behind


def test_a_stage_within_the_limit_runs_to_the_end():
    completed, seen = run.guarded_run([sys.executable, "-c", "print('done')"], limit_gb=2, env=dict(os.environ))
    assert completed is not None and completed.returncode == 0 and completed.stdout.strip() == "done"
    assert "stopped" not in seen
