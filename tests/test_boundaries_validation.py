"""The exclusion rules at their edges: each row read is kept or excluded once, under its first reason.

A value at either end of its range is kept, one past it is not; a row with two problems is counted
once; a reason that excluded no row is not listed.
"""

import numpy as np
import pyarrow as pa
import pytest
from csv_bundles import VALID_COURSES, VALID_VISITS, assert_counts_add_up, bundle, csv, findings

from analysis.cohort.loading import load_tables
from analysis.ingest.validation import RawTable


def load(files):
    result = load_tables(files, source="test")
    assert_counts_add_up(result.report)
    return result


def added_visits(*rows: str) -> list[dict]:
    """Day and IGA of the kept visits of P3 (who has none in VALID_VISITS) after adding `rows`, missing as None."""
    visits = load(bundle(visits=(*VALID_VISITS, *rows))).cohort.visits
    added = visits.loc[visits["patient_id"] == "P3", ["day", "iga"]].sort_values("day").astype(object)
    return added.where(added.notna(), None).to_dict("records")


# A column whose every cell is a number in range is typed by the reader; one unreadable cell beside
# the edge makes the column text, checked here: both ways must draw the same line.
BESIDE = {"alone": (), "beside an unreadable cell": ("P3,1,later,x,5",)}


@pytest.mark.parametrize("beside", BESIDE)
@pytest.mark.parametrize("day, kept", [(-366, False), (-365, True), (10950, True), (10951, False)])
def test_a_visit_day_at_either_end_of_its_range_is_kept(day, kept, beside):
    assert added_visits(f"P3,1,{day},3,5", *BESIDE[beside]) == ([{"day": day, "iga": 3}] if kept else [])


@pytest.mark.parametrize("iga, read", [(-1, None), (0, 0), (4, 4), (5, None)])
def test_an_iga_at_either_end_of_its_range_is_read(iga, read):
    # the visit on day 60 has iga x: the column is read as text, and x set to missing
    assert added_visits(f"P3,1,30,{iga},5", "P3,1,60,x,5") == [{"day": 30, "iga": read}, {"day": 60, "iga": None}]


def test_a_decimal_is_kept_in_a_number_column_and_refused_in_a_whole_number_one():
    header = "patient_id,course_number,sex,age,weight_kg"
    result = load({"courses.csv": csv(header, "P1,1,F,16.5,72.5", "P2,1.5,M,20,", "P3,1,M,adult,heavy")})
    courses = result.cohort.courses
    assert courses[["patient_id", "age", "weight_kg"]].astype(object).values.tolist() == [["P1", 16.5, 72.5]]
    assert result.report.excluded["courses.csv"] == {"invalid course_number": 1, "no valid age or age_band": 1}


def test_a_number_column_without_a_range_keeps_every_number():
    # lab values have no range: -2.5 is read; 'raised' is not a number and excludes its row
    files = bundle(labs=("P1,1,0,GLU,-2.5,mg/dL", "P1,1,30,GLU,raised,mg/dL"))
    result = load(files)
    assert result.cohort.labs["value"].tolist() == [-2.5]
    assert result.report.excluded["labs.csv"] == {"invalid value": 1}


def test_a_row_with_two_problems_is_counted_once_under_the_first():
    # sex X (checked with the cells) and age abc (checked after, with age_band): one row, one reason
    result = load(bundle(courses=(*VALID_COURSES, "P4,1,X,abc,60,3,120,")))
    assert result.report.excluded["courses.csv"] == {"invalid sex": 1}
    assert (result.report.rows_kept["courses.csv"], result.report.rows_excluded) == (3, 1)


def test_a_visit_already_excluded_is_not_reported_again_for_its_unknown_course():
    result = load(bundle(visits=(*VALID_VISITS, "P9,1,-1000,3,10")))
    assert findings(result.report, "visits.csv", 5).empty  # no row-level finding (the orphan one)
    assert len(findings(result.report, "visits.csv", 5, "day")) == 1
    assert result.report.excluded["visits.csv"] == {"invalid day": 1}


def test_a_reason_that_excluded_no_row_is_not_listed():
    # visits.csv lacks its day column and its only data line is malformed: no row is left to ignore
    files = bundle() | {"visits.csv": csv("patient_id,course_number,iga", "P1,1,3,9")}
    assert load(files).report.excluded["visits.csv"] == {"wrong number of values": 1}


def test_rows_read_counts_kept_candidates_malformed_lines_and_rows_a_mapping_left_out():
    raw = RawTable(
        table="visits",
        file="visits.csv",
        names=["patient_id"],
        columns=[pa.array(["P1", "P2"])],
        rows=np.array([2, 3]),
        malformed=[(4, 3, "P3,1,0")],
        pre_excluded={"not a visit": 5},
    )
    assert raw.rows_read == 2 + 1 + 5
