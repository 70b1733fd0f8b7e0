"""Snapshot of every output, to prove that a change of code left the results unchanged.

Run by hand before and after a change that must not change behaviour, then compare the folders:

    .venv/bin/python benchmarks/snapshot.py --out /tmp/before
    ... change the code ...
    .venv/bin/python benchmarks/snapshot.py --out /tmp/after
    diff -r /tmp/before /tmp/after && echo identical

It writes the JSON summary (every area and every claim) of the demo, of the demo grouped by sex, of a
generated 10,000-course cohort whole and filtered (sex = F; age band 18-24 and 25-34), and of the CDISC
pilot loaded as a user would; the HTML report of the demo, shared (suppressed) and private, with its
time stamp blanked; and the JSON specification of every figure the app draws, plain and suppressed,
on the demo and on the filtered 10,000-course cohort.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

CDISC_PILOT = ROOT.parent / "shared" / "external" / "cdisc_pilot"
FILTERS = {"sex_F": {"sex": ("F",)}, "age_18_34": {"age_band": ("18-24", "25-34")}}
TIME_STAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?( ?UTC|Z|[+-]\d\d:?\d\d)?")


def cli_output(*argv: str) -> str:
    from analysis.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(list(argv))
    return f"exit {status}\n{out.getvalue()}"


def summary_json(cohort) -> str:
    from analysis.cli import json_ready
    from analysis.outputs.summary import summarize

    return json.dumps(json_ready(summarize(cohort)), indent=2, allow_nan=False)


def figures_json(cohort) -> str:
    from test_chart_suppression import figure_builders

    specs = {}
    for name, build in figure_builders(cohort).items():
        specs[name] = json.loads(build().to_json())
        specs[f"{name} (suppressed below 5)"] = json.loads(build(suppress_below=5).to_json())
    return json.dumps(specs, indent=1, sort_keys=True)


def write(out: Path, name: str, text: str) -> None:
    (out / name).write_text(text, encoding="utf-8")
    print(f"{name}: {len(text):,} characters", file=sys.stderr)


def snapshot(out: Path, work: Path) -> None:
    from analysis.cohort.filters import FilterSpec, apply_filters
    from analysis.cohort.loading import load_bundle, load_demo

    write(out, "summary_demo.json", cli_output("summary", "demo", "--json"))
    write(out, "summary_demo_by_sex.json", cli_output("summary", "demo", "--json", "--group-by", "sex"))
    if CDISC_PILOT.exists():
        write(out, "summary_cdisc_pilot.json", cli_output("summary", str(CDISC_PILOT), "--json"))
    for suppressed in (True, False):
        report = work / "report.html"
        cli_output("report", "demo", "--out", str(report), *(() if suppressed else ("--no-suppression",)))
        name = "report_demo_shared.html" if suppressed else "report_demo_private.html"
        write(out, name, TIME_STAMP.sub("<time>", report.read_text(encoding="utf-8")))
    write(out, "figures_demo.json", figures_json(load_demo().cohort))

    bundle = work / "cohort10k"
    cli_output("demo", "--courses", "10000", "--seed", "7", "--out", str(bundle))
    cohort = load_bundle(bundle, source="10,000 courses").cohort
    write(out, "summary_10k.json", summary_json(cohort))
    for name, values in FILTERS.items():
        filtered = apply_filters(cohort, FilterSpec(values=values))
        write(out, f"summary_10k_{name}.json", summary_json(filtered))
    write(out, "figures_10k_sex_F.json", figures_json(apply_filters(cohort, FilterSpec(values=FILTERS["sex_F"]))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the snapshot files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        snapshot(args.out, Path(work))


if __name__ == "__main__":
    main()
