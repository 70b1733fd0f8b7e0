"""Benchmark: ingest, its lower bound, the full analysis and a filter change, at several cohort sizes.

Run by hand, never in the test suite (timings depend on the machine and its load):

    .venv/bin/python benchmarks/run.py --sizes 10000,100000,1000000 --repeats 5 --out benchmarks/out

Cohorts come from the demo generator (`analysis.demo.write_demo`) and are kept in `OUT/cohorts/`
so later runs reuse them; generating them is not timed. Each stage runs in a fresh Python process,
so that its peak memory (the process's VmHWM, reset after the untimed set-up) is its own:

1. ingest: `analysis.cohort.loading.load_bundle` of the four CSV files into the validated cohort;
   reopen: the same bundle opened again, from the Parquet copy `analysis.cohort.cache` keeps
   (`load_bundle_cached`; the command line's repeated loads);
2. lower bound: the faster of pyarrow (`pyarrow.csv.read_csv`) and duckdb (`read_csv`) only reading
   the same four files into memory, and the ratios ingest / lower bound and reopen / lower bound;
3. full analysis: every outcome area and every claim on the whole cohort, as the JSON summary
   computes them (`analysis.outputs.summary.summarize`);
4. filter change: one sidebar filter (sex = F) applied and the Overview page recomputed as the
   app does it after the page was first shown (whole-cohort work reused, the page's own results
   computed anew because the filter is part of their cache key).
5. summary (whole process): `python -m analysis summary BUNDLE --json` run as a user runs it, start-up
   and imports included;
6. ingest on Spark: `ingest` with the derived fields computed on a local[2] Spark session (started and
   warmed before timing), and its ratio to DuckDB's ingest.

Every timing is the median of `--repeats` runs (fewer at 1,000,000 courses). The Markdown table
is printed and written to `benchmarks/RESULTS.md`; `OUT/results.json` keeps the raw timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
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
    for _ in range(repeats):
        argument = before() if before else None
        gc.collect()
        start = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - start)
        del argument
    return times


def stage_lower_bound(bundle: Path, repeats: int) -> dict:
    """The faster of pyarrow and duckdb reading the four files into memory (Arrow tables, types inferred)."""
    import duckdb
    import pyarrow.csv as pacsv

    files = [bundle / f"{name}.csv" for name in TABLE_NAMES if (bundle / f"{name}.csv").is_file()]

    def with_pyarrow(_):
        return [pacsv.read_csv(path) for path in files]

    def with_duckdb(_):
        with duckdb.connect() as connection:
            return [connection.read_csv(str(path)).fetch_arrow_table() for path in files]

    with_pyarrow(None)  # warm the page cache: every stage reads from memory, not from the disk
    reset_peak_rss()
    readers = {"pyarrow": timed(with_pyarrow, repeats), "duckdb": timed(with_duckdb, repeats)}
    fastest = min(readers, key=lambda name: statistics.median(readers[name]))
    return {
        "times": readers[fastest],
        "reader": fastest,
        "medians": {k: statistics.median(v) for k, v in readers.items()},
    }


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
    result = stages[name](bundle, repeats)
    result["peak_rss_mb"] = result.pop("child_peak_rss_mb", None) or peak_rss_mb()
    print(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# The driver


def bundle_for(size: int, out: Path) -> Path:
    """The cached CSV bundle of `size` courses, generated on first use (not timed)."""
    from analysis.demo import write_demo

    folder = out / "cohorts" / f"n{size}_seed{SEED}"
    done = folder / ".complete"
    if not done.exists():
        print(f"generating {size:,} courses into {folder} ...", file=sys.stderr, flush=True)
        write_demo(folder, size, seed=SEED)
        done.write_text("ok\n")
    return folder


def bundle_size_mb(bundle: Path) -> float:
    return (
        sum((bundle / f"{name}.csv").stat().st_size for name in TABLE_NAMES if (bundle / f"{name}.csv").exists())
        / 2**20
    )


def measure(stage: str, bundle: Path, repeats: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "stage", stage, str(bundle), str(repeats)]
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if completed.returncode != 0:
        return {
            "error": (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["failed"],
            "wall_s": time.perf_counter() - start,
        }
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["median_s"] = statistics.median(result["times"])
    return result


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
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def seconds(result: dict) -> str:
    if "error" in result:
        return "failed"
    value = result["median_s"]
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"


def memory(result: dict) -> str:
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
        "| courses | on disk (CSV) | lower bound (fastest read) | ingest (first load) | ratio | reopen (Parquet copy) | ratio "
        "| full analysis | filter change (Overview) | summary (whole process) | ingest on Spark local[2] "
        "| peak RSS: lower bound / ingest / reopen / analysis / filter / summary / Spark (Python side; the JVM not counted) |"
    )
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        stages = row["stages"]
        lines.append(
            f"| {row['size']:,} | {row['disk_mb']:,.0f} MB | {seconds(stages['lower_bound'])}{reader(stages)} | {seconds(stages['ingest'])} "
            f"| {ratio(stages, 'ingest')} | {seconds(stages['reopen'])} | {ratio(stages, 'reopen')} "
            f"| {seconds(stages['analysis'])} | {seconds(stages['filter'])} "
            f"| {seconds(stages['summary_cli'])} | {seconds(stages['ingest_spark'])}{spark_ratio(stages)} "
            f"| {' / '.join(memory(stages[s]) for s in STAGES)} |"
        )
    return "\n".join(lines)


def report(rows: list[dict], info: dict, repeats: int) -> str:
    when = dt.date.today().isoformat()
    return (
        f"Measured {when} on {info['cpus']} CPUs ({info['cpu']}), {info['memory_gb']} GB of memory, Python {info['python']}; "
        f"load average at the start {', '.join(map(str, info['load_average']))}. Medians of {repeats} runs "
        f"({repeats_for(LARGE, repeats)} at 1,000,000 courses); each stage in a fresh process.\n\n{table(rows)}\n"
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
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    chosen = [s for s in args.stages.split(",") if s]
    info = machine()
    rows = []
    for size in sizes:
        bundle = bundle_for(size, args.out)
        row = {"size": size, "disk_mb": bundle_size_mb(bundle), "stages": {}}
        for stage in STAGES:
            if stage not in chosen:
                row["stages"][stage] = {"error": ["not run"]}
                continue
            print(f"{size:,} courses: {stage} ...", file=sys.stderr, flush=True)
            row["stages"][stage] = measure(stage, bundle, repeats_for(size, args.repeats))
            print(
                f"  {seconds(row['stages'][stage])}, peak {memory(row['stages'][stage])}", file=sys.stderr, flush=True
            )
        rows.append(row)
    text = report(rows, info, args.repeats)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    args.results.write_text("# Benchmark results\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
