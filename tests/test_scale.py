"""What makes the dashboard fast at a million courses must not change a number: the integer-key
join, results shared through the cohort's memo, results of a filtered cohort cut from the whole
cohort's, lab units converted once at load, and charts and tables that stay small.

Timing is never asserted here; `benchmarks/run.py` measures it.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from engine_values import values_of

from analysis.areas.charts import plain_title
from analysis.areas.labs import compute as labs
from analysis.areas.labs.figures import edish_figure
from analysis.areas.side_effects import compute as side_effects
from analysis.cohort.filters import FilterSpec, apply_filters
from analysis.cohort.loading import load_demo, load_tables
from analysis.cohort.model import build_cohort, course_positions
from analysis.engine.derivations import month
from analysis.ingest.keys import CourseKeys
from analysis.ingest.lab_units import harmonise
from analysis.ingest.progress import reporting_stages
from analysis.outputs.summary import summarize
from tests.conftest import tiny_tables

FILTERS = [
    FilterSpec(values={"sex": ("F",)}),
    FilterSpec(values={"age_band": ("18-24",), "site": ("North",)}),
    FilterSpec(values={"course_number": (2,)}),
]


@pytest.fixture(scope="module")
def demo():
    return load_demo().cohort


def merged_course_idx(courses: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """The course of each row by a merge on the text key, as the cohort was first built."""
    keys = courses[["patient_id", "course_number"]].assign(course_idx=courses["course_idx"])
    return table[["patient_id", "course_number"]].merge(keys, on=["patient_id", "course_number"], how="left")[
        "course_idx"
    ]


def test_integer_key_join_matches_a_merge_on_patient_and_course_number(demo):
    for name in ("visits", "adverse_events", "labs"):
        table = demo.table(name)
        expected = merged_course_idx(demo.courses, table).astype("Int64").to_numpy()
        assert np.array_equal(table["course_idx"].astype("Int64").to_numpy(), expected), name


def test_every_row_points_at_its_own_course(demo):
    courses = demo.courses.set_index("course_idx")
    for name in ("visits", "adverse_events", "labs"):
        table = demo.table(name)
        owner = courses.loc[table["course_idx"].to_numpy(dtype=np.int64)]
        assert (owner["patient_id"].to_numpy() == table["patient_id"].to_numpy()).all()
        assert (owner["course_number"].to_numpy() == table["course_number"].to_numpy()).all()


def test_unknown_and_repeated_course_keys():
    courses = pd.DataFrame({"patient_id": ["A", "A", "B", "A"], "course_number": pd.array([1, 2, 1, 1], dtype="Int64")})
    rows = pd.DataFrame(
        {"patient_id": ["A", "B", "C", "B", None], "course_number": pd.array([1, 1, 1, 2, 1], dtype="Int64")}
    )
    # A/1 is repeated: the first row answers; C/1 and B/2 are not courses; a missing patient matches nothing.
    assert course_positions(courses, rows).tolist() == [0, 2, -1, -1, -1]


def test_course_keys_read_arrow_and_pandas_text_alike():
    keys = CourseKeys(pa.array(["A", "B", "A", "C"]).dictionary_encode(), pa.array([1, 1, 2, 1]))
    patients, numbers = ["B", "A", "C", "A", "D", None], [1, 2, 2, 1, 1, 1]
    expected = [1, 2, -1, 0, -1, -1]
    for given in (
        pa.array(patients),
        pa.array(patients).dictionary_encode(),
        pd.Series(patients, dtype="object"),
        pd.Series(patients, dtype="category"),
        pd.Series(patients, dtype="string"),
    ):
        assert keys.positions(given, np.array(numbers)).tolist() == expected
    assert keys.patients.tolist() == ["A", "B", "C"]


def test_missing_course_numbers_match_missing_ones_and_fractions_match_none():
    keys = CourseKeys(pd.Series(["A", "A", "B"]), pd.Series([None, 1, 2], dtype="Int64"))
    numbers = pd.Series([None, 1.0, 1.5, 3, "2", "x"], dtype="object")
    assert keys.positions(pd.Series(["A", "A", "A", "A", "B", "B"]), numbers).tolist() == [0, 1, -1, -1, 2, -1]
    # numbers as patient ids (a hand-made table) are looked up as their text
    assert CourseKeys(pd.Series([7, 8]), pd.Series([1, 1])).positions(pd.Series(["8", 7]), np.ones(2)).tolist() == [
        1,
        0,
    ]


def test_derived_visit_columns_are_those_of_a_stable_sort_by_course_and_day():
    cohort = build_cohort(tiny_tables(), source="tiny")
    visits = cohort.visits
    assert visits.index.equals(pd.RangeIndex(len(visits)))
    order = visits[["course_idx", "day"]].astype("float")
    assert order.equals(order.sort_values(["course_idx", "day"], kind="stable"))
    assert visits["month"].tolist() == values_of(month, visits["day"].tolist(), "Int64")
    assert values_of(month, [-46, -45, -15, 15, 16, 45, 46, None], "Int64")[:7] == [
        -2,
        -1,
        0,
        0,
        1,
        1,
        2,
    ]


def test_the_memo_shares_a_result_until_a_table_is_replaced(demo):
    first = labs.lab_data(demo)
    assert labs.lab_data(demo) is first
    assert side_effects.event_data(demo) is side_effects.event_data(demo)
    copy = replace(demo, labs=demo.labs.copy())
    assert labs.lab_data(copy) is not first
    shared = labs.lab_data(copy)
    copy.labs = copy.labs.copy()  # a table replaced in place: never answered from the old entry
    assert labs.lab_data(copy) is not shared


@pytest.mark.parametrize("spec", FILTERS, ids=lambda spec: spec.describe())
def test_a_filtered_cohort_cut_from_the_whole_gives_the_same_numbers(demo, spec):
    summarize(demo)  # the whole cohort's results, as the app has them when a filter changes
    cut = apply_filters(demo, spec)
    fresh = replace(cut)  # the same rows, with nothing to restrict from
    cut_data, fresh_data = labs.lab_data(cut), labs.lab_data(fresh)
    assert cut_data is not fresh_data
    for name in ("baselines", "courses", "excluded", "conversions"):
        pd.testing.assert_frame_equal(getattr(cut_data, name), getattr(fresh_data, name), check_exact=True)
    as_text = {"test": lambda frame: frame["test"].astype(str)}
    pd.testing.assert_frame_equal(cut_data.labs.assign(**as_text), fresh_data.labs.assign(**as_text), check_exact=True)
    pd.testing.assert_frame_equal(labs.monitoring_flags(cut_data), labs.monitoring_flags(fresh_data), check_exact=True)
    assert json.dumps(summarize(cut), default=str, sort_keys=True) == json.dumps(
        summarize(fresh), default=str, sort_keys=True
    )


def test_labs_are_harmonised_once_at_load(demo):
    assert "harmonised" in demo.labs and "unit_as_given" in demo.labs
    raw = demo.labs[["patient_id", "course_number", "day", "visit", "course_idx", "month"]].assign(
        **{
            column: demo.labs[f"{column}_as_given"]
            for column in ("test", "unit", "value", "lower_limit", "upper_limit")
        }
    )
    harmonised_here = labs.analyse(replace(demo, labs=harmonise(raw)[0]))
    loaded = labs.analyse(demo)
    for name in ("trend", "new_abnormal", "grades", "ranges", "compliance", "pregnancy"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(harmonised_here, name), check_exact=True)
    pd.testing.assert_frame_equal(loaded.data.conversions, harmonised_here.data.conversions, check_exact=True)


def test_lab_units_that_cannot_be_converted_are_findings_of_the_validation_report():
    courses = "patient_id,course_number,sex,age\nP1,1,F,20\n"
    lab_rows = "patient_id,course_number,day,test,value,unit\nP1,1,0,ALT,30,U/L\nP1,1,30,ALT,3,furlongs\n"
    result = load_tables({"courses.csv": courses.encode(), "labs.csv": lab_rows.encode()}, source="test")
    issue = result.report.issues[result.report.issues["column"] == "unit"]
    assert len(issue) == 1
    assert (issue["file"].iloc[0], int(issue["row"].iloc[0]), issue["severity"].iloc[0]) == ("labs.csv", 3, "error")
    assert "furlongs" in issue["message"].iloc[0]
    assert result.cohort.labs["harmonised"].tolist() == [True, False]
    assert labs.lab_data(result.cohort).excluded["rows"].sum() == 1


def test_loading_announces_its_stages():
    heard = []
    with reporting_stages(heard.append):
        load_demo()
    assert heard[:2] == ["Reading the files", "Checking every value"]
    assert any("lab" in stage for stage in heard) and any("Linking" in stage for stage in heard)


def test_edish_draws_a_sample_at_most_and_says_so():
    rng = np.random.default_rng(1)
    n = 30_000
    alt, bili = rng.lognormal(0, 1.2, n), rng.lognormal(-0.5, 0.9, n)
    points = pd.DataFrame(
        {
            "course_idx": np.arange(n),
            "alt_uln": alt,
            "bili_uln": bili,
            "label": "x",
            "quadrant": labs.edish_quadrant(alt, bili),
        }
    )
    assert (points["quadrant"] != "normal").sum() > 5_000  # more outside the normal quadrant than can be drawn
    fig = edish_figure(points, max_points=5_000)
    drawn = sum(len(trace.x) for trace in fig.data)
    assert drawn == 5_000
    hys_law = next(trace for trace in fig.data if plain_title(trace.name) == labs.EDISH_QUADRANTS["hys_law"])
    assert len(hys_law.x) == (points["quadrant"] == "hys_law").sum()  # every possible Hy's law case is kept
    assert "5,000 drawn at random" in plain_title(fig.layout.title.text)


def test_a_reopened_bundle_is_the_cohort_and_report_it_was(tmp_path):
    from analysis.cohort.cache import load_bundle_cached
    from analysis.cohort.loading import DEMO_DIR

    first = load_bundle_cached(DEMO_DIR, tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1
    again = load_bundle_cached(DEMO_DIR, tmp_path / "cache")
    for name in ("courses", "visits", "adverse_events", "labs"):
        pd.testing.assert_frame_equal(first.cohort.table(name), again.cohort.table(name), check_exact=True)
    pd.testing.assert_frame_equal(first.report.issues, again.report.issues, check_exact=True)
    assert first.report.summary_lines() == again.report.summary_lines()
    assert (first.cohort.fingerprint, first.cohort.custom_columns) == (
        again.cohort.fingerprint,
        again.cohort.custom_columns,
    )


def test_changed_files_are_never_answered_from_the_parquet_copy(tmp_path):
    from analysis.cohort.cache import load_bundle_cached
    from analysis.cohort.loading import DEMO_DIR

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("courses.csv", "visits.csv"):
        (bundle / name).write_bytes((DEMO_DIR / name).read_bytes())
    before = load_bundle_cached(bundle, tmp_path / "cache").cohort
    lines = (bundle / "courses.csv").read_text().splitlines()
    (bundle / "courses.csv").write_text("\n".join(lines[:-10]) + "\n")
    after = load_bundle_cached(bundle, tmp_path / "cache").cohort
    assert after.n_courses == before.n_courses - 10


def test_the_same_filters_give_the_same_filtered_cohort_and_only_the_last_few_are_kept(demo):
    from analysis.cohort.filters import FILTERED_KEPT, filter_choices, filtered

    assert filter_choices(demo) is filter_choices(demo)
    assert filtered(demo, FilterSpec()) is demo
    women = filtered(demo, FILTERS[0])
    assert filtered(demo, FILTERS[0]) is women
    assert women.courses["sex"].eq("F").all()
    for spec in FILTERS[1:]:
        filtered(demo, spec)
    assert FILTERED_KEPT < len(FILTERS) and filtered(demo, FILTERS[0]) is not women


def test_long_tables_are_shown_a_page_at_a_time():
    from streamlit.testing.v1 import AppTest

    def page():
        import pandas as pd

        from ui.page import show_table

        show_table(pd.DataFrame({"course": range(2_500)}), hide_index=True)

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 1_000 and at.dataframe[0].value["course"].iloc[0] == 0
    assert "Rows 1-1,000 of 2,500" in at.caption[0].value
    assert at.number_input[0].label == "Page (of 3)"
    at.number_input[0].set_value(3).run()
    assert at.dataframe[0].value["course"].tolist() == list(range(2_000, 2_500))
    assert "Rows 2,001-2,500 of 2,500" in at.caption[0].value
