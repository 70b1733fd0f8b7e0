"""The whole JSON summary (every area, every claim) is the same on DuckDB, on Spark, and as recorded
before the cohort's derived fields moved to the engine (`data/summaries_before_engine`, written by
`benchmarks/snapshot.py` at the commit before the move).

The summaries are identical, number for number. The comparison (`same_summary`) sorts differences
into those within 1e-9 relative (a sum of floating-point numbers may differ in its last bits between
engines) and the rest, so that a failure says which kind appeared; today neither kind is allowed.

Spark runs on `local[2]`, one session for the test run (the `spark` fixture of conftest.py).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from same_summary import differences

from analysis.cli import json_ready
from analysis.cohort.filters import FilterSpec, apply_filters
from analysis.cohort.loading import load_bundle, load_demo
from analysis.demo import write_demo
from analysis.engine.connection import duckdb_engine
from analysis.outputs.summary import SummaryOptions, summarize

RECORDED = Path(__file__).parent / "data" / "summaries_before_engine"
CDISC_PILOT = Path(__file__).resolve().parent.parent.parent / "shared" / "external" / "cdisc_pilot"
FILTERS = {"whole": None, "sex_F": {"sex": ("F",)}, "age_18_34": {"age_band": ("18-24", "25-34")}}


def recorded(name: str) -> dict:
    with gzip.open(RECORDED / f"summary_{name}.json.gz", "rt", encoding="utf-8") as file:
        return json.load(file)


def summary_of(cohort, group_by: str | None = None, report=None) -> dict:
    """The summary as the command line prints it with --json (with its validation section when the
    load's report is given), read back."""
    summary = summarize(cohort, SummaryOptions(group_by=group_by), report)
    return json.loads(json.dumps(json_ready(summary), allow_nan=False))


def assert_same(before: dict, after: dict) -> None:
    close, beyond = differences(before, after)
    assert not beyond, f"{len(beyond)} differences, e.g. {beyond[:5]}"
    assert not close, f"within 1e-9 relative but not identical: {close[:5]}"


@pytest.fixture(scope="session")
def bundle_10k(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cohort10k")
    write_demo(folder, n_courses=10_000, seed=7)
    return folder


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_demo_summary_whole_and_by_sex(engine_name, request):
    engine = duckdb_engine() if engine_name == "duckdb" else request.getfixturevalue("spark")
    loaded = load_demo(engine)
    assert_same(recorded("demo"), summary_of(loaded.cohort, report=loaded.report))
    assert_same(recorded("demo_by_sex"), summary_of(loaded.cohort, group_by="sex", report=loaded.report))


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_10000_courses_whole_and_filtered(engine_name, bundle_10k, request):
    engine = duckdb_engine() if engine_name == "duckdb" else request.getfixturevalue("spark")
    cohort = load_bundle(bundle_10k, source="10,000 courses", engine=engine).cohort
    for name, values in FILTERS.items():
        shown = cohort if values is None else apply_filters(cohort, FilterSpec(values=values))
        assert_same(recorded("10k" if values is None else f"10k_{name}"), summary_of(shown))


@pytest.mark.skipif(not CDISC_PILOT.exists(), reason="../shared/external/cdisc_pilot is not beside the project")
@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_cdisc_pilot_reproductions(engine_name, request):
    engine = duckdb_engine() if engine_name == "duckdb" else request.getfixturevalue("spark")
    loaded = load_bundle(CDISC_PILOT, engine=engine)
    assert_same(recorded("cdisc_pilot"), summary_of(loaded.cohort, report=loaded.report))
