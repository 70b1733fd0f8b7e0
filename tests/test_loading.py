"""Loading bundles: folders, zips, encodings, row numbers as the user counts them, the demo."""

import io
import zipfile

import pytest
from csv_bundles import (
    AE_HEADER,
    COURSES_HEADER,
    LABS_HEADER,
    VALID_COURSES,
    VALID_VISITS,
    VISITS_HEADER,
    assert_counts_add_up,
    bundle,
    csv,
    findings,
    only_finding,
)

from analysis.cohort import loading
from analysis.cohort.loading import DEMO_SOURCE, LoadResult, load_bundle, load_demo, load_tables
from analysis.ingest.validation import ERROR, FILE_IGNORED, NOT_LOADED, NOTE, SET_MISSING, WARNING

# One bundle holding every kind of bad input, and where each must be reported: (file, row, column).
BAD_COURSES = (
    *VALID_COURSES,
    "P4,1,F,3,60,3,120,",  # row 5: age 3, no age_band
    "P5,1,F,250,60,3,120,",  # row 6: age 250
    "P6,1,F,30,5,3,120,",  # row 7: weight 5 (kept, weight missing)
    "P2,1,M,24,80,3,100,",  # row 8: duplicate of row 3
    "P7,1,Q,30,60,3,120,",  # row 9: sex not allowed
    "P8,1,F,30,60,3,120,",  # row 10: valid
)
BAD_VISITS = (
    *VALID_VISITS,
    "P1,1,60,7,10",  # row 5: IGA 7 (kept, IGA missing)
    "P1,1,90,2,-3",  # row 6: negative lesions (kept)
    "P9,1,0,3,10",  # row 7: no such course
    "P1,1,-1000,3,10",  # row 8: day before -365
    "P8,1,abc,3,10",  # row 9: day not a number
    "P8,1,0,3,10",  # row 10: valid
)
EXPECTED = [
    ("courses.csv", 5, "age", ERROR),
    ("courses.csv", 6, "age", ERROR),
    ("courses.csv", 7, "weight_kg", WARNING),
    ("courses.csv", 8, None, ERROR),
    ("courses.csv", 9, "sex", ERROR),
    ("visits.csv", 5, "iga", WARNING),
    ("visits.csv", 6, "inflammatory_lesions", WARNING),
    ("visits.csv", 7, None, ERROR),
    ("visits.csv", 8, "day", ERROR),
    ("visits.csv", 9, "day", ERROR),
    ("adverse_events.csv", None, None, WARNING),  # empty file
    ("labs.csv", None, None, WARNING),  # header only
]


def write_bad_bundle(folder):
    folder.mkdir(exist_ok=True)
    (folder / "courses.csv").write_bytes(csv(COURSES_HEADER, *BAD_COURSES))
    (folder / "visits.csv").write_bytes(csv(VISITS_HEADER, *BAD_VISITS))
    (folder / "adverse_events.csv").write_bytes(b"")
    (folder / "labs.csv").write_bytes(csv(LABS_HEADER))
    return folder


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_folder_with_every_kind_of_problem_names_each_and_keeps_exactly_the_valid_rows(tmp_path):
    result = load_bundle(write_bad_bundle(tmp_path / "clinic"))
    report = result.report
    for file, row, column, severity in EXPECTED:
        assert only_finding(report, file, row, column)["severity"] == severity
    assert len(report.issues) == len(EXPECTED)
    assert result.cohort.n_courses == 3 + 2  # P1-P3, P6 (weight dropped) and P8
    assert result.cohort.row_counts()["visits"] == 3 + 2 + 1  # valid, IGA 7, negative lesions, P8
    assert report.rows_read == {"courses.csv": 9, "visits.csv": 9, "adverse_events.csv": 0, "labs.csv": 0}
    assert report.excluded["courses.csv"] == {"no valid age or age_band": 2, "invalid sex": 1, "duplicate course": 1}
    assert report.excluded["visits.csv"] == {"invalid day": 2, "course not loaded": 1}
    assert result.cohort.source == "clinic"
    assert_counts_add_up(report)


def test_a_zip_bundle_loads_like_the_folder(tmp_path):
    folder = write_bad_bundle(tmp_path / "clinic")
    files = {f"export/{path.name}": path.read_bytes() for path in folder.iterdir()}
    files["__MACOSX/export/._courses.csv"] = b"\x00\x01junk"
    (tmp_path / "clinic.zip").write_bytes(zipped(files))
    from_zip, from_folder = load_bundle(tmp_path / "clinic.zip"), load_bundle(folder)
    assert from_zip.cohort.source == "clinic.zip"
    assert from_zip.cohort.row_counts() == from_folder.cohort.row_counts()
    assert from_zip.cohort.fingerprint == from_folder.cohort.fingerprint
    assert from_zip.report.issues.equals(from_folder.report.issues)


def test_an_uploaded_zip_goes_through_load_tables():
    result = load_tables({"upload.zip": zipped(bundle())}, source="upload")
    assert result.ok and result.cohort.row_counts()["visits"] == 3


@pytest.mark.parametrize("data", [b"PK\x03\x04 not really a zip", b"", b"\x00" * 100])
def test_a_bad_zip_is_reported_not_raised(tmp_path, data):
    (tmp_path / "bad.zip").write_bytes(data)
    result = load_bundle(tmp_path / "bad.zip")
    assert result.cohort is None
    issue = only_finding(result.report, "bad.zip")
    assert (issue["severity"], issue["action"]) == (ERROR, FILE_IGNORED)
    assert "not a readable zip archive" in issue["message"]
    assert only_finding(result.report, "courses.csv")["action"] == NOT_LOADED


def test_a_missing_path_is_reported(tmp_path):
    result = load_bundle(tmp_path / "nowhere")
    assert result.cohort is None and "there is no file or folder" in result.report.issues["message"].iloc[0]


def test_file_names_match_in_any_letter_case_and_other_files_are_reported(tmp_path):
    (tmp_path / "Courses.CSV").write_bytes(bundle()["courses.csv"])
    (tmp_path / "VISITS.csv").write_bytes(bundle()["visits.csv"])
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    result = load_bundle(tmp_path)
    assert result.cohort.row_counts()["visits"] == 3
    issue = only_finding(result.report, "notes.txt")
    assert (issue["severity"], issue["action"]) == (WARNING, FILE_IGNORED)
    assert len(result.report.issues) == 1


def test_a_single_courses_file_is_a_bundle(tmp_path):
    path = tmp_path / "courses.csv"
    path.write_bytes(bundle()["courses.csv"])
    assert load_bundle(path).cohort.n_courses == 3


def test_row_numbers_count_quoted_multi_line_cells_as_one_row():
    files = bundle(
        adverse_events=(
            'P1,1,"dry lips,\nthen cracked\nlips",10,40',  # row 2 spans three lines
            "P2,1,headache,5,",  # row 3
            'P2,1,"rash\n",-999,',  # row 4: onset out of range
            "P1,1,nosebleed,12,3",  # row 5: resolved before onset
        )
    )
    result = load_tables(files, source="test")
    only_finding(result.report, "adverse_events.csv", 4, "onset_day")
    only_finding(result.report, "adverse_events.csv", 5, "resolved_day")
    terms = result.cohort.adverse_events["term"].tolist()
    assert terms[0] == "dry lips,\nthen cracked\nlips"


def test_row_numbers_count_blank_and_malformed_lines():
    visits = csv(VISITS_HEADER, VALID_VISITS[0], "", "P1,1,40", "P1,1,50,3,10,extra", VALID_VISITS[1], "P1,1,60,9,10")
    result = load_tables(bundle() | {"visits.csv": visits}, source="test")
    assert only_finding(result.report, "visits.csv", 3)["message"] == "empty row"
    assert "found 3" in only_finding(result.report, "visits.csv", 4)["message"]
    assert "found 6" in only_finding(result.report, "visits.csv", 5)["message"]
    assert only_finding(result.report, "visits.csv", 7, "iga")["action"] == SET_MISSING
    assert_counts_add_up(result.report)


def test_semicolon_separated_files_with_decimal_commas_are_read():
    files = {"courses.csv": b"patient_id;sex;age;weight_kg\nP1;F;20;60,5\n"}
    result = load_tables(files, source="test")
    assert result.cohort.courses["sex"].tolist() == ["F"]
    assert result.cohort.courses["weight_kg"].tolist() == [60.5]
    note = only_finding(result.report, "courses.csv")
    assert note["severity"] == NOTE and "decimal commas" in note["message"] and "weight_kg" in note["message"]
    assert "semicolon-separated" in result.report.read_as["courses.csv"]


def test_windows_1252_text_is_read_with_a_warning():
    files = {"courses.csv": "patient_id,sex,age,site\nP1,F,20,Zürich\n".encode("cp1252")}
    result = load_tables(files, source="test")
    assert result.cohort.courses["site"].tolist() == ["Zürich"]
    assert "not UTF-8" in only_finding(result.report, "courses.csv")["message"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_byte_order_marks_are_understood(encoding):
    files = {"courses.csv": "patient_id,sex,age\nP1,F,20\n".encode(encoding)}
    result = load_tables(files, source="test")
    assert result.report.issues.empty and result.cohort.courses["patient_id"].tolist() == ["P1"]


@pytest.mark.parametrize(
    "data, words",
    [
        (b"PAR1\x00\x00", "Parquet"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image"),
        (b"\x00\x01\x02binary", "binary"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ".xls"),
    ],
)
def test_binary_files_are_named_as_such(data, words):
    result = load_tables({"courses.csv": data}, source="test")
    assert result.cohort is None and words in only_finding(result.report, "courses.csv")["message"]


def test_a_zip_named_like_a_csv_is_opened_as_the_zip_it_is():
    result = load_tables({"courses.csv": zipped(bundle())}, source="test")
    assert result.ok and result.cohort.row_counts()["visits"] == 3


def test_an_unclosed_quote_is_reported():
    files = bundle(visits=(*VALID_VISITS, 'P1,1,"40,3,10', "P1,1,50,3,10"))
    result = load_tables(files, source="test")
    assert result.ok and result.report.has_errors
    assert_counts_add_up(result.report)


def test_identifiers_keep_their_leading_zeros():
    result = load_tables({"courses.csv": csv("patient_id,sex,age", "007,F,20")}, source="test")
    assert result.cohort.courses["patient_id"].tolist() == ["007"]


def test_fingerprint_is_the_sha256_of_the_tables_and_ignores_order_and_name_case():
    files = bundle()
    fingerprint = load_tables(files, source="a").cohort.fingerprint
    assert len(fingerprint) == 64
    reordered = {name.upper(): files[name] for name in reversed(list(files))}
    assert load_tables(reordered, source="b").cohort.fingerprint == fingerprint
    changed = files | {"labs.csv": files["labs.csv"] + b"P1,1,30,ALT,31,U/L\n"}
    assert load_tables(changed, source="a").cohort.fingerprint != fingerprint


@pytest.mark.parametrize("step", ["plan_upload", "validate_tables"])  # before the user's mapping, and after it
def test_a_defect_is_reported_as_an_internal_error_not_raised(monkeypatch, step):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(loading, step, broken)
    result = load_tables(bundle(), source="test")
    assert isinstance(result, LoadResult) and result.cohort is None
    last = result.report.issues.iloc[-1]
    assert last["message"] == "internal error while loading (RuntimeError: boom); please report it"
    assert last["action"] == NOT_LOADED


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    demo = pytest.importorskip("analysis.demo")
    folder = tmp_path_factory.mktemp("demo")
    demo.write_demo(folder, n_courses=300, seed=3)
    (folder / "README.md").write_text("How this synthetic cohort was made.")
    return folder


def test_the_demo_loads_without_findings_about_its_readme(demo_dir, monkeypatch):
    monkeypatch.setattr(loading, "DEMO_DIR", demo_dir)
    result = load_demo()
    assert result.report.issues.empty, result.report.finding_lines(10)
    assert result.cohort.synthetic and result.cohort.source == DEMO_SOURCE
    assert result.cohort.n_courses == 300


def test_loading_the_demo_reproduces_the_generated_tables(demo_dir):
    from analysis.demo import generate_cohort

    generated = generate_cohort(300, seed=3)
    loaded = load_bundle(demo_dir).cohort
    for name, table in generated.items():
        assert len(loaded.table(name)) == len(table), name
    assert loaded.courses["patient_id"].tolist() == generated["courses"]["patient_id"].tolist()


def test_without_the_demo_files_the_app_gets_a_report(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "DEMO_DIR", tmp_path / "missing")
    result = load_demo()
    assert result.cohort is None and result.report.has_errors


def test_adverse_event_and_lab_files_alone_report_the_missing_courses():
    result = load_tables({"adverse_events.csv": csv(AE_HEADER, "P1,1,acne,3,")}, source="test")
    assert result.cohort is None
    assert "the file is missing" in only_finding(result.report, "courses.csv")["message"]
    assert result.report.excluded["adverse_events.csv"] == {"dataset not loaded": 1}
    assert findings(result.report, "adverse_events.csv").empty
