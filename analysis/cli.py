"""The command line: check a dataset, print its summary, write a synthetic cohort.

    python -m analysis validate PATH [--all] [--mapping FILE]
    python -m analysis summary [PATH | demo] [--json] [--group-by COLUMN] [--set KEY=VALUE ...] [--mapping FILE]
    python -m analysis mapping PATH [--out FILE] [--mapping FILE]
    python -m analysis report [PATH | demo] --out FILE.html [--group-by COLUMN] [--set KEY=VALUE ...] [--no-suppression]
                              [--slides]
    python -m analysis demo --out DIR [--courses N] [--seed S]

PATH is a folder or a .zip holding the data files, or a single file: the canonical CSV files
(courses.csv and optionally visits.csv, adverse_events.csv, labs.csv), CDISC ADaM/SDTM or REDCap
exports, or any CSV/TSV/Excel/Parquet export. A mapping file (saved from the Data page, or
written by `mapping`) says how an export's columns become the canonical ones. Exit status:
0 done (`validate`: every value was used as written), 1 the data cannot be loaded (`validate`,
and `summary` or `report` with --strict: a row or value was excluded, set to missing or changed,
or an error was found), 2 the command was not used as intended.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2
FINDINGS_SHOWN = 50
PLAIN_CSV = "CSV, UTF-8, comma-separated"
LIST_ITEMS_SHOWN = 20
STRICT_HELP = "exit with status 1, as validate does, when any row or value was not used as written"


CLAIMS_HELP = "a claim set (TOML, the schema of data/claims.toml) to test instead of the bundled article's claims"


class UsageError(Exception):
    """The command was not used as intended; the message says how."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 on a usage problem
    _tolerant_output()
    try:
        return args.run(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        return EXIT_OK
    except Exception as error:  # a defect: one plain line unless asked for the details
        if args.traceback:
            raise
        print(f"error: {type(error).__name__}: {error} (run again with --traceback for details)", file=sys.stderr)
        return EXIT_DATA


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Isotretinoin course outcomes.")
    parser.add_argument("--traceback", action="store_true", help="show the full error on an unexpected failure")
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),  # analysis.engine.connection.ENGINES (not imported before it is needed)
        default="duckdb",
        help="where the row-level work runs: DuckDB in this process (the default) or a Spark session",
    )
    parser.add_argument(
        "--master",
        metavar="URL",
        help="the Spark master with --engine spark, e.g. local[2] or spark://host:7077 (default: local[2])",
    )
    parser.add_argument(
        "--table",
        metavar="TABLE=SOURCE",
        action="append",
        default=[],
        help="read a table where it lives instead of from PATH: a catalog table (courses=registry.courses) or a "
        "path the engine reaches (visits=/data/visits.parquet, on Spark also s3a://...); repeat for each table",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a dataset and list every problem found")
    validate.add_argument("path", metavar="PATH", nargs="?", help="folder, .zip or courses.csv (or give --table)")
    validate.add_argument(
        "--all", action="store_true", help=f"list every finding (default: the first {FINDINGS_SHOWN})"
    )
    validate.add_argument("--mapping", metavar="FILE", type=Path, help="a saved column mapping (JSON) for the files")
    validate.set_defaults(run=run_validate)

    summary = commands.add_parser("summary", help="print the outcome summary of a dataset")
    summary.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        default="demo",
        help="folder, .zip or courses.csv; 'demo' (the default) for the bundled demo",
    )
    summary.add_argument("--json", action="store_true", help="print JSON instead of text")
    summary.add_argument("--group-by", metavar="COLUMN", help="a column of courses to compare groups by, e.g. sex")
    summary.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        type=key_value,
        default=[],
        help="a definition or threshold, e.g. --set clearance_reduction_pct=80 (repeatable)",
    )
    summary.add_argument("--mapping", metavar="FILE", type=Path, help="a saved column mapping (JSON) for the files")
    summary.add_argument("--strict", action="store_true", help=STRICT_HELP)
    summary.add_argument("--claims", metavar="FILE", type=Path, help=CLAIMS_HELP)
    summary.set_defaults(run=run_summary)

    mapping = commands.add_parser("mapping", help="propose a column mapping for a dataset and print or save it")
    mapping.add_argument("path", metavar="PATH", help="folder, .zip or file")
    mapping.add_argument("--mapping", metavar="FILE", type=Path, help="start from a saved mapping")
    mapping.add_argument(
        "--out", metavar="FILE", type=Path, help="write the mapping (JSON) here instead of printing it"
    )
    mapping.set_defaults(run=run_mapping)

    report = commands.add_parser("report", help="write a self-contained HTML report of a dataset")
    report.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        default="demo",
        help="folder, .zip or courses.csv; 'demo' (the default) for the bundled demo",
    )
    report.add_argument("--out", metavar="FILE", required=True, type=Path, help="the HTML file to write")
    report.add_argument("--group-by", metavar="COLUMN", help="a column of courses to compare groups by, e.g. sex")
    report.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        type=key_value,
        default=[],
        help="a definition or threshold, e.g. --set clearance.definition=iga_success (repeatable)",
    )
    report.add_argument(
        "--suppress-below",
        metavar="N",
        type=positive_int,
        default=5,
        help="counts from 1 to N-1 are shown as '<N' (default 5)",
    )
    report.add_argument(
        "--no-suppression",
        action="store_true",
        help="show every count, however small: a private report, not for sharing",
    )
    report.add_argument("--mapping", metavar="FILE", type=Path, help="a saved column mapping (JSON) for the files")
    report.add_argument("--strict", action="store_true", help=STRICT_HELP)
    report.add_argument("--claims", metavar="FILE", type=Path, help=CLAIMS_HELP)
    report.add_argument(
        "--slides",
        action="store_true",
        help="write the findings as slides for a talk (one per area; arrow keys step; always suppressed)",
    )
    report.set_defaults(run=run_report)

    demo = commands.add_parser("demo", help="write a synthetic cohort as CSV files")
    demo.add_argument("--out", metavar="DIR", required=True, type=Path, help="folder to write the four CSV files to")
    demo.add_argument("--courses", metavar="N", type=positive_int, help="number of courses")
    demo.add_argument("--seed", metavar="S", type=int, help="random seed; the same seed gives the same files")
    demo.set_defaults(run=run_demo)
    return parser


def key_value(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE read as JSON when it is JSON (numbers, true/false), else as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return number


def _tolerant_output() -> None:
    """Characters the terminal cannot show are replaced rather than ending the program."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


def load(args: argparse.Namespace):
    from analysis.cohort.loading import load_bundle, load_demo

    path, mapping_file = args.path, args.mapping
    if args.table:
        return _load_sources(args)
    if path is None:
        raise UsageError("give the data: PATH, or --table TABLE=SOURCE for each table")
    if path == "demo":
        if mapping_file is not None:
            raise UsageError("--mapping applies to your own files, not to the demo")
        return load_demo(*_engine_and_build(args))
    if not Path(path).exists():
        raise UsageError(f"no such file or folder: {path}")
    engine, build = _engine_and_build(args)
    return load_bundle(path, mapping=read_mapping(mapping_file), engine=engine, build=build)


def _engine_and_build(args: argparse.Namespace) -> tuple:
    """`validate` reads and checks the files only: no cohort is built, so no engine is started."""
    if args.command == "validate":
        _check_engine_options(args)
        return None, False
    return engine_of(args), True


def _load_sources(args: argparse.Namespace):
    """The tables read by the engine from where they live, then checked as an upload is."""
    from analysis.cohort.loading import load_sources
    from analysis.engine.sources import SourceError, parse_source

    if args.path not in (None, "demo"):
        raise UsageError("give either PATH or --table, not both")
    try:
        sources = dict(parse_source(text) for text in args.table)
        engine, mapping = engine_of(args), read_mapping(args.mapping)
        return load_sources(engine, sources, mapping=mapping, build=args.command != "validate")
    except SourceError as error:
        raise UsageError(f"--table {error}") from None


def data_arguments(args: argparse.Namespace) -> str:
    """The options that name the data, to repeat in a hint."""
    engine = [f"--engine {args.engine}"] if args.engine != "duckdb" else []
    engine += [f"--master {args.master}"] if args.master else []
    named = [f"--table {text}" for text in args.table] or [str(args.path)]
    return " ".join(engine + ["validate"] + named)


def _check_engine_options(args: argparse.Namespace) -> None:
    if args.master and args.engine != "spark":
        raise UsageError("--master applies to --engine spark")


def engine_of(args: argparse.Namespace):
    """The engine asked for; --master only means something with --engine spark."""
    from analysis.engine.connection import EngineUnavailable, engine_named

    _check_engine_options(args)
    try:
        return engine_named(args.engine, args.master)
    except EngineUnavailable as error:
        raise UsageError(f"--engine {args.engine}: {error}") from None


def read_mapping(path: Path | None):
    """The saved mapping, or a usage error saying what is wrong with the file."""
    from analysis.ingest.mapping import Mapping, MappingError

    if path is None:
        return None
    try:
        return Mapping.from_json(path.read_bytes())
    except OSError as error:
        raise UsageError(f"--mapping: cannot read {path} ({error.strerror or error})") from None
    except MappingError as error:
        raise UsageError(f"--mapping {path}: {error}") from None


# ---------------------------------------------------------------------------------------------
# Commands


def run_validate(args: argparse.Namespace) -> int:
    report = load(args).report
    unusual = [f"read {file}: {how}" for file, how in report.read_as.items() if how != PLAIN_CSV]
    if unusual:  # said when a file was not plain UTF-8 CSV with commas
        print("\n".join(unusual))
        print()
    print("\n".join(report.summary_lines()))
    lines = report.finding_lines(None if args.all else FINDINGS_SHOWN)
    if lines:
        print()
        print("\n".join(lines))
    hidden = len(report.issues) - len(lines)
    if hidden:
        print(f"... and {hidden:,} more (use --all to list every finding)")
    return _honest_exit(report)


def _honest_exit(report) -> int:
    """1 when any row or value was excluded, set to missing or changed, or an error found (said on
    standard error); 0 when every value was used as written."""
    if report.used_as_written:
        return EXIT_OK
    print("exit status 1: " + _not_as_written(report.counts()), file=sys.stderr)
    return EXIT_DATA


def _not_as_written(counts: dict) -> str:
    from analysis.stats.suppression import how_many

    parts = [
        (counts["errors"], "error", ""),
        (counts["rows_excluded"], "row", " excluded"),
        (counts["values_set_missing"], "value", " set to missing"),
        (counts["values_changed"], "value", " changed"),
        (counts["files_ignored"], "file", " ignored"),
        (counts["columns_ignored"], "column", " ignored"),
    ]
    said = [how_many(count, noun) + words for count, noun, words in parts if count]
    return (", ".join(said) or "findings that change the data") + "; not every value was used as written"


def run_summary(args: argparse.Namespace) -> int:
    from analysis.outputs.summary import SummaryOptions, summarize

    result = load(args)
    report = result.report
    if result.cohort is None:
        print("\n".join(report.summary_lines() + [""] + report.finding_lines(FINDINGS_SHOWN)), file=sys.stderr)
        return EXIT_DATA
    if report.error_count + report.warning_count:
        from analysis.stats.suppression import how_many

        print(
            f"note: {how_many(report.error_count, 'error')} and {how_many(report.warning_count, 'warning')} "
            "in the input; "
            f"`python -m analysis {data_arguments(args)}` lists them",
            file=sys.stderr,
        )
    settings = _with_claim_set(_checked_settings(dict(args.set)), args.claims)
    options = SummaryOptions(group_by=_group_column(args.group_by, result.cohort), settings=settings)
    summary = json_ready(summarize(result.cohort, options, report))
    print(json.dumps(summary, indent=2, allow_nan=False) if args.json else "\n".join(text_lines(summary)))
    return _honest_exit(report) if args.strict else EXIT_OK


def _checked_settings(settings: dict) -> dict:
    """A --set the analysis cannot use (unknown claim, definition or threshold) is a usage error."""
    from analysis.areas.claims.compute import check_claim_settings
    from analysis.areas.measured import check_area_settings

    try:
        check_claim_settings(settings)
        check_area_settings(settings)
    except ValueError as error:
        raise UsageError(f"--set: {error}") from None
    return settings


def _with_claim_set(settings: dict, path: Path | None) -> dict:
    """The settings with the claim set of --claims; a file that cannot be used is a usage error naming the claim and field."""
    if path is None:
        return settings
    from analysis.areas.claims.compute import CLAIM_SET_KEY, ClaimSetError, load_claim_set

    try:
        claim_set = load_claim_set(path)
    except ClaimSetError as error:
        raise UsageError(f"--claims: {error}") from None
    return _checked_settings({**settings, CLAIM_SET_KEY: claim_set})


def _group_column(column: str | None, cohort) -> str | None:
    if column is None or column in cohort.courses.columns:
        return column
    choices = ", ".join(c for c in cohort.courses.columns if c != "course_idx")
    raise UsageError(f"--group-by: courses has no column {column!r}; choose one of: {choices}")


def run_report(args: argparse.Namespace) -> int:
    from analysis.outputs.report import build_report
    from analysis.outputs.slides import slides_html

    if args.slides and args.no_suppression:
        print("error: slides are for a room: they are always suppressed (leave out --no-suppression)", file=sys.stderr)
        return EXIT_USAGE
    result = load(args)
    if result.cohort is None:
        print(
            "\n".join(result.report.summary_lines() + [""] + result.report.finding_lines(FINDINGS_SHOWN)),
            file=sys.stderr,
        )
        return EXIT_DATA
    settings = _with_claim_set(_checked_settings(dict(args.set)), args.claims)
    html = (
        slides_html(result.cohort, settings, threshold=args.suppress_below)
        if args.slides
        else build_report(
            result.cohort,
            settings,
            "all courses (no filter)",
            suppress=not args.no_suppression,
            threshold=args.suppress_below,
            group_by=_group_column(args.group_by, result.cohort),
        )
    )
    try:
        args.out.write_text(html, encoding="utf-8")
    except OSError as error:
        print(f"error: could not write {args.out} ({error.strerror or error})", file=sys.stderr)
        return EXIT_DATA
    shared = (
        f"counts under {args.suppress_below} shown as '<{args.suppress_below}'"
        if not args.no_suppression
        else "private: small counts shown"
    )
    print(f"wrote {args.out} ({len(html.encode('utf-8')) / 1e6:.1f} MB; {shared})")
    return _honest_exit(result.report) if args.strict else EXIT_OK


def run_mapping(args: argparse.Namespace) -> int:
    from analysis.cohort.loading import BundleError, read_bundle
    from analysis.ingest.upload import plan_upload

    if not Path(args.path).exists():
        raise UsageError(f"no such file or folder: {args.path}")
    try:
        files, _ = read_bundle(Path(args.path))
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DATA
    plan = plan_upload(files, read_mapping(args.mapping))
    for sheet_plan in plan.sheets:
        tables = ", ".join(
            f"{m.table or 'not used'} ({m.format or 'proposed'}, {m.confidence:.0%} sure)" for m in sheet_plan.mappings
        )
        print(f"{sheet_plan.label}: {sheet_plan.sheet.detected()} -> {tables}", file=sys.stderr)
    for file, reason in plan.problems:
        print(f"{file}: {reason}", file=sys.stderr)
    text = plan.mapping.to_json()
    if args.out is None:
        print(text)
        return EXIT_OK
    try:
        args.out.write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        print(f"error: could not write {args.out} ({error.strerror or error})", file=sys.stderr)
        return EXIT_DATA
    print(f"wrote the mapping to {args.out}; check it, then use it with --mapping {args.out}", file=sys.stderr)
    return EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    from analysis.demo import write_demo

    chosen = {"n_courses": args.courses, "seed": args.seed}
    try:
        write_demo(args.out, **{name: value for name, value in chosen.items() if value is not None})
    except OSError as error:
        print(f"error: could not write to {args.out} ({error.strerror or error})", file=sys.stderr)
        return EXIT_DATA
    print(f"wrote a synthetic cohort to {args.out}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Output


def json_ready(value):
    """Plain JSON values: numpy and pandas scalars unwrapped, NaN and missing as null."""
    import numpy as np
    import pandas as pd

    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return json_ready(value.tolist())
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def text_lines(value, indent: int = 0) -> list[str]:
    """A nested summary as indented `key: value` lines; long lists are cut short."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item and not _scalars(item):
                lines += [f"{pad}{key}:", *text_lines(item, indent + 1)]
            else:
                lines.append(f"{pad}{key}: {_inline(item)}")
        return lines
    if isinstance(value, list):
        lines = []
        for item in value[:LIST_ITEMS_SHOWN]:
            block = text_lines(item, indent + 1)
            lines.append(f"{pad}- {block[0].strip()}" if block else f"{pad}-")
            lines += block[1:]
        if len(value) > LIST_ITEMS_SHOWN:
            lines.append(f"{pad}... and {len(value) - LIST_ITEMS_SHOWN} more")
        return lines
    return [f"{pad}{_inline(value)}"]


def _scalars(items) -> bool:
    return isinstance(items, list) and not any(isinstance(item, (dict, list)) for item in items)


def _inline(value) -> str:
    if isinstance(value, list):
        shown = ", ".join(_inline(item) for item in value[:LIST_ITEMS_SHOWN])
        return shown + (f", ... ({len(value)} in all)" if len(value) > LIST_ITEMS_SHOWN else "")
    if isinstance(value, dict):
        return "{}"
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
