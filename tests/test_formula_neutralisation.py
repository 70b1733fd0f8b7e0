"""CSV and Excel exports: text a spreadsheet would run as a formula is made inert; numbers stay numbers."""

import csv
import io

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from analysis.outputs.tables import csv_bytes, excel_bytes, neutralise_formulas

RISKY = [
    "=1+1",
    "+SUM(A1:A9)",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    '=HYPERLINK("http://x","y")',
    "=cmd|' /C calc'!A0",
    "\uff1d1+1",
]


def _csv_rows(table: pd.DataFrame) -> list[list[str]]:
    return list(csv.reader(io.StringIO(csv_bytes(table).decode("utf-8"), newline="")))


@pytest.mark.parametrize("text", RISKY)
def test_formula_looking_text_gets_a_leading_apostrophe(text):
    rows = _csv_rows(pd.DataFrame({"term": [text]}))
    assert rows[1][0] == "'" + text


@pytest.mark.parametrize("text", ["headache", "a=b", "dry lips - mild", "", "5", "-5", "-0.25", "+3", "1e-3", "-.5"])
def test_ordinary_text_and_plain_numbers_are_left_alone(text):
    rows = _csv_rows(pd.DataFrame({"term": [text]}))
    assert rows[1][0] == text


def test_numeric_columns_stay_numeric_including_negatives():
    table = pd.DataFrame({"change": [-12.5, 3.0, np.nan], "n": pd.array([-1, 2, None], dtype="Int64")})
    rows = _csv_rows(table)
    assert rows[1:] == [["-12.5", "-1"], ["3.0", "2"], ["", ""]]


def test_mixed_column_neutralises_only_text_cells():
    table = pd.DataFrame({"value": [-4, "=A1", "<5", None]})
    out = neutralise_formulas(table)
    assert out["value"].tolist()[:3] == [-4, "'=A1", "<5"]


def test_column_names_are_neutralised_too():
    rows = _csv_rows(pd.DataFrame({"=evil()": [1], "ok": [2]}))
    assert rows[0] == ["'=evil()", "ok"]


def test_input_is_not_modified():
    table = pd.DataFrame({"term": ["=1+1"]})
    csv_bytes(table)
    assert table["term"].tolist() == ["=1+1"]


def test_excel_writes_formula_looking_text_as_text_and_numbers_as_numbers():
    table = pd.DataFrame(
        {
            "term": ["=1+1", "+A1", "headache", None],
            "n": [-3, 4, 5, 6],
            "share": [0.5, -0.25, np.nan, 1.0],
            "day": pd.array([1, None, 3, 4], dtype="Int64"),
        }
    )
    workbook = load_workbook(io.BytesIO(excel_bytes(table, "side effects")))
    sheet = workbook.active
    assert sheet.title == "side effects"
    cells = {(c.row, c.column): c for row in sheet.iter_rows() for c in row}
    assert [cells[(1, i)].value for i in range(1, 5)] == ["term", "n", "share", "day"]
    assert cells[(2, 1)].value == "=1+1" and cells[(2, 1)].data_type == "s"
    assert cells[(3, 1)].value == "+A1" and cells[(3, 1)].data_type == "s"
    assert cells[(5, 1)].value is None
    assert cells[(2, 2)].value == -3 and cells[(2, 2)].data_type == "n"
    assert cells[(3, 3)].value == -0.25
    assert cells[(4, 3)].value is None and cells[(3, 4)].value is None


def test_excel_file_holds_no_formula_element():
    import zipfile

    data = excel_bytes(pd.DataFrame({"term": ["=1+1", "@SUM(A1)"]}))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = "".join(
            archive.read(name).decode("utf-8", "replace") for name in archive.namelist() if name.endswith(".xml")
        )
    assert "<f>" not in xml and "<f " not in xml
