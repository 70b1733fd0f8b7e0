"""REDCap exports, Excel workbooks, Parquet files and the messy acne N-of-1 files, end to end."""

import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from csv_bundles import assert_counts_add_up, only_finding, workbook

from analysis.cohort.loading import load_bundle, load_tables
from analysis.ingest.upload import plan_upload

EXTERNAL = Path(__file__).resolve().parents[2] / "shared" / "external"
REDCAP = """record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,sex,age,start_date,visit_date,iga,inflammatory_lesions,ae_term,ae_onset_date,ae_serious
1,baseline_arm_1,,,2,17,2021-01-04,2021-01-04,4,35,,,
1,month_1_arm_1,,,,,,2021-02-03,3,20,,,
1,month_1_arm_1,adverse_events,1,,,,,,,Dry lips,2021-01-20,0
1,month_1_arm_1,adverse_events,2,,,,,,,Nosebleed,2021-01-25,0
2,baseline_arm_1,,,1,24,2021-03-01,2021-03-01,3,18,,,
2,month_3_arm_1,,,,,,2021-06-01,1,3,,,
"""
DICTIONARY = """"Variable / Field Name","Form Name","Field Type","Field Label","Choices, Calculations, OR Slider Labels"
record_id,demographics,text,Record ID,
sex,demographics,radio,Sex,"1, Male | 2, Female"
ae_serious,adverse_events,yesno,Serious,"1, Yes | 0, No"
"""


def test_a_redcap_export_splits_into_courses_visits_and_repeating_instruments():
    result = load_tables({"export.csv": REDCAP.encode(), "dictionary.csv": DICTIONARY.encode()}, "REDCap")
    report = result.report
    assert report.rows_read == {"export.csv (courses)": 2, "export.csv (visits)": 4, "export.csv (adverse_events)": 2}
    assert report.error_count == 0 and report.warning_count == 0
    courses = result.cohort.courses.set_index("patient_id")
    assert courses["sex"].to_dict() == {"1": "F", "2": "M"}  # coded 2 = Female, 1 = Male in the dictionary
    visits = result.cohort.visits
    assert list(zip(visits["patient_id"], visits["day"], visits["visit"], visits["iga"])) == [
        ("1", 0, "Baseline", 4),
        ("1", 30, "Month 1", 3),
        ("2", 0, "Baseline", 3),
        ("2", 92, "Month 3", 1),
    ]
    events = result.cohort.adverse_events
    assert list(zip(events["term"], events["onset_day"], events["serious"])) == [
        ("Dry lips", 16, "no"),
        ("Nosebleed", 21, "no"),
    ]
    notes = report.issues[report.issues["severity"] == "note"]["message"]
    assert notes.str.contains("REDCap export").any() and notes.str.contains("data dictionary").any()
    assert_counts_add_up(report)


def test_without_dates_visit_days_come_from_the_event_names():
    export = REDCAP.replace("visit_date", "visit_note")
    result = load_tables({"export.csv": export.encode()}, "REDCap")
    assert result.cohort.visits["day"].tolist() == [0, 30, 0, 91]  # month 1 = 30 days, month 3 = 91


def test_without_the_dictionary_coded_sex_is_proposed_for_checking():
    plan = plan_upload({"export.csv": REDCAP.encode()})
    courses = next(m for m in plan.sheets[0].mappings if m.table == "courses")
    assert courses.columns["sex"].values == {"1": "M", "2": "F"}
    assert "check" in courses.columns["sex"].reason and courses.columns["sex"].confidence <= 0.5


def test_an_excel_workbook_with_one_sheet_per_table_loads():
    book = workbook(
        {
            "Courses": pd.DataFrame({"patient_id": ["A", "B"], "sex": ["F", "M"], "age": [17, 24]}),
            "Visits": pd.DataFrame({"patient_id": ["A", "A", "B"], "day": [0, 90, 0], "iga": [4, 1, 3]}),
            "Read me": pd.DataFrame({"about": ["exported from the clinic system"]}),
        }
    )
    result = load_tables({"clinic.xlsx": book}, "clinic")
    assert result.cohort.row_counts()["visits"] == 3
    assert result.report.rows_read == {"clinic.xlsx [Courses]": 2, "clinic.xlsx [Visits]": 3}
    assert only_finding(result.report, "clinic.xlsx [Read me]")["action"] == "file ignored"
    assert result.report.read_as["clinic.xlsx [Courses]"] == "Excel"


def test_a_non_canonical_excel_sheet_is_mapped_like_a_csv():
    frame = pd.DataFrame(
        {
            "Patient ID": ["A", "B"],
            "Gender": ["female", "male"],
            "Age": [17, 24],
            "Start": pd.to_datetime(["2021-01-04", "2021-03-01"]),
        }
    )
    result = load_tables({"export.xlsx": workbook({"Sheet1": frame})}, "export")
    courses = result.cohort.courses
    assert courses["sex"].tolist() == ["F", "M"] and courses["start_date"].dt.day.tolist() == [4, 1]


def test_parquet_files_load():
    buffer = io.BytesIO()
    pq.write_table(pa.table({"patient_id": ["A", "B"], "sex": ["F", "M"], "age": [17.0, 24.0]}), buffer)
    result = load_tables({"courses.parquet": buffer.getvalue()}, "parquet")
    assert result.cohort.n_courses == 2 and result.report.read_as["courses.parquet"] == "Parquet"


def test_the_acne_n_of_1_folder_is_refused_with_precise_messages():
    folder = EXTERNAL / "acne_nof1_hialab"
    if not folder.exists():
        pytest.skip(f"the acne N-of-1 data is not at {folder}")
    result = load_bundle(folder)
    report = result.report
    assert result.cohort is None
    assert not report.issues["message"].str.contains("internal error").any()
    for name in ("metadata.csv", "scores-scaled-combined.csv", "scores_unscaled_combined.csv"):
        issue = only_finding(report, name)
        assert "could not tell which table" in issue["message"] and "Intervention (Boolean)" in issue["message"]
    missing = only_finding(report, "courses.csv")["message"]
    assert "patient_id, sex and age" in missing and "metadata.csv: not used" in missing
    assert only_finding(report, "README.md")["severity"] == "note"
