"""Benchmark: ingest, its lower bound, the full analysis and a filter change, at several cohort sizes.

Run by hand, never in the test suite (timings depend on the machine and its load):

    .venv/bin/python benchmarks/run.py --sizes 10000,100000,1000000 --repeats 5 --out benchmarks/out
    .venv/bin/python benchmarks/run.py --sizes 10000000 --repeats 1 --stages lower_bound,ingest,analysis,summary_cli

Cohorts come from the demo generator and are kept in `OUT/cohorts/` so later runs reuse them;
generating them is not timed. Below 10,000,000 courses they are CSV files (`analysis.demo.write_demo`);
from there on (or with `--format parquet`) Parquet files written a chunk of courses at a time in
bounded memory (`analysis.demo.write_demo_parquet`). Each stage runs in a fresh Python process, so
that its peak memory (the process's VmHWM, reset after the untimed set-up) is its own:

1. ingest: `analysis.cohort.loading.load_bundle` of the four files into the validated cohort;
   reopen: the same bundle opened again, from the Parquet copy `analysis.cohort.cache` keeps
   (`load_bundle_cached`; the command line's repeated loads);
2. lower bound: the faster of pyarrow and duckdb only reading the same four files (CSV: into memory;
   Parquet: decoded a row group or batch at a time), and the ratios ingest / lower bound and
   reopen / lower bound;
3. full analysis: every outcome area and every claim on the whole cohort, as the JSON summary
   computes them (`analysis.outputs.summary.summarize`);
4. filter change: one sidebar filter (sex = F) applied and the Overview page recomputed as the
   app does it after the page was first shown (whole-cohort work reused, the page's own results
   computed anew because the filter is part of their cache key).
5. summary (whole process): `python -m analysis summary BUNDLE --json` run as a user runs it, start-up
   and imports included;
6. ingest on Spark: `ingest` with the derived fields computed on a local[2] Spark session (started and
   warmed before timing), and its ratio to DuckDB's ingest.

A memory guard watches every stage: the parent reads the resident memory of the stage's process and
its children (the summary's process, Spark's JVM) every 0.2 s and kills them all once it passes
`--memory-limit-gb` (default 12); the stage is then reported as "stopped at X GB after Y s". The
machine may be shared: never run the large sizes without it.

Every timing is the median of `--repeats` runs (fewer from 1,000,000 courses on). The Markdown table,
with the load average at the start and end of the run, is printed and written to
`benchmarks/RESULTS.md`; `OUT/results.json` keeps the raw timings and the guard's observations.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TABLE_NAMES = ("courses", "visits", "adverse_events", "labs")
DEFAULT_SIZES = "10000,100000,1000000"
LARGE = 1_000_000  # from this size on, stages repeat fewer times
STAGES = ("lower_bound", "ingest", "reopen", "analysis", "filter", "summary_cli", "ingest_spark")
SEED = 7
PARQUET_FROM = 10_000_000  # with --format auto, from this size on cohorts are written as Parquet
POLL_S = 0.2  # the memory guard reads the stage's resident memory this often
DEFAULT_LIMIT_GB = 12.0
# A Parquet bundle on disk is opened with the expansion limits an administrator would raise for it
# (the defaults, 2 GB a file and 4 GB an upload, are for uploads and refuse 10,000,000 courses).
EXPANSION_SETTINGS = ("ISOTRET_MAX_EXPANDED_FILE_MB", "ISOTRET_MAX_EXPANDED_TOTAL_MB")
LOCAL_EXPANSION_MB = 1_000_000


# ---------------------------------------------------------------------------------------------
# Memory: the process's peak resident set, reset after set-up so that it belongs to the stage


def reset_peak_rss() -> None:
    """Resets VmHWM to the current RSS (Linux >= 4.0); ignored where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------
# The stages (each runs in its own process: `run.py stage NAME BUNDLE REPEATS`)


def timed(function, repeats: int, before=None) -> list[float]:
    times = []
    for run in range(1, repeats + 1):
        argument = before() if before else None
        gc.collect()
        print(f"timed run {run} begins", file=sys.stderr, flush=True)  # heard by the memory guard
        start = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - start)
        del argument
    return times


def stage_lower_bound(bundle: Path, repeats: int) -> dict:
    """The faster of pyarrow and duckdb only reading the bundle's files: CSV files into memory (Arrow
    tables, types inferred); Parquet files decoded a row group (pyarrow) or a batch (duckdb) at a
    time and let go, so that every value is decoded once in bounded memory."""
    import duckdb

    if bundle_format(bundle) == "parquet":
        readers = parquet_readers(bundle, duckdb)
    else:
        readers = csv_readers(bundle, duckdb)
    readers["pyarrow"](None)  # warm the page cache: every stage reads from memory, not from the disk
    reset_peak_rss()
    times = {name: timed(read, repeats) for name, read in readers.items()}
    fastest = min(times, key=lambda name: statistics.median(times[name]))
    return {
        "times": times[fastest],
        "reader": fastest,
        "medians": {k: statistics.median(v) for k, v in times.items()},
    }


def csv_readers(bundle: Path, duckdb) -> dict:
    import pyarrow.csv as pacsv

    files = data_files(bundle)

    def with_pyarrow(_):
        return [pacsv.read_csv(path) for path in files]

    def with_duckdb(_):
        with duckdb.connect() as connection:
            return [connection.read_csv(str(path)).fetch_arrow_table() for path in files]

    return {"pyarrow": with_pyarrow, "duckdb": with_duckdb}


def parquet_readers(bundle: Path, duckdb) -> dict:
    import pyarrow.parquet as pq

    files = data_files(bundle)

    def with_pyarrow(_):
        rows = 0
        for path in files:
            parquet = pq.ParquetFile(path)
            for group in range(parquet.metadata.num_row_groups):
                rows += parquet.read_row_group(group).num_rows
        return rows

    def with_duckdb(_):
        rows = 0
        with duckdb.connect() as connection:
            for path in files:
                batches = connection.read_parquet(str(path)).fetch_record_batch(1_000_000)
                rows += sum(batch.num_rows for batch in batches)
        return rows

    return {"pyarrow": with_pyarrow, "duckdb": with_duckdb}


def stage_ingest(bundle: Path, repeats: int) -> dict:
    from analysis.cohort.loading import load_bundle, load_demo

    def load(_):
        result = load_bundle(bundle, source="benchmark")
        if result.cohort is None:
            raise SystemExit(f"the bundle {bundle} did not load: {result.report}")
        return result

    load_demo()  # imports and code paths warm, as in a running app (the lower-bound stage warmed the page cache)
    gc.collect()
    reset_peak_rss()
    return {"times": timed(load, repeats)}


def stage_summary_cli(bundle: Path, repeats: int) -> dict:
    """The whole process, as a user runs it: `python -m analysis summary BUNDLE --json` (start-up,
    imports, reading, checking, every area and claim, the JSON). Peak memory: the child's."""
    import resource

    command = [sys.executable, "-m", "analysis", "summary", str(bundle), "--json"]

    def run(_):
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)

    times = timed(run, repeats)
    return {"times": times, "child_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def stage_ingest_spark(bundle: Path, repeats: int) -> dict:
    """`ingest` with the derived fields computed on a Spark session (local[2]), started and warmed on
    the demo before timing: Spark pays for distribution; this row shows the same load runs there."""
    from analysis.cohort.loading import load_bundle, load_demo
    from analysis.engine.connection import spark_engine

    engine = spark_engine("local[2]")
    load_demo(engine)
    gc.collect()
    reset_peak_rss()
    return {"times": timed(lambda _: load_bundle(bundle, source="benchmark", engine=engine), repeats)}


def cache_dir(bundle: Path) -> Path:
    return bundle.parent.parent / "parquet"


def stage_reopen(bundle: Path, repeats: int) -> dict:
    from analysis.cohort.cache import load_bundle_cached

    load_bundle_cached(bundle, cache_dir(bundle), source="benchmark")  # writes the Parquet copy if there is none
    gc.collect()
    reset_peak_rss()
    return {"times": timed(lambda _: load_bundle_cached(bundle, cache_dir(bundle), source="benchmark"), repeats)}


def loaded_cohort(bundle: Path):
    """The cohort (from the Parquet copy: the same tables as `load_bundle` builds, without its cost)."""
    from analysis.cohort.cache import load_bundle_cached

    return load_bundle_cached(bundle, cache_dir(bundle), source="benchmark").cohort


def fresh(cohort):
    """The same cohort as new table objects (sharing memory), so no cache keyed on a table's identity helps."""
    return replace(cohort, **{name: cohort.table(name).copy(deep=False) for name in TABLE_NAMES})


def warm_up() -> None:
    """Imports and one-off set-up (claim specs, literature) done on the small demo, as a running app has."""
    from analysis.cohort.loading import load_demo
    from analysis.outputs.summary import summarize

    summarize(load_demo().cohort)


def stage_analysis(bundle: Path, repeats: int) -> dict:
    from analysis.outputs.summary import summarize

    cohort = loaded_cohort(bundle)
    warm_up()
    gc.collect()
    reset_peak_rss()
    return {"times": timed(summarize, repeats, before=lambda: fresh(cohort))}


FILTER = {"sex": ("F",)}


def overview_page(cohort, filtered) -> None:
    """What the Overview page computes and draws for the filtered cohort (views/overview.py)."""
    from analysis.areas.claims import compute as claims
    from analysis.areas.claims import figures as claims_figures
    from analysis.areas.overview import compute as overview
    from analysis.areas.overview import figures as overview_figures

    results = claims.evaluate_claims(filtered, {})
    claims_figures.scorecard_figure(results, f"{filtered.n_courses:,} courses")
    claims.scorecard_table(results)
    overview.profile(filtered)
    overview_figures.demographics_figure(filtered)
    overview_figures.dose_figure(filtered)
    overview_figures.duration_figure(filtered)
    overview.demographics_table(filtered)
    overview_figures.completeness_figure(overview.completeness(filtered))


def sidebar(cohort, spec):
    """What the shared sidebar computes after a filter changed (ui/sidebar.py): the filter options,
    kept with the cohort, and a newly cut filtered cohort (the app keeps it for later reruns)."""
    from analysis.cohort.filters import apply_filters, filter_choices

    filter_choices(cohort)
    return apply_filters(cohort, spec)


def stage_filter(bundle: Path, repeats: int) -> dict:
    from analysis.cohort.filters import FilterSpec

    cohort = loaded_cohort(bundle)
    warm_up()
    overview_page(cohort, sidebar(cohort, FilterSpec()))  # the page as first shown, on every course
    gc.collect()
    reset_peak_rss()

    def change(_):
        overview_page(cohort, sidebar(cohort, FilterSpec(values=FILTER)))

    return {"times": timed(change, repeats)}


def run_stage(name: str, bundle: Path, repeats: int) -> None:
    stages = {
        "lower_bound": stage_lower_bound,
        "ingest": stage_ingest,
        "reopen": stage_reopen,
        "analysis": stage_analysis,
        "filter": stage_filter,
        "summary_cli": stage_summary_cli,
        "ingest_spark": stage_ingest_spark,
    }
    from analysis.ingest.progress import reporting_stages

    start = time.perf_counter()
    with reporting_stages(
        lambda text: print(f"{time.perf_counter() - start:.0f} s: {text}", file=sys.stderr, flush=True)
    ):
        result = stages[name](bundle, repeats)
    result["peak_rss_mb"] = result.pop("child_peak_rss_mb", None) or peak_rss_mb()
    print(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# The driver


def bundle_for(size: int, out: Path, form: str) -> Path:
    """The cached bundle of `size` courses, generated on first use (not timed): CSV files from
    `write_demo`, or Parquet files from `write_demo_parquet` (in chunks, in bounded memory)."""
    from analysis.demo import write_demo, write_demo_parquet

    folder = out / "cohorts" / (f"n{size}_seed{SEED}" + ("_parquet" if form == "parquet" else ""))
    done = folder / ".complete"
    if not done.exists():
        print(f"generating {size:,} courses into {folder} ...", file=sys.stderr, flush=True)
        if form == "parquet":
            write_demo_parquet(folder, size, seed=SEED)
        else:
            write_demo(folder, size, seed=SEED)
        done.write_text("ok\n")
    return folder


def bundle_format(bundle: Path) -> str:
    return "parquet" if (bundle / "courses.parquet").is_file() else "csv"


def data_files(bundle: Path) -> list[Path]:
    extension = bundle_format(bundle)
    return [bundle / f"{name}.{extension}" for name in TABLE_NAMES if (bundle / f"{name}.{extension}").is_file()]


def format_for(size: int, form: str) -> str:
    return ("parquet" if size >= PARQUET_FROM else "csv") if form == "auto" else form


def bundle_size_mb(bundle: Path) -> float:
    return sum(path.stat().st_size for path in data_files(bundle)) / 2**20


# ---------------------------------------------------------------------------------------------
# The memory guard: every stage's process (and its children) watched, and stopped past the limit


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (a summary's `python -m analysis`, Spark's JVM)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def guarded_run(command: list[str], limit_gb: float, env: dict) -> tuple[subprocess.CompletedProcess | None, dict]:
    """Runs `command`, its resident memory (with its children's) read every POLL_S seconds; past
    `limit_gb` the whole process group is killed. Returns the finished process (None if stopped)
    and what the guard saw: the highest total RSS, and when and at how much it stopped the stage."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env, start_new_session=True
    )
    output: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda name=name, s=s: output.__setitem__(name, s.read()), daemon=True)
        for name, s in (("stdout", process.stdout), ("stderr", process.stderr))
    ]
    for reader_thread in readers:
        reader_thread.start()
    seen = {"watched_peak_mb": 0.0}
    while process.poll() is None:
        total = sum(rss_mb(pid) for pid in process_tree(process.pid))
        seen["watched_peak_mb"] = max(seen["watched_peak_mb"], total)
        if total > limit_gb * 1024:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            seen["stopped"] = {"rss_gb": round(total / 1024, 2), "after_s": round(time.perf_counter() - start, 1)}
            break
        time.sleep(POLL_S)
    for reader_thread in readers:
        reader_thread.join()
    if "stopped" in seen:
        announced = (output.get("stderr") or "").strip().splitlines()
        seen["stopped"]["during"] = f"last heard: {announced[-1]}" if announced else ""
        return None, seen
    return subprocess.CompletedProcess(command, process.returncode, output["stdout"], output["stderr"]), seen


def measure(stage: str, bundle: Path, repeats: int, limit_gb: float) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "stage", stage, str(bundle), str(repeats)]
    env = dict(os.environ)
    if bundle_format(bundle) == "parquet":  # a bundle on disk, as an administrator would open one
        env.update({name: str(LOCAL_EXPANSION_MB) for name in EXPANSION_SETTINGS})
    start = time.perf_counter()
    completed, seen = guarded_run(command, limit_gb, env)
    if completed is None:
        stopped = seen["stopped"]
        during = f" ({stopped['during']})" if stopped["during"] else ""
        return {"error": [f"stopped at {stopped['rss_gb']:.1f} GB after {stopped['after_s']:.0f} s{during}"], **seen}
    if completed.returncode != 0:
        return {
            "error": (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["failed"],
            "wall_s": time.perf_counter() - start,
            **seen,
        }
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["median_s"] = statistics.median(result["times"])
    return {**result, **seen}


def repeats_for(size: int, repeats: int) -> int:
    return max(1, min(repeats, 2)) if size >= LARGE else repeats


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(memory_kb / 2**20, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_average": load_average(),
    }


def seconds(result: dict) -> str:
    if "stopped" in result:
        return result["error"][0]
    if "error" in result:
        return "not run" if result["error"] == ["not run"] else "failed"
    value = result["median_s"]
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"


def memory(result: dict) -> str:
    if "stopped" in result:
        return f"stopped at {result['stopped']['rss_gb']:.1f} GB"
    return "-" if "error" in result else f"{result['peak_rss_mb'] / 1024:.2f} GB"


def reader(stages: dict) -> str:
    return f" ({stages['lower_bound']['reader']})" if "reader" in stages["lower_bound"] else ""


def ratio(stages: dict, stage: str) -> str:
    if "error" in stages[stage] or "error" in stages["lower_bound"]:
        return "-"
    return f"{stages[stage]['median_s'] / stages['lower_bound']['median_s']:.1f}x"


def spark_ratio(stages: dict) -> str:
    if "error" in stages["ingest_spark"] or "error" in stages["ingest"]:
        return ""
    return f" ({stages['ingest_spark']['median_s'] / stages['ingest']['median_s']:.1f}x DuckDB's)"


def table(rows: list[dict]) -> str:
    header = (
        "| courses | on disk | lower bound (fastest read) | ingest (first load) | ratio | reopen (Parquet copy) | ratio "
        "| full analysis | filter change (Overview) | summary (whole process) | ingest on Spark local[2] "
        "| peak RSS: lower bound / ingest / reopen / analysis / filter / summary / Spark (Python side; the JVM not counted) |"
    )
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        stages = row["stages"]
        lines.append(
            f"| {row['size']:,} | {row['disk_mb']:,.0f} MB {row['format']} | {seconds(stages['lower_bound'])}{reader(stages)} "
            f"| {seconds(stages['ingest'])} | {ratio(stages, 'ingest')} | {seconds(stages['reopen'])} | {ratio(stages, 'reopen')} "
            f"| {seconds(stages['analysis'])} | {seconds(stages['filter'])} "
            f"| {seconds(stages['summary_cli'])} | {seconds(stages['ingest_spark'])}{spark_ratio(stages)} "
            f"| {' / '.join(memory(stages[s]) for s in STAGES)} |"
        )
    return "\n".join(lines)


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def runs(repeats: int) -> str:
    if repeats == 1:
        return "One run of each stage"
    return f"Medians of {repeats} runs ({repeats_for(LARGE, repeats)} from 1,000,000 courses on)"


def report(rows: list[dict], info: dict, repeats: int, limit_gb: float) -> str:
    when = dt.date.today().isoformat()
    return (
        f"Measured {when} on {info['cpus']} CPUs ({info['cpu']}), {info['memory_gb']} GB of memory, Python {info['python']}; "
        f"the machine is shared, load average {info['load_average']} at the start and {info['load_average_end']} at the end. "
        f"{runs(repeats)}; each stage in a fresh "
        f"process, watched by a memory guard that stops it past {limit_gb:g} GB (its children's memory included).\n\n"
        f"{table(rows)}\n"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["stage"]:
        run_stage(argv[1], Path(argv[2]), int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated numbers of courses")
    parser.add_argument("--repeats", type=int, default=5, help="runs per stage (at most 2 at 1,000,000 courses)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "out", help="folder for the cached cohorts and results.json"
    )
    parser.add_argument(
        "--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md", help="where the Markdown table goes"
    )
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of " + ", ".join(STAGES))
    parser.add_argument(
        "--format",
        choices=("auto", "csv", "parquet"),
        default="auto",
        help=f"how cohorts are written; auto: CSV below {PARQUET_FROM:,} courses, Parquet from there on",
    )
    parser.add_argument(
        "--memory-limit-gb",
        type=float,
        default=DEFAULT_LIMIT_GB,
        help="a stage whose processes together pass this resident memory is stopped",
    )
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    chosen = [s for s in args.stages.split(",") if s]
    info = machine()
    rows = []
    for size in sizes:
        form = format_for(size, args.format)
        bundle = bundle_for(size, args.out, form)
        row = {"size": size, "format": form, "disk_mb": bundle_size_mb(bundle), "stages": {}}
        for stage in STAGES:
            if stage not in chosen:
                row["stages"][stage] = {"error": ["not run"]}
                continue
            print(f"{size:,} courses: {stage} ...", file=sys.stderr, flush=True)
            row["stages"][stage] = measure(stage, bundle, repeats_for(size, args.repeats), args.memory_limit_gb)
            print(
                f"  {seconds(row['stages'][stage])}, peak {memory(row['stages'][stage])}", file=sys.stderr, flush=True
            )
        rows.append(row)
    info["load_average_end"] = load_average()
    text = report(rows, info, args.repeats, args.memory_limit_gb)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    args.results.write_text("# Benchmark results\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
