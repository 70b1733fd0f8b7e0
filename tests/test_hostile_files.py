"""Hostile and awkward files: compressed bombs, unsafe archive members, lookalike and invisible
characters, spreadsheet formulas and merged cells, and the exit code each one earns.

Like `test_broken_files`, each case is a small upload built here (bombs are generated, a few
hundred kilobytes on disk that would expand to gigabytes), loaded through the shared path and
checked for its exact finding; then the command line's `validate` is run on the same files for
its exit code: 1 whenever a row or value was not used as written, 0 otherwise.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from dataclasses import dataclass, field
from functools import cache

import openpyxl
import pandas as pd
import pytest
from csv_bundles import assert_case_findings
from test_broken_files import E, Expect

from analysis.cli import main
from analysis.cohort.loading import load_tables
from analysis.ingest.validation import (
    COLUMN_IGNORED,
    ERROR,
    FILE_IGNORED,
    NO_ACTION,
    NOT_LOADED,
    NOTE,
    ROW_EXCLUDED,
    SET_MISSING,
    VALUE_CHANGED,
    VALUE_FILLED,
    WARNING,
)
from analysis.stats.suppression import suppress_any_table

COURSES = "patient_id,sex,age\nP1,F,20\nP2,M,31\n"
VISITS_HEADER = b"patient_id,day,iga\n"


@dataclass
class Hostile:
    name: str
    files: dict[str, bytes]
    expect: list[Expect]
    exit_code: int
    loads: bool | None = None
    env: dict[str, str] = field(default_factory=dict)
    check: object = None


def text(value: str) -> bytes:
    return value.encode("utf-8")


def zipped(files: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in links:
                info.external_attr = 0o120777 << 16  # a symbolic link, as `zip --symlinks` stores one
            archive.writestr(info, data)
    return buffer.getvalue()


def repeated_lines(line: bytes, megabytes: int):
    chunk = line * (2**20 // len(line))
    return (chunk for _ in range(megabytes))


@cache
def zip_bomb(member: str, megabytes: int = 64, header: bytes = VISITS_HEADER, line: bytes = b"P1,0,3\n") -> bytes:
    """A zip whose one member expands about a thousand times (64 MB from about 60 kB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open(member, "w", force_zip64=True) as stream:
            stream.write(header)
            for chunk in repeated_lines(line, megabytes):
                stream.write(chunk)
    return buffer.getvalue()


@cache
def gzip_bomb(megabytes: int = 64, header: bytes = b"patient_id,sex,age\n", line: bytes = b"P1,F,20\n") -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as stream:
        stream.write(header)
        for chunk in repeated_lines(line, megabytes):
            stream.write(chunk)
    return buffer.getvalue()


@cache
def parquet_bomb(rows: int, value: str = "P1") -> bytes:
    """A visits table of `rows` rows of one repeated value per column: Parquet stores each column as a
    dictionary of one value and runs of its index, a few kilobytes however many rows (or however
    long the value)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    step = min(rows, 2**20)
    table = pa.table(
        {
            "patient_id": pa.DictionaryArray.from_arrays(pa.array([0] * step, pa.int32()), pa.array([value])),
            "day": pa.array([0] * step, pa.int64()),
            "iga": pa.array([3] * step, pa.int64()),
        }
    )
    buffer = io.BytesIO()
    with pq.ParquetWriter(buffer, table.schema, compression="zstd") as writer:
        for start in range(0, rows, step):
            writer.write_table(table.slice(0, min(step, rows - start)))
    return buffer.getvalue()


def nested(depth: int) -> bytes:
    data = zipped({"courses.csv": text(COURSES)})
    for level in range(depth - 1, 0, -1):
        data = zipped({f"level{level}.zip": data})
    return data


def courses_workbook(
    rows: list[list], merge: str | None = None, empty_sheet: bool = False, stored: dict[str, str] | None = None
) -> bytes:
    """A workbook as openpyxl writes it (formulas without stored results), optionally with merged
    cells, an empty second sheet, and stored results put in as a spreadsheet program would."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Courses"
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    if empty_sheet:
        book.create_sheet("Notes")
    buffer = io.BytesIO()
    book.save(buffer)
    return _with_stored_results(buffer.getvalue(), stored or {})


def _with_stored_results(data: bytes, stored: dict[str, str]) -> bytes:
    if not stored:
        return data
    source, target = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                for cell, value in stored.items():
                    content = re.sub(
                        rf'(<c r="{cell}"[^>]*>)(<f>.*?</f>)<v\s*/>'.encode(), rf"\1\2<v>{value}</v>".encode(), content
                    )
            archive.writestr(info, content)
    return target.getvalue()


HEADER = ["patient_id", "sex", "age", "weight_kg", "site"]
SHEET = "clinic.xlsx [Courses]"

CORPUS = [
    # Compressed bombs and archives
    Hostile(
        "zip bomb",
        {"courses.csv": text(COURSES), "bomb.zip": zip_bomb("visits.csv")},
        [
            E(
                "bomb.zip",
                None,
                None,
                ERROR,
                FILE_IGNORED,
                "visits.csv in bomb.zip expands to more than 100 times",
                "a compressed bomb",
                "ISOTRET_MAX_EXPANSION_RATIO",
            )
        ],
        1,
        True,
    ),
    Hostile(
        "gzip bomb of the courses",
        {"courses.csv.gz": gzip_bomb()},
        [
            E("courses.csv.gz", None, None, ERROR, FILE_IGNORED, "courses.csv.gz expands to more than 100 times"),
            E("courses.csv", None, None, ERROR, NOT_LOADED, "the file is missing"),
        ],
        1,
        False,
    ),
    Hostile(
        "gzip bomb of the visits",
        {"courses.csv": text(COURSES), "visits.csv.gz": gzip_bomb(header=VISITS_HEADER, line=b"P1,0,3\n")},
        [E("visits.csv.gz", None, None, ERROR, FILE_IGNORED, "expands to more than 100 times its compressed size")],
        1,
        True,
    ),
    Hostile(
        "a member over the limit for one file",
        {"courses.csv": text(COURSES), "big.zip": zip_bomb("visits.csv", 24)},
        [
            E(
                "big.zip",
                None,
                None,
                ERROR,
                FILE_IGNORED,
                "visits.csv in big.zip expands to more than 16 MB",
                "the limit for one file",
                "ISOTRET_MAX_EXPANDED_FILE_MB",
            )
        ],
        1,
        True,
        env={"ISOTRET_MAX_EXPANDED_FILE_MB": "16", "ISOTRET_MAX_EXPANSION_RATIO": "100000"},
    ),
    Hostile(
        "an upload over the limit for all files",
        {"courses.csv": text(COURSES), "big.zip": zip_bomb("visits.csv", 24)},
        [
            E(
                "big.zip",
                None,
                None,
                ERROR,
                FILE_IGNORED,
                "visits.csv in big.zip would take the upload's files past 20 MB",
                "ISOTRET_MAX_EXPANDED_TOTAL_MB",
            )
        ],
        1,
        True,
        env={"ISOTRET_MAX_EXPANDED_TOTAL_MB": "20", "ISOTRET_MAX_EXPANSION_RATIO": "100000"},
    ),
    Hostile(
        "parquet bomb of the visits",  # 4 million rows in about 40 kB: refused from its metadata
        {"courses.csv": text(COURSES), "visits.parquet": parquet_bomb(4 * 2**20)},
        [
            E(
                "visits.parquet",
                None,
                None,
                ERROR,
                FILE_IGNORED,
                "visits.parquet expands to more than 500 times its compressed size",
                "a compressed bomb",
                "ISOTRET_MAX_EXPANSION_RATIO",
            )
        ],
        1,
        True,
    ),
    Hostile(
        "parquet of one long value repeated",  # 2 kB whose text is 64 GB: refused at its first rows
        {"courses.csv": text(COURSES), "visits.parquet": parquet_bomb(2**16, "P" * 2**20)},
        [
            E(
                "visits.parquet",
                None,
                None,
                ERROR,
                FILE_IGNORED,
                "visits.parquet expands to more than 2,048 MB, the limit for one file",
                "ISOTRET_MAX_EXPANDED_FILE_MB",
            )
        ],
        1,
        True,
    ),
    Hostile(
        "parquet over the limit for all files",
        {"courses.csv.gz": gzip.compress(text(COURSES)), "visits.parquet": parquet_bomb(2**20)},
        [
            E(
                "visits.parquet",
                None,
                None,
                ERROR,
                FILE_IGNORED,
                "visits.parquet would take the upload's files past 16 MB",
                "ISOTRET_MAX_EXPANDED_TOTAL_MB",
            )
        ],
        1,
        True,
        env={"ISOTRET_MAX_EXPANDED_TOTAL_MB": "16", "ISOTRET_MAX_EXPANSION_RATIO": "100000"},
    ),
    Hostile(
        "archives nested three deep",
        {"export.zip": nested(3)},
        [
            E(
                "level2.zip",
                None,
                None,
                ERROR,
                FILE_IGNORED,
                "an archive inside level1.zip inside export.zip",
                "opened only 2 levels deep",
            )
        ],
        1,
        False,
    ),
    Hostile(
        "a member leading outside the archive",
        {"export.zip": zipped({"courses.csv": text(COURSES), "../visits.csv": VISITS_HEADER + b"P1,0,3\n"})},
        [E("../visits.csv in export.zip", None, None, ERROR, FILE_IGNORED, "leads outside the archive (..)")],
        1,
        True,
    ),
    Hostile(
        "a member with an absolute path",
        {"export.zip": zipped({"courses.csv": text(COURSES), "/tmp/visits.csv": VISITS_HEADER + b"P1,0,3\n"})},
        [E("/tmp/visits.csv in export.zip", None, None, ERROR, FILE_IGNORED, "its path is absolute")],
        1,
        True,
    ),
    Hostile(
        "a member that is a link",
        {"export.zip": zipped({"courses.csv": text(COURSES), "visits.csv": b"/etc/passwd"}, links=("visits.csv",))},
        [E("visits.csv in export.zip", None, None, ERROR, FILE_IGNORED, "a link to another file")],
        1,
        True,
    ),
    # Lookalike and invisible characters: one rule for every text column
    Hostile(
        "a Cyrillic letter in a patient_id",
        {"courses.csv": text("patient_id,sex,age\nP000001,F,20\n\u0420000001,F,21\n")},
        [
            E(
                "courses.csv",
                3,
                "patient_id",
                ERROR,
                NO_ACTION,
                "U+0420 (CYRILLIC CAPITAL LETTER ER)",
                "looks like Latin P",
                "not the same as P000001",
            )
        ],
        1,
        True,
        check=lambda r: r.cohort.n_courses == 2,
    ),
    Hostile(
        "a zero-width space after a patient_id",
        {"courses.csv": text("patient_id,sex,age\nP000001,F,20\nP000001\u200b,F,21\n")},
        [
            E("courses.csv", 3, "patient_id", WARNING, VALUE_CHANGED, "U+200B (ZERO WIDTH SPACE)", "removed"),
            E("courses.csv", 3, None, ERROR, ROW_EXCLUDED, "course 1 of patient P000001 appears again"),
        ],
        1,
        True,
    ),
    Hostile(
        "a byte order mark inside the visits",
        {
            "courses.csv": text("patient_id,sex,age\nP000005,F,20\n"),
            "visits.csv": text("patient_id,day,iga\n\ufeffP000005,0,2\n"),
        },
        [E("visits.csv", 2, "patient_id", WARNING, VALUE_CHANGED, "U+FEFF (BYTE ORDER MARK)")],
        1,
        True,
        check=lambda r: r.report.rows_kept["visits.csv"] == 1,
    ),
    Hostile(
        "the same mark in a patient_id and a site",
        {"courses.csv": text("patient_id,sex,age,site\n\ufeffP1,F,20,\ufeffNorth\n")},
        [
            E("courses.csv", 2, "patient_id", WARNING, VALUE_CHANGED, "U+FEFF"),
            E("courses.csv", 2, "site", WARNING, VALUE_CHANGED, "U+FEFF"),
        ],
        1,
        True,
        check=lambda r: r.cohort.courses["site"].astype(str).tolist() == ["North"],
    ),
    Hostile(
        "a visit orphaned by a lookalike letter",
        {"courses.csv": text(COURSES), "visits.csv": text("patient_id,day,iga\n\u04201,0,3\n")},
        [
            E(
                "visits.csv",
                2,
                None,
                ERROR,
                ROW_EXCLUDED,
                "is not in courses.csv",
                "its patient_id is written with U+0420",
            )
        ],
        1,
        True,
    ),
    Hostile(
        "a control character in a side effect",
        {"courses.csv": text(COURSES), "adverse_events.csv": text("patient_id,term,onset_day\nP1,dry\x07 lips,3\n")},
        [E("adverse_events.csv", 2, "term", WARNING, VALUE_CHANGED, "U+0007")],
        1,
        True,
    ),
    Hostile(
        "a Cyrillic M as sex",
        {"courses.csv": text("patient_id,sex,age\nP1,F,20\nP2,\u041c,31\n")},
        [
            E("courses.csv", 3, "sex", ERROR, NO_ACTION, "U+041C", "looks like Latin M"),
            E("courses.csv", 3, "sex", ERROR, ROW_EXCLUDED, "sex must be one of"),
        ],
        1,
        True,
    ),
    Hostile(
        "a Greek omicron in a site",
        {"courses.csv": text("patient_id,sex,age,site\nP1,F,20,North\nP2,M,31,N\u03bfrth\n")},
        [E("courses.csv", 3, "site", ERROR, NO_ACTION, "U+03BF (GREEK SMALL LETTER OMICRON)", "not the same as North")],
        1,
        True,
    ),
    # Spreadsheets
    Hostile(
        "formulas without stored results",
        {
            "clinic.xlsx": courses_workbook(
                [HEADER, ["P1", "F", 20, "=A1&B1", "North"], ["P2", "M", "=1/0", 60, "South"]]
            )
        },
        [
            E(SHEET, 2, "weight_kg", WARNING, SET_MISSING, "cell D2 holds the formula =A1&B1 with no stored result"),
            E(SHEET, 3, "age", WARNING, SET_MISSING, "cell C3 holds the formula =1/0"),
            E(SHEET, 3, "age", ERROR, ROW_EXCLUDED, "age or age_band is required"),
        ],
        1,
        True,
    ),
    Hostile(
        "formulas with stored results",
        {"clinic.xlsx": courses_workbook([HEADER, ["P1", "F", 20, "=50+10", "North"]], stored={"D2": "60"})},
        [E(SHEET, None, "weight_kg", NOTE, NO_ACTION, "1 cell with a formula", "D2: =50+10 gave 60")],
        0,
        True,
        check=lambda r: r.cohort.courses["weight_kg"].tolist() == [60],
    ),
    Hostile(
        "a site merged over four rows",
        {
            "clinic.xlsx": courses_workbook(
                [
                    HEADER,
                    ["P1", "F", 20, 60, "North"],
                    ["P2", "M", 30, 70, None],
                    ["P3", "F", 40, 55, None],
                    ["P4", "M", 50, 80, None],
                ],
                merge="E2:E5",
            )
        },
        [E(SHEET, 2, "site", WARNING, VALUE_FILLED, "cells E2:E5 are merged", "used in each of rows 2-5")],
        1,
        True,
        check=lambda r: r.cohort.courses["site"].astype(str).tolist() == ["North"] * 4,
    ),
    Hostile(
        "a sheet not read",
        {"clinic.xlsx": courses_workbook([HEADER, ["P1", "F", 20, 60, "North"]], empty_sheet=True)},
        [E("clinic.xlsx [Notes]", None, None, NOTE, NO_ACTION, "the sheet is empty; it was not read")],
        0,
        True,
    ),
    # Values set to missing, and columns listed in part
    Hostile(
        "values out of range",
        {
            "courses.csv": text(COURSES),
            "visits.csv": text(
                "patient_id,day,iga,inflammatory_lesions\nP1,0,7,10\nP1,30,2,-5\nP1,60,twelve,4\nP1,90,1,10000000\n"
            ),
        },
        [
            E("visits.csv", 2, "iga", WARNING, SET_MISSING, "found 7"),
            E("visits.csv", 3, "inflammatory_lesions", WARNING, SET_MISSING, "found -5"),
            E("visits.csv", 4, "iga", WARNING, SET_MISSING, "found twelve"),
            E("visits.csv", 5, "inflammatory_lesions", WARNING, SET_MISSING, "found 10000000"),
        ],
        1,
        True,
    ),
    Hostile(
        "a long header without the required columns",
        {
            "courses.csv": text(
                ",".join(["patient_id"] + [f"extra_{i}" for i in range(15)])
                + "\n"
                + ",".join(["P1"] + ["x"] * 15)
                + "\n"
            )
        },
        [E("courses.csv", None, None, ERROR, NOT_LOADED, "extra_10 and 4 more")],
        1,
        False,
    ),
    Hostile(
        "a clean file in Windows-1252",
        {"courses.csv": "patient_id,sex,age,site\nP1,F,20,Zürich\n".encode("cp1252")},
        [E("courses.csv", None, None, WARNING, NO_ACTION, "not UTF-8 text")],
        0,
        True,
    ),
    Hostile(
        "an unknown column in the visits",
        {"courses.csv": text(COURSES), "visits.csv": text("patient_id,day,iga,note\nP1,0,3,x\n")},
        [E("visits.csv", None, "note", WARNING, COLUMN_IGNORED, "is not part of visits data")],
        1,
        True,
    ),
]


def test_the_hostile_corpus_has_at_least_twenty_cases():
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_each_hostile_file_gets_its_message_and_exit_code(case, tmp_path, monkeypatch, capsys):
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    result = load_tables(dict(case.files), source=case.name)
    assert_case_findings(case, result)
    folder = tmp_path / "bundle"
    folder.mkdir()
    for name, data in case.files.items():
        (folder / name.replace("/", "_")).write_bytes(data)
    assert main(["validate", str(folder)]) == case.exit_code, capsys.readouterr().out


def test_validation_counts_say_what_was_not_used_as_written():
    result = load_tables(
        {"courses.csv": text(COURSES), "visits.csv": text("patient_id,day,iga\nP1,0,7\nP9,0,2\n")}, "x"
    )
    counts = result.report.counts()
    assert counts["used_as_written"] is False
    assert (counts["rows_read"], counts["rows_kept"], counts["rows_excluded"]) == (4, 3, 1)
    assert counts["values_set_missing"] == 1 and counts["files"]["visits.csv"]["excluded"] == {"course not loaded": 1}


def test_summary_strict_exits_1_and_its_json_ends_with_the_validation_counts(tmp_path, capsys):
    import json

    folder = tmp_path / "clinic"
    folder.mkdir()
    (folder / "courses.csv").write_bytes(text(COURSES))
    (folder / "visits.csv").write_bytes(text("patient_id,day,iga\nP1,0,7\n"))
    assert main(["summary", str(folder), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary)[-1] == "validation" and summary["validation"]["values_set_missing"] == 1
    assert main(["summary", str(folder), "--json", "--strict"]) == 1
    assert "1 value set to missing" in capsys.readouterr().err
    (folder / "visits.csv").write_bytes(text("patient_id,day,iga\nP1,0,3\n"))
    assert main(["summary", str(folder), "--json", "--strict"]) == 0


def test_the_exit_line_counts_in_words_that_agree_with_their_numbers(tmp_path, capsys):
    from analysis.cli import _not_as_written

    folder = tmp_path / "clinic"
    folder.mkdir()
    (folder / "courses.csv").write_bytes(text(COURSES))
    (folder / "visits.parquet").write_bytes(b"PAR1\x15\x04\x15")
    assert main(["validate", str(folder)]) == 1
    assert "exit status 1: 1 error, 1 file ignored; not every value" in capsys.readouterr().err
    ones = dict.fromkeys(
        ("errors", "rows_excluded", "values_set_missing", "values_changed", "files_ignored", "columns_ignored"), 1
    )
    assert _not_as_written(ones).startswith(
        "1 error, 1 row excluded, 1 value set to missing, 1 value changed, 1 file ignored, 1 column ignored;"
    )
    twos = dict.fromkeys(ones, 2) | {"rows_excluded": 1_200}
    assert _not_as_written(twos).startswith(
        "2 errors, 1,200 rows excluded, 2 values set to missing, 2 values changed, 2 files ignored, 2 columns ignored;"
    )
    (folder / "visits.parquet").unlink()
    (folder / "visits.csv").write_bytes(text("patient_id,day,iga\nP1,0,7\n"))
    assert main(["summary", str(folder), "--json"]) == 0
    assert "note: 0 errors and 1 warning in the input" in capsys.readouterr().err


def test_finding_messages_count_in_words_that_agree_with_their_numbers():
    result = load_tables(
        {
            "courses.csv": text("patient_id,sex,age\nP1,F,20 years\nP2,M,31\n"),
            "visits.csv": text("patient_id,day,iga\nP1,0\n"),
            "labs.csv": text("patient_id,day,test,value,unit\nP1,0,XYZ1,3,U/L\n"),
        },
        "x",
    )
    messages = "\n".join(result.report.issues["message"])
    assert "1 cell of age carried the unit" in messages, messages
    assert "'XYZ1' is not a recognised test name or LOINC code (1 row)" in messages, messages
    result = load_tables({"courses.csv": text("patient_id\nP1\nP2,F\n")}, "x")
    assert "expected 1 value as in the header, found 2" in "\n".join(result.report.issues["message"])


def test_a_bomb_is_refused_within_a_few_megabytes_of_memory():
    import resource

    from analysis.ingest.readers import ReadError, read_file

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ReadError, match="expands to more than 100 times"):
        read_file("courses.csv.gz", gzip_bomb(128))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 64, grown_mb  # stopped after about 16 MB expanded, not 128


def test_a_parquet_bomb_is_refused_before_its_values_are_spelled_out():
    import resource

    from analysis.ingest.readers import ReadError, read_file

    bomb = parquet_bomb(2**16, "P" * 2**20)
    assert len(bomb) < 64 * 2**10  # small on disk: 64 GB of text once decoded
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ReadError, match="expands to more than 2,048 MB"):
        read_file("visits.parquet", bomb)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 64, grown_mb  # the value once and its indices, never the text


def test_a_parquet_file_within_the_limits_reads_as_written():
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis.ingest.readers import read_file

    buffer = io.BytesIO()
    pq.write_table(
        pa.table({"patient_id": ["P1", "P2", None], "age": [20, None, 31.5], "flag": [True, False, None]}), buffer
    )
    (sheet,) = read_file("courses.parquet", buffer.getvalue())
    assert sheet.names == ["patient_id", "age", "flag"]
    assert [column.to_pylist() for column in sheet.columns] == [
        ["P1", "P2", None],
        ["20", None, "31.5"],
        ["yes", "no", None],
    ]


def test_presenter_downloads_withhold_a_small_groups_median_written_as_text():
    table = pd.DataFrame(
        {
            "group": ["<120 mg/kg", "120-220 mg/kg", ">220 mg/kg"],
            "years": [1, 1, 1],
            "estimate": [0.9, 0.8, 0.85],
            "ci_low": [0.5, 0.7, 0.8],
            "ci_high": [0.99, 0.9, 0.9],
            "courses": [3, 40, 60],
            "at_risk": [3, 30, 50],
            "events_by_then": [0, 8, 9],
            "method": ["Kaplan-Meier"] * 3,
            "median_days": ["143", "not reached", "400"],
            "mean_days": ["150", "300", "410"],
        }
    )
    shown = suppress_any_table(table)
    assert shown.loc[0, "median_days"] == "suppressed" and shown.loc[0, "mean_days"] == "suppressed"
    assert shown.loc[0, "courses"] == "<5"
    assert shown.loc[2, "median_days"] == "400"  # a large group keeps its median


def test_a_refused_bomb_in_the_app_is_dropped_and_the_session_stays_usable():
    from test_page_data import EXPORT, confirm, data_page, texts

    from ui.data_source import PENDING_STATE, UPLOAD

    at = data_page()
    at.file_uploader(key="upload_widget").set_value([("export.zip", zip_bomb("visits.csv"), "application/zip")]).run()
    assert not at.exception
    refusal = [error.value for error in at.error]
    assert any(
        "visits.csv in export.zip expands to more than 100 times" in message
        and "ISOTRET_MAX_EXPANSION_RATIO" in message
        for message in refusal
    ), refusal
    assert at.session_state[PENDING_STATE] == ()  # the refused upload is dropped
    assert [w.key for w in at.get("file_uploader")] == ["upload_widget_1"]
    at.file_uploader(key="upload_widget_1").set_value([("clinic_export.csv", EXPORT, "text/csv")]).run()
    assert not at.exception and not at.error
    at = confirm(at)
    assert at.session_state["source"] == UPLOAD
    assert "clinic_export.csv: 3 rows read, 3 kept." in texts(at)


def test_a_refused_parquet_bomb_in_the_app_is_dropped_and_named():
    from test_page_data import data_page

    from ui.data_source import PENDING_STATE

    at = data_page()
    upload = [("visits.parquet", parquet_bomb(4 * 2**20), "application/octet-stream")]
    at.file_uploader(key="upload_widget").set_value(upload).run()
    assert not at.exception
    refusal = [error.value for error in at.error]
    assert any("visits.parquet expands to more than 500 times" in message for message in refusal), refusal
    assert at.session_state[PENDING_STATE] == ()
