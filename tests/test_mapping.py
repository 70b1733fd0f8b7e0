"""Column mapping: proposals with confidence, value maps, dates to days, wide to long, saved mappings."""

import json

import pandas as pd
import pytest
from csv_bundles import assert_counts_add_up, only_finding

from analysis import cli
from analysis.cohort.loading import load_bundle, load_tables
from analysis.ingest.mapping import (
    COURSE_EVENTS,
    NOT_USED,
    ColumnRule,
    FileMapping,
    Mapping,
    MappingError,
    detect_date_format,
    guess_table,
    mapping_rows,
    name_match,
    propose_file,
    propose_values,
    value_rows,
    with_edits,
    with_value_edits,
)
from analysis.ingest.readers import read_file
from analysis.ingest.upload import plan_upload
from analysis.ingest.vocabulary import SHARED

EXPORT = (
    "Patient ID;Gender;Age (years);Weight;Start of treatment;Arm\n"
    "A01;female;17;55,5 kg;03/02/2021;x\nA02;male;22;80;15/03/2021;y\nA03;f;30;61 kg;01/04/2021;x\n"
)
VISITS = (
    "pid,visit date,IGA,Inflammatory lesions\nA01,03/02/2021,severe,30\nA01,04/05/2021,mild,12\n"
    "A02,15/03/2021,moderate,20\nA02,2021-06-14,almost clear,4\nA03,01/04/2021,clear,0\n"
)


def sheet(text: str, name: str = "export.csv"):
    return read_file(name, text.encode())[0]


def load(files: dict[str, str], **kwargs):
    result = load_tables({name: text.encode() for name, text in files.items()}, source="test", **kwargs)
    assert_counts_add_up(result.report)
    return result


@pytest.mark.parametrize(
    "name, confidence",
    [
        ("patient_id", 1.0),
        ("Patient ID", 1.0),
        ("PATIENT-ID", 1.0),
        ("pid", 0.95),
        ("subject", 0.95),
        ("USUBJID", 0.95),
        ("Subject Id", 0.95),
        ("record_id", 0.95),
        ("patient identifier code", 0.75),
        ("patiant id", 0.65),
    ],
)
def test_names_of_the_patient_column_and_how_sure(name, confidence):
    assert name_match(name, "patient_id", SHARED["patient_id"])[0] == confidence


def test_unrelated_names_do_not_match():
    assert name_match("temperature", "patient_id", SHARED["patient_id"]) is None


@pytest.mark.parametrize(
    "text, name, table",
    [
        (EXPORT, "export.csv", "courses"),
        (VISITS, "v.csv", "visits"),
        ("subject,adverse event,onset date\nP1,dry lips,2021-01-20\n", "x.csv", "adverse_events"),
        ("patient,test,result,units\nP1,ALT,33,U/L\n", "x.csv", "labs"),
        ("patient,value\nP1,3\n", "bloods.csv", "labs"),
    ],
)
def test_the_table_is_recognised_with_a_confidence_and_a_reason(text, name, table):
    found, confidence, reason = guess_table(sheet(text, name))
    assert found == table and 0.5 <= confidence < 1 and reason


def test_a_file_that_is_no_table_is_said_so():
    found, confidence, reason = guess_table(sheet("temperature,humidity\n20,50\n"))
    assert found == "" and confidence == 0 and "temperature" in reason


def test_the_proposal_maps_every_column_it_knows_and_keeps_the_rest():
    mapping = propose_file(sheet(EXPORT))[0]
    assert mapping.table == "courses"
    sources = {target: rule.source for target, rule in mapping.columns.items()}
    assert sources == {
        "patient_id": "Patient ID",
        "sex": "Gender",
        "age": "Age (years)",
        "weight_kg": "Weight",
        "start_date": "Start of treatment",
    }
    start = mapping.columns["start_date"]
    assert (start.transform, start.date_format) == ("date", "%d/%m/%Y")
    rows = mapping_rows(mapping, sheet(EXPORT)).set_index("column")
    assert rows.loc["Arm", "becomes"] == "(keep as your own column)"
    assert rows.loc["Gender", "confidence"] == 0.95 and "usual name" in rows.loc["Gender", "why"]


def test_a_non_canonical_export_loads_with_values_units_and_dates_converted():
    result = load({"export.csv": EXPORT, "clinic visits.csv": VISITS})
    courses = result.cohort.courses.set_index("patient_id")
    assert courses["sex"].tolist() == ["F", "M", "F"]
    assert courses["weight_kg"].tolist() == [55.5, 80.0, 61.0]
    assert courses["start_date"].dt.strftime("%Y-%m-%d").tolist() == ["2021-02-03", "2021-03-15", "2021-04-01"]
    assert result.cohort.custom_columns == ("Arm",)
    visits = result.cohort.visits
    assert visits["iga"].tolist() == [4, 2, 3, 1, 0]
    assert visits["day"].tolist() == [0, 90, 0, 91, 0]  # 3 Feb -> 4 May 2021; 15 Mar -> 14 Jun (ISO in the same column)
    assert "units" not in result.report.issues["message"].str.cat()
    note = only_finding(result.report, "export.csv", None, "weight_kg")
    assert note["severity"] == "note" and "unit" in note["message"]


def test_a_canonical_file_with_its_course_column_named_otherwise_keeps_the_courses_apart():
    """'course' rather than course_number: left at its default of 1, a patient's second course would be refused as a duplicate."""
    courses = "patient_id,course,sex,age\nP1,1,F,17\nP1,2,F,19\nP2,1,M,30\n"
    visits = "patient_id,Course,day,iga\nP1,1,0,3\nP1,2,0,4\nP1,2,90,1\n"
    result = load({"courses.csv": courses, "visits.csv": visits})
    assert result.report.error_count == 0
    assert sorted(result.cohort.courses["course_number"].tolist()) == [1, 1, 2]
    second = result.cohort.visits[
        (result.cohort.visits["patient_id"] == "P1") & (result.cohort.visits["course_number"] == 2)
    ]
    assert second["iga"].tolist() == [4, 1]


@pytest.mark.parametrize(
    "values, expected, note",
    [
        (["1", "2"], {"1": "M", "2": "F"}, "ISO 5218"),
        (["female", "Male", "w", "unknown"], {"female": "F", "Male": "M", "w": "F"}, ""),
        (["F", "M"], {}, ""),
    ],
)
def test_sex_value_maps(values, expected, note):
    import pyarrow as pa

    proposed, said = propose_values("courses", "sex", pa.array(values))
    assert {k: v for k, v in proposed.items() if k != "unknown"} == expected
    assert note in said


def test_iga_words_yes_no_variants_and_lab_names_are_translated():
    import pyarrow as pa

    assert propose_values("visits", "iga", pa.array(["Clear", "almost clear", "Mild", "moderate", "SEVERE", "2"]))[
        0
    ] == {"Clear": "0", "almost clear": "1", "Mild": "2", "moderate": "3", "SEVERE": "4"}
    assert propose_values("courses", "can_become_pregnant", pa.array(["ja", "nein", "yes", "X"]))[0] == {
        "ja": "yes",
        "nein": "no",
        "X": "yes",
    }
    assert propose_values("labs", "test", pa.array(["SGPT", "Cholesterol", "1742-6", "ALT", "Ferritin"]))[0] == {
        "SGPT": "ALT",
        "Cholesterol": "TC",
        "1742-6": "ALT",
    }


def test_coded_sex_is_proposed_with_low_confidence_for_the_user_to_check():
    mapping = propose_file(sheet("pid,sex,age\nP1,1,20\nP2,2,30\n"))[0]
    rule = mapping.columns["sex"]
    assert rule.values == {"1": "M", "2": "F"} and rule.confidence <= 0.5 and "check" in rule.reason


@pytest.mark.parametrize(
    "dates, fmt, ambiguous",
    [
        (["2021-03-04", "2021-12-31"], "%Y-%m-%d", False),
        (["04/03/2021", "31/12/2021"], "%d/%m/%Y", False),
        (["03/04/2021", "12/31/2021"], "%m/%d/%Y", False),
        (["04/03/2021", "05/06/2021"], "%d/%m/%Y", True),
        (["04.03.2021", "31.12.2021"], "%d.%m.%Y", False),
        (["4 Mar 2021", "31 Dec 2021"], "%d %b %Y", False),
        (["2021-03-04T10:30:00", "2021-12-31 08:00"], "%Y-%m-%d", False),
    ],
)
def test_date_formats_are_detected(dates, fmt, ambiguous):
    import pyarrow as pa

    assert detect_date_format(pa.array(dates)) == (fmt, ambiguous)


def test_dates_need_the_course_start_and_bad_dates_are_named():
    visits = "pid,visit date,IGA\nA01,03/02/2021,4\nA01,31/02/2021,3\nA09,01/03/2021,2\n"
    result = load({"export.csv": EXPORT, "visits.csv": visits})
    bad = only_finding(result.report, "visits.csv", 3, "day")
    assert bad["value"] == "31/02/2021" and "not a date in the column's format (DD/MM/YYYY" in bad["message"]
    unknown = only_finding(result.report, "visits.csv", 4, "day")
    assert "without the course's start_date" in unknown["message"]
    assert result.report.excluded["visits.csv"] == {"date not understood": 1, "no course start date": 1}
    assert result.cohort.visits["day"].tolist() == [0]


def test_end_date_becomes_end_day_and_a_duration_becomes_the_last_day():
    courses = "pid,sex,age,start date,end date\nP1,F,20,2021-01-01,2021-06-30\n"
    assert load({"c.csv": courses}).cohort.courses["end_day"].tolist() == [180]
    courses = "pid,sex,age,treatment duration\nP1,F,20,181\n"
    assert load({"c.csv": courses}).cohort.courses["end_day"].tolist() == [180]


def test_a_wide_layout_becomes_one_visit_per_time_point():
    wide = (
        "Patient ID,Sex,Age,IGA_baseline,iga_m3,IGA month 6,lesions_w0,lesions_w12,notes\n"
        "A1,F,17,4,2,1,40,12,x\nA2,M,25,3,,0,30,,y\n"
    )
    mappings = propose_file(sheet(wide))
    assert [m.table for m in mappings] == ["courses", "visits"]
    assert {(w.source, w.target, w.day) for w in mappings[1].wide} == {
        ("IGA_baseline", "iga", 0),
        ("iga_m3", "iga", 91),
        ("IGA month 6", "iga", 183),
        ("lesions_w0", "total_lesions", 0),
        ("lesions_w12", "total_lesions", 84),
    }
    result = load({"trial.csv": wide})
    visits = result.cohort.visits.sort_values(["patient_id", "day"])
    assert list(zip(visits["patient_id"], visits["day"], visits["iga"], visits["total_lesions"])) == [
        ("A1", 0, 4, 40),
        ("A1", 84, pd.NA, 12),
        ("A1", 91, 2, pd.NA),
        ("A1", 183, 1, pd.NA),
        ("A2", 0, 3, 30),
        ("A2", 183, 0, pd.NA),
    ]
    assert result.cohort.custom_columns == ("notes",)
    assert result.report.rows_read == {"trial.csv (courses)": 2, "trial.csv (visits)": 6}


def test_numbers_with_another_unit_are_reported_not_guessed():
    result = load({"c.csv": "pid,sex,age,weight\nP1,F,20,150 lb\nP2,M,30,70 kg\n"})
    issue = only_finding(result.report, "c.csv", 2, "weight_kg")
    assert issue["value"] == "150 lb" and issue["action"] == "value set to missing"
    assert result.cohort.courses["weight_kg"].tolist()[1] == 70


def test_editing_the_mapping_changes_what_is_loaded():
    data = sheet("code,gender,years,clinic\nA,F,20,North\nB,M,30,South\n", "c.csv")
    proposed = propose_file(data, "courses")[0]
    assert "age" not in proposed.columns
    edited = with_edits(proposed, data, {"code": "patient_id", "gender": "sex", "years": "age", "clinic": NOT_USED})
    assert edited.columns["age"].source == "years" and "clinic" in edited.ignore
    values = value_rows(edited, data)
    assert set(values["column"]) == {"sex"}
    values.loc[values["value as written"] == "M", "becomes"] = "other"
    edited = with_value_edits(edited, values)
    result = load_tables({"c.csv": data.data}, source="t", mapping=Mapping([edited]))
    assert result.cohort.courses["sex"].tolist() == ["F", "other"] and "clinic" not in result.cohort.courses


def test_a_saved_mapping_round_trips_and_maps_the_same_export_again(tmp_path):
    files = {"export.csv": EXPORT.encode(), "clinic visits.csv": VISITS.encode()}
    plan = plan_upload(files)
    text = plan.mapping.to_json()
    assert json.loads(text)["version"] == 1
    saved = Mapping.from_json(text)
    assert saved.to_json() == text
    first = load_tables(files, "a")
    again = load_tables(files, "b", mapping=saved)
    assert again.cohort.fingerprint == first.cohort.fingerprint
    assert again.cohort.row_counts() == first.cohort.row_counts()
    renamed = load_tables({"export (2).csv": EXPORT.encode(), "visits-march.csv": VISITS.encode()}, "c", mapping=saved)
    assert renamed.cohort.row_counts() == first.cohort.row_counts()  # matched by columns when names differ


def test_a_saved_mapping_overrides_the_proposal():
    data = EXPORT.encode()
    mapping = Mapping(
        [
            FileMapping(
                "export.csv",
                None,
                "courses",
                {
                    "patient_id": ColumnRule(source="Patient ID"),
                    "sex": ColumnRule(source="Gender", values={"female": "F", "f": "F", "male": "other"}),
                    "age": ColumnRule(source="Age (years)"),
                },
                keep_other_columns=False,
            )
        ]
    )
    result = load_tables({"export.csv": data}, "t", mapping=mapping)
    assert result.cohort.courses["sex"].tolist() == ["F", "other", "F"]
    assert result.cohort.custom_columns == ()


@pytest.mark.parametrize(
    "text, words",
    [
        ("not json", "not valid JSON"),
        ('{"files": 3}', "needs a list 'files'"),
        ('{"files": [{"table": "courses"}]}', "'file' name"),
        ('{"files": [{"file": "a.csv", "table": "patients"}]}', "table must be one of"),
        (
            '{"files": [{"file": "a.csv", "table": "courses", "columns": {"age": {"source": "x", "transform": "magic"}}}]}',
            "unknown transform",
        ),
        ('{"version": 9, "files": []}', "version 9"),
    ],
)
def test_a_bad_mapping_file_is_refused_with_the_reason(text, words):
    with pytest.raises(MappingError, match=words):
        Mapping.from_json(text)


def test_the_command_line_accepts_a_mapping_file(tmp_path, capsys):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "export.csv").write_text(EXPORT)
    (folder / "clinic visits.csv").write_text(VISITS)
    mapping_file = tmp_path / "mapping.json"
    assert cli.main(["mapping", str(folder), "--out", str(mapping_file)]) == 0
    text = mapping_file.read_text()
    edited = json.loads(text)
    courses = next(entry for entry in edited["files"] if entry["table"] == "courses")
    courses["columns"]["sex"]["values"] = {"female": "F", "f": "F", "male": "unknown"}
    mapping_file.write_text(json.dumps(edited))
    capsys.readouterr()
    assert cli.main(["summary", str(folder), "--json", "--mapping", str(mapping_file)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cohort"]["courses"] == 3 and summary["cohort"]["rows"]["visits"] == 5
    assert load_bundle(folder, mapping=Mapping.from_json(mapping_file.read_text())).cohort.courses["sex"].tolist() == [
        "F",
        "unknown",
        "F",
    ]
    assert cli.main(["validate", str(folder), "--mapping", str(mapping_file)]) == 0
    assert "read export.csv: CSV, UTF-8, semicolon-separated" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("{")
    assert cli.main(["summary", str(folder), "--mapping", str(tmp_path / "bad.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert cli.main(["summary", "demo", "--mapping", str(mapping_file)]) == 2


def test_course_events_are_a_table_choice():
    assert COURSE_EVENTS == "course_events"
    mapping = propose_file(sheet("USUBJID,AVAL,CNSR\nA,3,0\n"), COURSE_EVENTS)[0]
    assert mapping.table == COURSE_EVENTS
