"""Reading uploads: encodings, delimiters, decimal commas, Excel, Parquet, archives, messy headers."""

import codecs
import gzip
import io
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.ingest.readers import ReadError, decode, expand_archives, read_file, sniff_delimiter
from analysis.ingest.validation import parse_column
from analysis.schema import SPECS

EXTERNAL = Path(__file__).resolve().parents[2] / "shared" / "external"
TEXT = "patient_id,sex,age,site\nP1,F,20,Zürich\nP2,M,31,Malmö\n"


def one(name: str, data: bytes):
    sheets = read_file(name, data)
    assert len(sheets) == 1
    return sheets[0]


def values(sheet, column: str) -> list:
    return sheet.column(column).to_pylist()


@pytest.mark.parametrize(
    "encoding, said",
    [
        ("utf-8", "UTF-8"),
        ("utf-8-sig", "UTF-8 with byte order mark"),
        ("utf-16", "UTF-16"),
        ("utf-16-le", "UTF-16 (no byte order mark)"),
        ("utf-16-be", "UTF-16 (no byte order mark)"),
        ("cp1252", "Windows-1252"),
    ],
)
def test_each_encoding_is_detected_and_said(encoding, said):
    sheet = one("courses.csv", TEXT.encode(encoding))
    assert sheet.encoding == said
    assert values(sheet, "site") == ["Zürich", "Malmö"]
    assert sheet.names == ["patient_id", "sex", "age", "site"]
    assert said in sheet.detected()


def test_windows_1252_is_flagged_so_the_user_checks_accents():
    sheet = one("x.csv", "name;ville\nA;Besançon\n".encode("cp1252"))
    assert sheet.notes and "Windows-1252" in sheet.notes[0]


def test_bytes_windows_1252_leaves_undefined_are_read_as_latin_1():
    _, label, notes = decode(b"a,b\n1,\x81\x8d\n")
    assert label == "Latin-1" and "Latin-1" in notes[0]


@pytest.mark.parametrize("delimiter, name", [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "vertical bar")])
def test_the_delimiter_is_sniffed_and_said(delimiter, name):
    text = TEXT.replace(",", delimiter)
    sheet = one("courses.txt", text.encode())
    assert sheet.delimiter == delimiter and values(sheet, "age") == ["20", "31"]
    assert f"{name}-separated" in sheet.detected()


def test_quoted_delimiters_do_not_fool_the_sniffer():
    text = 'term;onset_day\n"dry lips, cracked";3\n"nose, bleeding";5\n'
    assert sniff_delimiter(text.encode()) == ";"


def test_decimal_commas_become_points_only_in_number_columns():
    text = "patient_id;weight_kg;dose;note\nP1;60,5;1.000,25;dry, cracked lips\nP2;71;20;x\n"
    sheet = one("c.csv", text.encode())
    assert sheet.decimal_comma
    assert values(sheet, "weight_kg") == ["60.5", "71"]
    assert values(sheet, "dose") == ["1000.25", "20"]
    assert values(sheet, "note") == ["dry, cracked lips", "x"]
    assert "weight_kg" in sheet.info[0] and "dose" in sheet.info[0]


def test_a_comma_separated_file_keeps_its_commas():
    sheet = one("c.csv", b'id,value\nA,"1,5"\n')
    assert not sheet.decimal_comma and values(sheet, "value") == ["1,5"]


def test_line_breaks_in_headers_and_crlf_endings_are_tidied():
    sheet = one("m.csv", b'Id,"Intervention\r\n(Boolean)"\r\n1,TRUE\r\n2,True \r\n')
    assert sheet.names == ["Id", "Intervention (Boolean)"]
    assert sheet.rows.tolist() == [2, 3]  # a spreadsheet shows the two-line header as one row
    assert values(sheet, "Intervention (Boolean)") == ["TRUE", "True "]


def test_a_missing_final_line_break_is_fine():
    assert values(one("c.csv", b"a,b\n1,2"), "b") == ["2"]


def _workbook(sheets: dict[str, pd.DataFrame], startrow: int = 0) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer) as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False, startrow=startrow)
    return buffer.getvalue()


def test_excel_sheets_are_read_with_dates_whole_numbers_and_spreadsheet_rows():
    courses = pd.DataFrame(
        {"patient_id": ["007", "P2"], "age": [17, 22.5], "start_date": pd.to_datetime(["2021-03-04", "2022-01-31"])}
    )
    data = _workbook({"Courses": courses, "Empty": pd.DataFrame()}, startrow=2)
    sheets = read_file("clinic.xlsx", data)
    assert [s.label for s in sheets] == ["clinic.xlsx [Courses]"]
    sheet = sheets[0]
    assert sheet.kind == "Excel" and values(sheet, "patient_id") == ["007", "P2"]
    assert values(sheet, "age") == ["17", "22.5"]
    assert values(sheet, "start_date") == ["2021-03-04", "2022-01-31"]
    assert sheet.rows.tolist() == [4, 5]  # header on Excel row 3


def test_parquet_columns_become_text():
    table = pa.table(
        {
            "patient_id": ["A", "B"],
            "age": [17.0, float("nan")],
            "n": pa.array([1, None], pa.int64()),
            "start": pa.array([pd.Timestamp("2021-01-02"), None], pa.timestamp("us")),
            "ok": [True, False],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    sheet = one("c.parquet", buffer.getvalue())
    assert values(sheet, "age")[0] == "17" and values(sheet, "n") == ["1", None]
    assert values(sheet, "start")[0].startswith("2021-01-02") and values(sheet, "ok") == ["yes", "no"]
    assert sheet.rows.tolist() == [2, 3]


def test_zips_even_nested_ones_are_expanded_and_gzip_is_read():
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("visits.csv", "patient_id,day\nP1,0\n")
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("export/courses.csv", TEXT)
        archive.writestr("more.zip", inner.getvalue())
        archive.writestr("__MACOSX/._courses.csv", b"\x00")
    files, problems = expand_archives({"bundle.zip": outer.getvalue()})
    assert set(files) == {"courses.csv", "visits.csv"} and not problems
    assert values(one("courses.csv.gz", gzip.compress(TEXT.encode())), "age") == ["20", "31"]


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"   \n \n", "empty"),
        (b"%PDF-1.4 ...", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ".xls"),
        (b"PAR1garbage", "Parquet"),
        (b"\x1f\x8b\x08garbage", "gzip"),
        (b"ab\x00cd\x00\x01\x02\x03", "binary"),
    ],
)
def test_what_cannot_be_read_is_named(data, words):
    with pytest.raises(ReadError, match=words):
        read_file("courses.csv", data)


def test_the_acne_n_of_1_files_read_with_their_quirks_named():
    folder = EXTERNAL / "acne_nof1_hialab"
    if not folder.exists():
        pytest.skip(f"the acne N-of-1 data is not at {folder}")
    for name in ("metadata.csv", "scores-scaled-combined.csv", "scores_unscaled_combined.csv"):
        sheet = one(name, (folder / name).read_bytes())
        assert sheet.n_rows == 255 and not sheet.malformed, name
        assert "Intervention (Boolean)" in sheet.names and "Applied Lotion/Makeup (Boolean)" in sheet.names
    scaled = one("s.csv", (folder / "scores-scaled-combined.csv").read_bytes())
    raw = scaled.column("Intervention (Boolean)")
    assert raw.to_pylist().count("True ") == 9  # read as written ...
    treated, _ = parse_column(raw, SPECS["courses"].column("can_become_pregnant"))  # ... and as yes/no, trimmed
    assert treated.to_pylist().count("yes") == 120 and treated.to_pylist().count("no") == 135


def test_utf16_bom_bytes_do_not_leak_into_the_first_header():
    sheet = one("c.csv", codecs.BOM_UTF16_LE + "patient_id,sex\nP1,F\n".encode("utf-16-le"))
    assert sheet.names[0] == "patient_id"


def test_uploads_are_read_in_memory_and_never_written_to_disk(monkeypatch):
    import builtins
    import tempfile

    from analysis.cohort.loading import load_tables

    workbook = _workbook({"Courses": pd.DataFrame({"patient_id": ["A"], "sex": ["F"], "age": [20]})})
    buffer = io.BytesIO()
    pq.write_table(pa.table({"patient_id": ["B"], "day": [0], "iga": [3]}), buffer)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("adverse_events.csv", "patient_id,term,onset_day\nA,dry lips,3\n")
    files = {
        "clinic.xlsx": workbook,
        "visits.parquet": buffer.getvalue(),
        "more.zip": archive.getvalue(),
        "labs.csv.gz": gzip.compress(b"patient_id,day,test,value,unit\nA,0,ALT,30,U/L\n"),
    }
    real_open = builtins.open

    def reading_only(file, mode="r", *args, **kwargs):
        assert not set(mode) & set("wax+"), f"an upload was about to be written to {file}"
        return real_open(file, mode, *args, **kwargs)

    def no_temporary_files(*args, **kwargs):
        raise AssertionError("an upload was about to be written to a temporary file")

    monkeypatch.setattr(builtins, "open", reading_only)
    monkeypatch.setattr(io, "open", reading_only)
    for name in ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile"):
        monkeypatch.setattr(tempfile, name, no_temporary_files)
    result = load_tables(files, source="in memory")
    assert result.ok and result.cohort.row_counts()["adverse_events"] == 1
