"""Start-up of the command line: how long each command takes on the demo, and which heavy libraries it loads.

Run by hand, never in the test suite (timings depend on the machine and its load):

    .venv/bin/python benchmarks/startup.py [--repeats 7]

Each command runs in a fresh process, `--repeats` times; the table gives the median wall time, the
floor (a bare `python -c pass` in the same run) and the heavy libraries the command imported (from
`python -X importtime`), so an import that a command does not need shows up here.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python -c pass (floor)": ["-c", "pass"],
    "python -m analysis --help": ["-m", "analysis", "--help"],
    "validate demo": ["-m", "analysis", "validate", "data/demo"],
    "summary demo --json": ["-m", "analysis", "summary", "demo", "--json"],
}
TARGETS = {"python -m analysis --help": 0.3, "validate demo": 1.0}
HEAVY = (
    "pandas",
    "pyarrow",
    "scipy",
    "scipy.stats",
    "statsmodels",
    "lifelines",
    "plotly",
    "kaleido",
    "openpyxl",
    "duckdb",
)


def wall_time(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def heavy_imports(argv: list[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], cwd=ROOT, capture_output=True, text=True, check=False
    )
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return [name for name in HEAVY if name in loaded]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print("| command | median | target | heavy libraries imported |")
    print("|---|---:|---:|---|")
    for name, argv in COMMANDS.items():
        wall_time(argv)  # warm the file cache
        median = statistics.median(wall_time(argv) for _ in range(args.repeats))
        target = f"< {TARGETS[name]} s" if name in TARGETS else ""
        print(f"| `{name}` | {median:.2f} s | {target} | {', '.join(heavy_imports(argv)) or 'none'} |")


if __name__ == "__main__":
    main()
