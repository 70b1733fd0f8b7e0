"""A corpus of hand-made broken files: each gets a plain message naming file, row and column.

Every case is a small upload built here (so the corpus is readable in one place); the test
loads it through the shared path and checks the exact finding: its file, row, column, severity,
what was done, and words of the message. Nothing raises, nothing reports an internal error, and
every row read is accounted for.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

import pandas as pd
import pytest
from csv_bundles import assert_case_findings, workbook

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
    WARNING,
)

COURSES = "patient_id,sex,age\nP1,F,20\nP2,M,31\n"
VALID_VISITS = "patient_id,day,iga\nP1,0,3\n"


@dataclass
class Expect:
    file: str
    row: int | None
    column: str | None
    severity: str
    action: str
    words: tuple[str, ...]


@dataclass
class Case:
    name: str
    files: dict[str, bytes]
    expect: list[Expect]
    loads: bool | None = None  # whether a cohort results (None: not checked)
    check: object = field(default=None)  # an extra check on the result


def text(value: str, encoding: str = "utf-8") -> bytes:
    return value.encode(encoding)


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def course_file(body: str) -> dict[str, bytes]:
    return {"courses.csv": text(body)}


def with_visits(body: str) -> dict[str, bytes]:
    return {"courses.csv": text(COURSES), "visits.csv": text(body)}


def E(file, row, column, severity, action, *words) -> Expect:
    return Expect(file, row, column, severity, action, words)


CORPUS = [
    Case(
        "empty file",
        {"courses.csv": b""},
        [E("courses.csv", None, None, ERROR, NOT_LOADED, "the file is empty")],
        False,
    ),
    Case(
        "only blanks",
        {"courses.csv": b"  \n\n \n"},
        [E("courses.csv", None, None, ERROR, NOT_LOADED, "the file is empty")],
        False,
    ),
    Case(
        "header only",
        course_file("patient_id,sex,age\n"),
        [E("courses.csv", None, None, ERROR, NOT_LOADED, "header row but no data rows")],
        False,
    ),
    Case(
        "binary bytes",
        {"courses.csv": b"\x00\x01\x02\xff\xfe\x00binary"},
        [E("courses.csv", None, None, ERROR, NOT_LOADED, "binary data")],
        False,
    ),
    Case(
        "truncated zip",
        {"export.zip": zipped({"courses.csv": text(COURSES)})[:40]},
        [
            E("export.zip", None, None, ERROR, FILE_IGNORED, "not a readable zip archive"),
            E("courses.csv", None, None, ERROR, NOT_LOADED, "the file is missing"),
        ],
        False,
    ),
    Case(
        "empty zip",
        {"export.zip": zipped({})},
        [E("courses.csv", None, None, ERROR, NOT_LOADED, "the file is missing; every dataset needs it")],
        False,
    ),
    Case(
        "an image",
        {"courses.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"},
        [E("courses.csv", None, None, ERROR, NOT_LOADED, "an image, not a table")],
        False,
    ),
    Case(
        "a pdf",
        {"report.pdf": b"%PDF-1.7\n..."} | course_file(COURSES),
        [E("report.pdf", None, None, ERROR, FILE_IGNORED, "a PDF document")],
        True,
    ),
    Case(
        "old excel",
        {"clinic.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64} | course_file(COURSES),
        [E("clinic.xls", None, None, ERROR, FILE_IGNORED, "old-style Office file", "save it as .xlsx or CSV")],
        True,
    ),
    Case(
        "damaged workbook",
        {"clinic.xlsx": zipped({"xl/workbook.xml": b"<not xml"})} | course_file(COURSES),
        [E("clinic.xlsx", None, None, ERROR, FILE_IGNORED, "Excel workbook could not be opened")],
        True,
    ),
    Case(
        "workbook of empty sheets",
        {"clinic.xlsx": workbook({"A": pd.DataFrame(), "B": pd.DataFrame()})} | course_file(COURSES),
        [E("clinic.xlsx", None, None, ERROR, FILE_IGNORED, "every sheet of the workbook is empty")],
        True,
    ),
    Case(
        "truncated parquet",
        {"visits.parquet": b"PAR1\x15\x04\x15"} | course_file(COURSES),
        [E("visits.parquet", None, None, ERROR, FILE_IGNORED, "not a readable Parquet file")],
        True,
    ),
    Case(
        "truncated gzip",
        {"visits.csv.gz": b"\x1f\x8b\x08\x00\x00\x00"} | course_file(COURSES),
        [E("visits.csv.gz", None, None, ERROR, FILE_IGNORED, "not a readable gzip file")],
        True,
    ),
    Case(
        "wrong delimiter in the rows",
        with_visits("patient_id,day,iga\nP1;0;3\nP2,0,2\n"),
        [E("visits.csv", 2, None, ERROR, ROW_EXCLUDED, "expected 3 values as in the header, found 1")],
        True,
    ),
    Case(
        "ragged rows",
        with_visits("patient_id,day,iga\nP1,0\nP1,30,2,extra\nP2,0,3\n"),
        [
            E("visits.csv", 2, None, ERROR, ROW_EXCLUDED, "expected 3 values", "found 2"),
            E("visits.csv", 3, None, ERROR, ROW_EXCLUDED, "expected 3 values", "found 4"),
        ],
        True,
    ),
    Case(
        "duplicated header",
        course_file("patient_id,sex,age,age\nP1,F,20,30\n"),
        [E("courses.csv", None, "age", WARNING, COLUMN_IGNORED, "appears more than once", "column 4 is ignored")],
        True,
    ),
    Case(
        "numbers with another unit",
        course_file("patient_id,sex,age,weight_kg\nP1,F,20,150 lb\nP2,M,31,70kg\n"),
        [
            E(
                "courses.csv",
                2,
                "weight_kg",
                WARNING,
                SET_MISSING,
                "weight_kg must be a number from 20 to 300; found 150 lb",
            ),
            E("courses.csv", None, "weight_kg", NOTE, NO_ACTION, "carried the unit of the column", "70kg"),
        ],
        True,
    ),
    Case(
        "numbers with units of the column",
        course_file("Patient ID,Sex,Age\nP1,F,17 years\nP2,M,31 yrs\n"),
        [E("courses.csv", None, "age", NOTE, NO_ACTION, "2 cells of age carried the unit", "unit was removed")],
        True,
        lambda r: r.cohort.courses["age"].tolist() == [17, 31],
    ),
    Case(
        "dates in three formats",
        {
            "patients.csv": text(
                "pid,sex,age,start date\nP1,F,20,2021-03-01\nP2,M,30,01/04/2021\n"
                "P3,F,25,March 3 2021\nP4,F,22,15/04/2021\n"
            )
        },
        [
            E(
                "patients.csv",
                4,
                "start_date",
                WARNING,
                SET_MISSING,
                "start_date must be a date written YYYY-MM-DD",
                "March 3 2021",
            )
        ],
        True,
        lambda r: r.cohort.courses["start_date"].dt.strftime("%Y-%m-%d").tolist()[:2] == ["2021-03-01", "2021-04-01"],
    ),
    Case(
        "visit dates in three formats",
        {
            "patients.csv": text("pid,sex,age,start date\nP1,F,20,2021-03-01\n"),
            "visits.csv": text("pid,visit date,iga\nP1,2021-03-01,4\nP1,01/05/2021,3\nP1,Jun 1 2021,2\n"),
        },
        [
            E(
                "visits.csv",
                4,
                "day",
                ERROR,
                ROW_EXCLUDED,
                "not a date in the column's format (DD/MM/YYYY or YYYY-MM-DD)",
            )
        ],
        True,
        lambda r: r.cohort.visits["day"].tolist() == [0, 61],
    ),
    Case(
        "negative days",
        with_visits("patient_id,day,iga\nP1,-1000,3\nP1,-7,3\n"),
        [E("visits.csv", 2, "day", ERROR, ROW_EXCLUDED, "day must be a whole number from -365 to 10950; found -1000")],
        True,
    ),
    Case(
        "negative end day",
        course_file("patient_id,sex,age,end_day\nP1,F,20,-5\n"),
        [E("courses.csv", 2, "end_day", WARNING, SET_MISSING, "end_day must be a whole number from 0", "found -5")],
        True,
    ),
    Case(
        "ten million lesions",
        with_visits("patient_id,day,inflammatory_lesions\nP1,0,10000000\n"),
        [E("visits.csv", 2, "inflammatory_lesions", WARNING, SET_MISSING, "from 0 to 2000; found 10000000")],
        True,
    ),
    Case(
        "formula-looking cells",
        course_file('patient_id,sex,age,site\n"=HYPERLINK(""http://x"",""y"")",F,20,North\nP2,M,31,@SUM(A1)\n'),
        [
            E(
                "courses.csv",
                2,
                "patient_id",
                WARNING,
                NO_ACTION,
                "looks like a spreadsheet formula",
                "never calculated",
            ),
            E("courses.csv", 3, "site", WARNING, NO_ACTION, "looks like a spreadsheet formula"),
        ],
        True,
    ),
    Case(
        "unclosed quote",
        with_visits('patient_id,day,iga\nP1,0,"3\nP2,0,2\n'),
        [E("visits.csv", 2, None, WARNING, NO_ACTION, 'a quote (") may be left open on this row')],
        True,
    ),
    Case(
        "missing required column",
        course_file("patient_id,age\nP1,20\n"),
        [
            E(
                "courses.csv",
                None,
                None,
                ERROR,
                NOT_LOADED,
                "required column sex is missing",
                "the columns found are: patient_id, age",
            )
        ],
        False,
    ),
    Case(
        "neither age nor age band",
        course_file("patient_id,sex,weight_kg\nP1,F,60\n"),
        [E("courses.csv", None, None, ERROR, NOT_LOADED, "a column age or age_band is required")],
        False,
    ),
    Case(
        "a value not allowed",
        course_file("patient_id,sex,age\nP1,Q,20\nP2,F,30\n"),
        [E("courses.csv", 2, "sex", ERROR, ROW_EXCLUDED, "sex must be one of F, M, other, unknown; found Q")],
        True,
    ),
    Case(
        "a repeated course",
        course_file("patient_id,sex,age\nP1,F,20\nP1,F,21\n"),
        [
            E(
                "courses.csv",
                3,
                None,
                ERROR,
                ROW_EXCLUDED,
                "course 1 of patient P1 appears again; the first, on row 2, is kept",
            )
        ],
        True,
    ),
    Case(
        "a visit of nobody",
        with_visits("patient_id,day,iga\nP9,0,3\nP1,0,2\n"),
        [E("visits.csv", 2, None, ERROR, ROW_EXCLUDED, "course 1 of patient P9 is not in courses.csv")],
        True,
    ),
    Case(
        "IGA out of range",
        with_visits("patient_id,day,iga\nP1,0,7\n"),
        [E("visits.csv", 2, "iga", WARNING, SET_MISSING, "IGA must be a whole number from 0 to 4; found 7")],
        True,
    ),
    Case(
        "day not a number",
        with_visits("patient_id,day,iga\nP1,abc,3\n"),
        [E("visits.csv", 2, "day", ERROR, ROW_EXCLUDED, "day must be a whole number", "found abc")],
        True,
    ),
    Case(
        "an impossible date",
        course_file("patient_id,sex,age,start_date\nP1,F,20,2021-02-30\n"),
        [
            E(
                "courses.csv",
                2,
                "start_date",
                WARNING,
                SET_MISSING,
                "start_date must be a date written YYYY-MM-DD",
                "2021-02-30",
            )
        ],
        True,
    ),
    Case(
        "not UTF-8",
        {"courses.csv": text("patient_id,sex,age,site\nP1,F,20,Zürich\n", "cp1252")},
        [E("courses.csv", None, None, WARNING, NO_ACTION, "not UTF-8 text", "Windows-1252")],
        True,
    ),
    Case(
        "blank lines between rows",
        course_file("patient_id,sex,age\nP1,F,20\n,,\nP2,M,31\n"),
        [E("courses.csv", 3, None, WARNING, ROW_EXCLUDED, "empty row")],
        True,
    ),
    Case(
        "a column without a name",
        course_file("patient_id,sex,,age\nP1,F,x,20\n"),
        [E("courses.csv", None, None, WARNING, COLUMN_IGNORED, "column 3 has no name in the header row")],
        True,
    ),
    Case(
        "resolved before onset",
        {
            "courses.csv": text(COURSES),
            "adverse_events.csv": text("patient_id,term,onset_day,resolved_day\nP1,dry lips,10,3\n"),
        },
        [E("adverse_events.csv", 2, "resolved_day", WARNING, SET_MISSING, "resolved_day (3) is before onset_day (10)")],
        True,
    ),
    Case(
        "a lab value with a comparator",
        {
            "courses.csv": text(COURSES),
            "labs.csv": text("patient_id,day,test,value,unit\nP1,0,HCG,<5,mIU/mL\nP1,0,ALT,30,U/L\n"),
        },
        [E("labs.csv", 2, "value", ERROR, ROW_EXCLUDED, "value must be a number; found <5")],
        True,
    ),
    Case(
        "the header repeated mid-file",
        course_file("patient_id,sex,age\nP1,F,20\npatient_id,sex,age\nP2,M,31\n"),
        [E("courses.csv", 3, "sex", ERROR, ROW_EXCLUDED, "found sex")],
        True,
    ),
    Case(
        "a file that is no table",
        {"notes.csv": text("temperature,humidity\n20,50\n")} | course_file(COURSES),
        [E("notes.csv", None, None, WARNING, FILE_IGNORED, "could not tell which table", "temperature, humidity")],
        True,
    ),
    Case(
        "an e-mail column",
        course_file("patient_id,sex,age,contact\nP1,F,20,ann@example.org\nP2,M,31,bo@example.org\n"),
        [E("courses.csv", None, "contact", WARNING, "column dropped", "holds e-mail addresses", "dropped")],
        True,
    ),
    Case(
        "names as the only patient column",
        {
            "clinic.csv": text(
                "Patient,sex,age\nJane Smith,F,17\nOmar Haddad,M,22\nLi Wei,F,30\nAnna Berg,F,19\nJohn Doe,M,40\n"
            )
        },
        [E("clinic.csv", None, None, ERROR, FILE_IGNORED, "holds people's names", "refused")],
        False,
    ),
    Case(
        "a saved mapping naming a missing column",
        {"export.csv": text("code,gender,years\nA,F,20\n")},
        [E("export.csv", None, "Age", ERROR, NO_ACTION, "the mapping uses column Age, which is not in the file")],
        False,
    ),
]


def _load(case: Case):
    if case.name == "a saved mapping naming a missing column":
        from analysis.ingest.mapping import ColumnRule, FileMapping, Mapping

        mapping = Mapping(
            [
                FileMapping(
                    "export.csv",
                    None,
                    "courses",
                    {
                        "patient_id": ColumnRule(source="code"),
                        "sex": ColumnRule(source="gender"),
                        "age": ColumnRule(source="Age"),
                    },
                )
            ]
        )
        return load_tables(case.files, source=case.name, mapping=mapping)
    return load_tables(case.files, source=case.name)


def test_the_corpus_has_at_least_thirty_broken_files():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_each_broken_file_gets_its_message(case):
    result = _load(case)
    assert_case_findings(case, result)
