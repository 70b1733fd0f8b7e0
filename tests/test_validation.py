"""The validation policy, one kind of bad input at a time: what is reported (file, row, column) and what is done."""

import json
import time

import pandas as pd
import pytest
from csv_bundles import (
    COURSES_HEADER,
    VALID_COURSES,
    VALID_VISITS,
    VISITS_HEADER,
    assert_counts_add_up,
    bundle,
    csv,
    only_finding,
)

from analysis.cohort.loading import load_tables
from analysis.ingest.validation import (
    COLUMN_IGNORED,
    ERROR,
    FILE_IGNORED,
    NO_ACTION,
    NOT_LOADED,
    ROW_EXCLUDED,
    SET_MISSING,
    WARNING,
)


def load(files):
    result = load_tables(files, source="test")
    assert_counts_add_up(result.report)
    return result


def assert_finding(report, file, row, column, severity, action, *words):
    issue = only_finding(report, file, row, column)
    assert (issue["severity"], issue["action"]) == (severity, action)
    for word in words:
        assert word in issue["message"], issue["message"]
    return issue


def test_a_valid_bundle_has_no_findings_and_keeps_every_row():
    result = load(bundle())
    assert result.report.issues.empty and not result.report.has_errors
    assert result.cohort.row_counts() == {"courses": 3, "visits": 3, "adverse_events": 2, "labs": 2}
    assert result.report.summary_lines()[-1] == "No problems found."


def test_missing_required_column_in_courses_means_no_dataset():
    files = {"courses.csv": csv("patient_id,age", "P1,20")}
    result = load(files)
    assert result.cohort is None
    assert_finding(result.report, "courses.csv", None, None, ERROR, NOT_LOADED, "required column sex is missing")
    assert any("No data loaded" in line for line in result.report.summary_lines())


def test_courses_needs_age_or_age_band():
    result = load({"courses.csv": csv("patient_id,sex", "P1,F")})
    assert result.cohort is None
    assert_finding(result.report, "courses.csv", None, None, ERROR, NOT_LOADED, "age or age_band")


def test_missing_required_column_elsewhere_ignores_that_file_only():
    files = bundle() | {"visits.csv": csv("patient_id,course_number,iga", "P1,1,3", "P2,1,2")}
    result = load(files)
    assert_finding(result.report, "visits.csv", None, None, ERROR, FILE_IGNORED, "required column day is missing")
    assert result.cohort.row_counts()["visits"] == 0 and result.cohort.n_courses == 3
    assert result.report.excluded["visits.csv"] == {"file ignored (required column missing)": 2}


def test_wrong_type_in_a_required_column_excludes_the_row():
    result = load(bundle(courses=(*VALID_COURSES, "P4,1,F,abc,60,3,120,")))
    assert_finding(
        result.report, "courses.csv", 5, "age", ERROR, ROW_EXCLUDED, "age must be a number from 8 to 100; found abc"
    )
    assert result.cohort.n_courses == 3


@pytest.mark.parametrize("text, kept", [("2", True), ("2.0", True), ("2.5", False), ("two", False)])
def test_a_whole_number_may_be_written_with_a_zero_decimal(text, kept):
    result = load(bundle(courses=(*VALID_COURSES, f"P1,{text},F,17,50,4,150,")))
    assert (result.cohort.n_courses == 4) is kept
    if not kept:
        assert_finding(result.report, "courses.csv", 5, "course_number", ERROR, ROW_EXCLUDED, "whole number", text)


def test_iga_out_of_range_becomes_missing_and_the_visit_is_kept():
    result = load(bundle(visits=(*VALID_VISITS, "P2,1,30,7,5")))
    issue = assert_finding(result.report, "visits.csv", 5, "iga", WARNING, SET_MISSING)
    assert issue["message"] == "IGA must be a whole number from 0 to 4; found 7"
    assert issue["value"] == "7"
    visits = result.cohort.visits
    assert len(visits) == 4 and visits.loc[visits["day"] == 30, "iga"].isna().sum() == 1


def test_negative_lesion_count_becomes_missing():
    result = load(bundle(visits=(*VALID_VISITS, "P2,1,30,2,-4")))
    assert_finding(result.report, "visits.csv", 5, "inflammatory_lesions", WARNING, SET_MISSING, "from 0 to 2000", "-4")
    assert result.cohort.row_counts()["visits"] == 4


@pytest.mark.parametrize("age", ["3", "250"])
def test_implausible_age_without_age_band_excludes_the_course(age):
    result = load(bundle(courses=(*VALID_COURSES, f"P4,1,F,{age},60,3,120,")))
    assert_finding(result.report, "courses.csv", 5, "age", ERROR, ROW_EXCLUDED, f"found {age}")
    assert result.report.excluded["courses.csv"] == {"no valid age or age_band": 1}


def test_implausible_age_with_a_valid_age_band_only_loses_the_age():
    files = {"courses.csv": csv("patient_id,sex,age,age_band", "P1,F,250,35+", "P2,M,,18-24")}
    result = load(files)
    assert_finding(result.report, "courses.csv", 2, "age", WARNING, SET_MISSING, "found 250")
    assert result.cohort.courses["age_band"].tolist() == ["35+", "18-24"]


def test_course_without_age_or_age_band_is_excluded():
    result = load({"courses.csv": csv("patient_id,sex,age,age_band", "P1,F,,", "P2,M,20,")})
    assert_finding(result.report, "courses.csv", 2, "age", ERROR, ROW_EXCLUDED, "age or age_band is required")
    assert result.cohort.n_courses == 1


def test_implausible_weight_becomes_missing():
    result = load(bundle(courses=(*VALID_COURSES, "P4,1,F,30,5,3,120,")))
    assert_finding(result.report, "courses.csv", 5, "weight_kg", WARNING, SET_MISSING, "from 20 to 300; found 5")
    assert result.cohort.courses["weight_kg"].isna().sum() == 1 and result.cohort.n_courses == 4


def test_duplicate_course_key_keeps_the_first_and_names_both_rows():
    result = load(bundle(courses=(*VALID_COURSES, "P2,1,M,25,81,3,100,")))
    issue = assert_finding(result.report, "courses.csv", 5, None, ERROR, ROW_EXCLUDED, "patient P2", "row 3")
    assert issue["value"] == "P2"
    assert result.cohort.courses.loc[result.cohort.courses["patient_id"] == "P2", "age"].tolist() == [24.0]


def test_visit_of_an_unknown_course_is_excluded():
    result = load(bundle(visits=(*VALID_VISITS, "P9,1,0,3,10", "P1,2,0,3,10")))
    assert_finding(result.report, "visits.csv", 5, None, ERROR, ROW_EXCLUDED, "patient P9 is not in courses.csv")
    assert_finding(result.report, "visits.csv", 6, None, ERROR, ROW_EXCLUDED, "course 2 of patient P1")
    assert result.report.excluded["visits.csv"] == {"course not loaded": 2}


def test_rows_of_an_excluded_course_say_so():
    result = load(bundle(courses=(*VALID_COURSES, "P4,1,X,30,60,3,120,"), visits=(*VALID_VISITS, "P4,1,0,3,10")))
    assert_finding(result.report, "visits.csv", 5, None, ERROR, ROW_EXCLUDED, "was excluded from courses.csv")


def test_day_before_the_plausible_range_excludes_the_row():
    result = load(bundle(visits=(*VALID_VISITS, "P2,1,-1000,3,10")))
    assert_finding(result.report, "visits.csv", 5, "day", ERROR, ROW_EXCLUDED, "from -365 to 10950; found -1000")
    assert result.cohort.row_counts()["visits"] == 3


def test_end_day_below_zero_becomes_missing():
    result = load(bundle(courses=(*VALID_COURSES, "P4,1,F,30,60,3,-5,")))
    assert_finding(result.report, "courses.csv", 5, "end_day", WARNING, SET_MISSING, "found -5")


@pytest.mark.parametrize("table", ["courses", "visits"])
def test_empty_file(table):
    result = load(bundle() | {f"{table}.csv": b""})
    severity, action = (ERROR, NOT_LOADED) if table == "courses" else (WARNING, NO_ACTION)
    assert_finding(result.report, f"{table}.csv", None, None, severity, action, "empty")
    assert (result.cohort is None) is (table == "courses")


@pytest.mark.parametrize("table", ["courses", "labs"])
def test_header_only_file(table):
    files = bundle() | {f"{table}.csv": bundle()[f"{table}.csv"].split(b"\n")[0] + b"\n"}
    result = load(files)
    severity, action = (ERROR, NOT_LOADED) if table == "courses" else (WARNING, NO_ACTION)
    assert_finding(result.report, f"{table}.csv", None, None, severity, action, "no data rows")
    assert (result.cohort is None) is (table == "courses")


def test_a_course_file_with_no_valid_row_means_no_dataset():
    result = load(bundle(courses=("P1,1,X,30,60,3,120,",)))
    assert result.cohort is None
    assert_finding(result.report, "courses.csv", None, None, ERROR, NOT_LOADED, "no course row is valid")
    assert result.report.excluded["visits.csv"] == {"dataset not loaded": 3}


def test_line_with_wrong_number_of_values_is_excluded():
    result = load(bundle(visits=(*VALID_VISITS, "P2,1,30", "P2,1,60,2,5")))
    issue = assert_finding(result.report, "visits.csv", 5, None, ERROR, ROW_EXCLUDED, "expected 5 values", "found 3")
    assert issue["value"] == "P2,1,30"
    assert result.cohort.row_counts()["visits"] == 4


def test_empty_row_is_excluded_with_a_warning():
    result = load(bundle(visits=(VALID_VISITS[0], ",,,,", VALID_VISITS[1])))
    assert_finding(result.report, "visits.csv", 3, None, WARNING, ROW_EXCLUDED, "empty row")
    assert result.report.excluded["visits.csv"] == {"empty row": 1}


def test_required_cell_left_empty_excludes_the_row():
    result = load(bundle(courses=(*VALID_COURSES, ",1,F,30,60,3,120,")))
    assert_finding(result.report, "courses.csv", 5, "patient_id", ERROR, ROW_EXCLUDED, "patient_id is empty")


def test_categories_match_in_any_letter_case_and_common_spellings():
    files = {
        "courses.csv": csv(
            "patient_id,sex,age,end_reason,can_become_pregnant",
            "P1,f,20,Completed,Yes",
            "P2, MALE ,30,ADVERSE_EVENT,n",
            "P3,Other,40,,TRUE",
            "P4,F,40,,1",
        )
    }
    courses = load(files).cohort.courses
    assert courses["sex"].tolist() == ["F", "M", "other", "F"]
    assert courses["end_reason"].tolist()[:2] == ["completed", "adverse_event"]
    assert courses["can_become_pregnant"].tolist() == ["yes", "no", "yes", "yes"]


def test_value_not_in_an_optional_category_becomes_missing():
    result = load({"courses.csv": csv("patient_id,sex,age,end_reason", "P1,F,20,bored")})
    assert_finding(result.report, "courses.csv", 2, "end_reason", WARNING, SET_MISSING, "one of completed")


def test_dates_must_exist():
    result = load({"courses.csv": csv("patient_id,sex,age,start_date", "P1,F,20,2021-02-30", "P2,F,20,2021-02-03")})
    assert_finding(result.report, "courses.csv", 2, "start_date", WARNING, SET_MISSING, "YYYY-MM-DD")
    assert result.cohort.courses["start_date"].tolist()[1] == pd.Timestamp("2021-02-03")


def test_course_number_defaults_to_one():
    files = {"courses.csv": csv("patient_id,sex,age", "P1,F,20"), "visits.csv": csv("patient_id,day,iga", "P1,0,3")}
    result = load(files)
    assert result.cohort.courses["course_number"].tolist() == [1]
    assert result.cohort.visits["course_idx"].tolist() == [0]
    result = load(bundle(courses=("P1,,F,16,50,4,150,",), visits=("P1,,0,4,30",), adverse_events=None, labs=None))
    assert result.report.issues.empty and result.cohort.visits["course_idx"].tolist() == [0]


def test_resolved_before_onset_becomes_missing():
    result = load(bundle(adverse_events=("P1,1,dry lips,10,4",)))
    assert_finding(
        result.report,
        "adverse_events.csv",
        2,
        "resolved_day",
        WARNING,
        SET_MISSING,
        "resolved_day (4) is before onset_day (10)",
    )
    assert result.cohort.adverse_events["resolved_day"].isna().all()


def test_relapse_before_the_end_of_the_course_is_kept_with_a_warning():
    result = load(bundle(courses=(*VALID_COURSES, "P4,1,F,30,60,3,120,50")))
    assert_finding(result.report, "courses.csv", 5, "relapse_day", WARNING, NO_ACTION, "before end_day", "kept")
    assert result.cohort.courses["relapse_day"].tolist()[-1] == 50


def test_unknown_columns_are_custom_fields_in_courses_and_ignored_elsewhere():
    files = bundle() | {
        "courses.csv": csv(COURSES_HEADER + ",arm", *(row + ",A" for row in VALID_COURSES)),
        "visits.csv": csv(VISITS_HEADER + ",note", *(row + ",x" for row in VALID_VISITS)),
    }
    result = load(files)
    assert result.cohort.custom_columns == ("arm",)
    assert_finding(result.report, "visits.csv", None, "note", WARNING, COLUMN_IGNORED)
    assert "note" not in result.cohort.visits


def test_custom_column_may_not_take_a_derived_name():
    files = {"courses.csv": csv("patient_id,sex,age,duration_days", "P1,F,20,99")}
    result = load(files)
    assert_finding(result.report, "courses.csv", None, "duration_days", WARNING, COLUMN_IGNORED)


def test_repeated_column_keeps_the_first():
    result = load({"courses.csv": csv("patient_id,sex,age,age", "P1,F,20,30")})
    assert_finding(result.report, "courses.csv", None, "age", WARNING, COLUMN_IGNORED, "more than once")
    assert result.cohort.courses["age"].tolist() == [20.0]


def test_header_names_match_in_any_letter_case():
    result = load({"courses.csv": csv(" Patient_ID ,SEX,Age", "P1,F,20")})
    assert result.report.issues.empty and result.cohort.courses["patient_id"].tolist() == ["P1"]


def test_common_missing_value_markers_are_missing():
    result = load(bundle(visits=("P1,1,0,NA,30", "P1,1,30,,  ", "P2,1,0,N/A,null")))
    assert result.report.issues.empty
    assert result.cohort.visits["iga"].isna().sum() == 3


def test_loaded_tables_have_the_cohort_dtypes():
    from analysis.cohort.model import COMPACT_TEXT, empty_table

    result = load(bundle(courses=("P1,1,F,16,50,4,150,",), visits=("P1,1,0,4,30",)))
    for name in ("courses", "visits", "adverse_events", "labs"):
        expected = empty_table(name).dtypes
        expected[expected.index.isin(COMPACT_TEXT[name])] = "category"  # repeated text (analysis.cohort.model)
        if (
            name == "labs" and "harmonised" in result.cohort.labs
        ):  # converted once at load (analysis.ingest.lab_harmonisation)
            expected = expected.drop(["test", "unit", "value", "lower_limit", "upper_limit"])
        if name != "courses" and len(
            result.cohort.table(name)
        ):  # codes into the courses' patients (analysis.cohort.model)
            assert isinstance(result.cohort.table(name)["patient_id"].dtype, pd.CategoricalDtype)
            expected = expected.drop(["patient_id"])
        actual = result.cohort.table(name)[expected.index].dtypes
        assert actual.astype(str).tolist() == expected.astype(str).tolist(), name


def test_summary_lines_say_what_was_read_kept_and_excluded():
    result = load(bundle(courses=(*VALID_COURSES, "P4,1,X,30,60,3,120,", "P2,1,M,25,81,3,100,")))
    lines = result.report.summary_lines()
    assert lines[0] == "courses.csv: 5 rows read, 3 kept, 2 excluded (1 invalid sex, 1 duplicate course)."
    assert lines[-1] == "2 errors and 0 warnings."


def test_summary_line_of_a_one_row_file_says_row():
    lines = load(bundle(courses=("P1,1,F,16,50,4,150,",), visits=("P1,1,0,4,30",))).report.summary_lines()
    assert lines[0] == "courses.csv: 1 row read, 1 kept."


def test_report_as_dict_is_json_ready():
    result = load(bundle(visits=(*VALID_VISITS, "P2,1,30,7,5")))
    as_dict = json.loads(json.dumps(result.report.to_dict()))
    assert as_dict["warning_count"] == 1 and as_dict["files"]["visits.csv"]["rows_kept"] == 4
    assert as_dict["issues"][0] | {"message": None} == {
        "severity": "warning",
        "file": "visits.csv",
        "row": 5,
        "column": "iga",
        "value": "7",
        "message": None,
        "action": SET_MISSING,
    }


def test_findings_are_listed_by_file_then_row():
    result = load(bundle(courses=(*VALID_COURSES, "P4,1,X,30,60,3,120,"), visits=("P1,1,0,9,30", "P1,1,1,8,30")))
    lines = result.report.finding_lines()
    assert [line.split(" ")[0] for line in lines] == ["courses.csv:5", "visits.csv:2", "visits.csv:3"]
    assert lines[0] == "courses.csv:5 sex: sex must be one of F, M, other, unknown; found X [error; row excluded]"


def test_a_million_bad_cells_stay_cheap():
    rows = 200_000
    visits = csv(VISITS_HEADER, *(f"P1,1,{day % 300},9,-1" for day in range(rows)))
    started = time.perf_counter()
    result = load(bundle() | {"visits.csv": visits})
    elapsed = time.perf_counter() - started
    assert result.report.warning_count == 2 * rows and result.cohort.row_counts()["visits"] == rows
    assert elapsed < 20, f"{elapsed:.1f}s for {2 * rows:,} findings"
    assert len(result.report.finding_lines(limit=10)) == 10
