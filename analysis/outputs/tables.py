"""Tables as CSV and Excel files that are safe to open in a spreadsheet.

A cell whose text begins with `=`, `+`, `-`, `@`, a tab or a carriage return (or their full-width
forms) is read by Excel, LibreOffice and Google Sheets as a formula: a term or a custom column
in an uploaded file could then run a formula on the colleague who opens the export (formula
injection). Such text gets a leading apostrophe in CSV, which spreadsheets read as "this is
text" and do not show. Numbers stay numbers, and text that is a plain number (`-5`, `-0.25`,
`+3`) is left as it is. In Excel files such text is written as a text cell, never as a formula.
"""

from __future__ import annotations

import io

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
EXCEL_SHEET_NAME_LIMIT = 31


def neutralise_text(values: pd.Series) -> pd.Series:
    """The column with formula-looking text cells prefixed by an apostrophe; other cells unchanged."""
    if (
        pd.api.types.is_numeric_dtype(values)
        or pd.api.types.is_bool_dtype(values)
        or pd.api.types.is_datetime64_any_dtype(values)
    ):
        return values
    is_text = values.map(type).eq(str)
    if not is_text.any():
        return values
    text = values[is_text].astype(str)
    risky = text.str.startswith(FORMULA_STARTS) & ~text.str.match(PLAIN_NUMBER)
    if not risky.any():
        return values
    out = values.astype(object).copy()
    out.loc[risky[risky].index] = "'" + text[risky]
    return out


def neutralise_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell, and every column name, that a spreadsheet would run as a formula made inert."""
    out = table.copy()
    for position in range(out.shape[1]):
        out.isetitem(position, neutralise_text(out.iloc[:, position]))
    out.columns = list(neutralise_text(pd.Series([str(c) for c in out.columns], dtype=object)))
    return out


def csv_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8 CSV with CRLF line ends (RFC 4180), so a cell holding a line break is quoted and stays in its row."""
    return neutralise_formulas(table).to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def excel_bytes(table: pd.DataFrame, sheet_name: str = "table") -> bytes:
    """One sheet in .xlsx; text is always a text cell (formula-looking text is not run)."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_name[:EXCEL_SHEET_NAME_LIMIT] or "table"
    sheet.append([str(c) for c in table.columns])
    plain = table.astype(object).where(table.notna(), None)
    for row in plain.itertuples(index=False, name=None):
        sheet.append([_cell(value) for value in row])
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type == "f":  # openpyxl takes text beginning with "=" for a formula
                cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(value):
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()  # numpy scalars
    if isinstance(value, (list, tuple, set, dict)):
        return str(value)
    return value
