"""Uploaded bytes -> raw sheets: every cell as text, every record with the row a spreadsheet shows.

Researchers' exports arrive as CSV or TSV in whatever delimiter and encoding their software
wrote (`;` with decimal commas from European spreadsheets, UTF-16 "Unicode text", Windows-1252
from older systems), as Excel workbooks, Parquet files, or a zip of several. Each becomes one
`Sheet` per table-like unit (a CSV file, a workbook sheet, a Parquet file), and what was detected
is said in plain words so that the user can check it. Typing and checking cells is left to the
validator; uploads are only ever held in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from analysis.ingest.archives import (  # noqa: F401
    Expansion,
    ExpansionRefused,
    ReadError,
    expand_archives,
    gunzip,
    is_hidden,
    is_workbook,
)
from analysis.ingest.validation import NO_ACTION, NOTE, SET_MISSING, VALUE_FILLED, WARNING
from analysis.schema import SPECS, ColumnSpec

# Cell texts that mean "no value", as spreadsheets and statistics packages write them.
NULL_MARKERS = ["", "NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "#N/A"]
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
SNIFF_BYTES = 65536
SNIFF_LINES = 50
EMPTY_FILE = "the file is empty"
CP1252_NOTE = "the file is not UTF-8 text; it was read as Windows-1252, so check accented letters"
DATA_EXTENSIONS = (".csv", ".tsv", ".txt", ".tab", ".dat", ".xlsx", ".xlsm", ".parquet", ".pq", ".zip", ".gz")
# Numbers written with a decimal comma, optionally with dots between thousands: 60,5 or 1.234,5.
DECIMAL_COMMA_NUMBER = r"^\s*[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?\s*$"
MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PAR1", "parquet"),
    (b"\xd0\xcf\x11\xe0", "ole"),
    (b"%PDF", "pdf"),
    (b"\x1f\x8b", "gzip"),
    (b"\x89PNG", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF8", "image"),
    (b"SQLite format 3", "sqlite"),
    (b"{\\rtf", "rtf"),
)
KIND_WORDS = {
    "ole": "an old-style Office file (Excel .xls or Word .doc); save it as .xlsx or CSV",
    "pdf": "a PDF document, not a table",
    "image": "an image, not a table",
    "sqlite": "a database file, not a table; export the tables as CSV",
    "rtf": "a rich-text document, not a table",
}


@dataclass
class Sheet:
    """One table-like unit of an upload: header names and every column as text."""

    file: str  # the file's name as uploaded (a zip member: its name without folders)
    sheet: str | None  # the workbook sheet, None for CSV and Parquet
    kind: str  # "CSV", "Excel", "Parquet"
    names: list[str]  # header cells, blanks (line breaks too) collapsed
    columns: list[pa.Array]  # one per header cell: text, or typed as the schema says (see `typed`)
    rows: np.ndarray  # int64: each record's row as a spreadsheet shows it (header = row 1)
    malformed: list[tuple[int | None, int, str]] = field(default_factory=list)  # (row, values found, text)
    notes: list[str] = field(default_factory=list)  # what reading noticed that may be wrong (e.g. the encoding)
    encoding: str | None = None
    delimiter: str | None = None
    decimal_comma: bool = False
    data: bytes = b""  # the original bytes (for the fingerprint); never written anywhere
    info: list[str] = field(default_factory=list)  # what reading did that the user should know (not a problem)
    row_warnings: list[tuple[int, str]] = field(default_factory=list)  # (row, message) found while reading
    # A canonical file read with the schema's types (numbers as numbers, text dictionary-encoded):
    # the validator checks its values without parsing text; `column` and `as_text` give text.
    typed: bool = False
    # (severity, row, column, value, message, action) about single cells, e.g. a formula without a result
    cell_findings: list[tuple] = field(default_factory=list)
    skipped_sheets: list[tuple[str, str]] = field(default_factory=list)  # (workbook sheet, why) not read

    @property
    def label(self) -> str:
        """How reports name this sheet: the file, and the workbook sheet when there is one."""
        return self.file if self.sheet is None else f"{self.file} [{self.sheet}]"

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    @property
    def rows_read(self) -> int:
        return len(self.rows) + len(self.malformed)

    def column(self, name: str) -> pa.Array | None:
        """The first column of that header name (exact, then in any letter case), as text."""
        column = self.read_column(name)
        return None if column is None else as_text(column)

    def read_column(self, name: str) -> pa.Array | None:
        """`column`, typed as read."""
        if name in self.names:
            return self.columns[self.names.index(name)]
        lowered = [n.lower() for n in self.names]
        return self.columns[lowered.index(name.lower())] if name.lower() in lowered else None

    def as_text(self) -> Sheet:
        """The same sheet with every column as text (for mappings that rewrite cells)."""
        if not self.typed:
            return self
        return replace(self, columns=[as_text(column) for column in self.columns], typed=False)

    def detected(self) -> str:
        """What was detected, in words: 'CSV, UTF-8 with byte order mark, semicolon-separated, decimal commas'."""
        parts = [self.kind]
        if self.encoding:
            parts.append(self.encoding)
        if self.delimiter:
            parts.append(f"{DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated")
        if self.decimal_comma:
            parts.append("decimal commas")
        return ", ".join(parts)

    def preview(self, limit: int = 200) -> pd.DataFrame:
        """The first rows as a text DataFrame (for showing and for proposing a mapping)."""
        names = unique_names(self.names)
        return pd.DataFrame(
            {name: as_text(column.slice(0, limit)).to_pylist() for name, column in zip(names, self.columns)}
        )

    def subset(self, mask: np.ndarray, sheet: str | None = None) -> Sheet:
        """The same sheet restricted to some records (e.g. one REDCap instrument)."""
        selected = pa.array(mask)
        return Sheet(
            self.file,
            sheet if sheet is not None else self.sheet,
            self.kind,
            list(self.names),
            [column.filter(selected) for column in self.columns],
            self.rows[mask],
            [],
            [],
            self.encoding,
            self.delimiter,
            self.decimal_comma,
            self.data,
            [],
            typed=self.typed,
        )


def as_text(column: pa.Array) -> pa.Array:
    """A column as text, whatever type it was read as."""
    return column if column.type == pa.string() else column.cast(pa.string())


def unique_names(names: list[str]) -> list[str]:
    """Header names made unique for display (a repeated name gets ' (2)')."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


# ---------------------------------------------------------------------------------------------
# Files (archives: analysis.ingest.archives)


def may_hold_data(name: str) -> bool:
    """Files of a folder worth reading: data extensions, or no extension at all."""
    suffix = PurePath(name).suffix.lower()
    return not suffix or suffix in DATA_EXTENSIONS


def read_file(name: str, data: bytes, expansion: Expansion | None = None) -> list[Sheet]:
    """Every sheet of one file; raises ReadError with a plain reason when nothing can be read.

    `expansion` counts what gzip files of the same upload expanded to, against its limits.
    """
    if not data[:SNIFF_BYTES].strip() and not data.strip():
        raise ReadError(EMPTY_FILE)
    kind = magic_kind(data)
    if kind == "gzip":
        return read_file(name.removesuffix(".gz").removesuffix(".GZ"), gunzip(data, name, expansion), expansion)
    if kind == "zip":
        if is_workbook(data):
            return read_excel(name, data, expansion)
        raise ReadError("the file is a zip archive, but not one that could be opened")
    if kind == "parquet":
        return [read_parquet(name, data, expansion)]
    if kind in KIND_WORDS:
        raise ReadError(f"the file is {KIND_WORDS[kind]}")
    if name.lower().endswith(".xls"):
        raise ReadError(f"the file is {KIND_WORDS['ole']}")
    return [read_csv(name, data)]


def magic_kind(data: bytes) -> str | None:
    return next((kind for magic, kind in MAGIC if data.startswith(magic)), None)


# ---------------------------------------------------------------------------------------------
# Text: encoding, delimiter, decimal comma


def decode(data: bytes) -> tuple[bytes, str, list[str]]:
    """The bytes as UTF-8 without a byte order mark, the encoding found, and notes for the user."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :], "UTF-8 with byte order mark", []
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return _from_utf16(data, "utf-16"), "UTF-16", []
    unmarked = _unmarked_utf16(data)
    if unmarked:
        return _from_utf16(data, unmarked), "UTF-16 (no byte order mark)", []
    if b"\x00" in data[:SNIFF_BYTES]:
        raise ReadError("the file holds binary data, not text")
    if is_utf8(data):
        return data, "UTF-8", []
    try:
        text = data.decode("cp1252")
        label = "Windows-1252"
    except UnicodeDecodeError:  # bytes Windows-1252 leaves undefined: Latin-1 reads every byte
        text = data.decode("latin-1")
        label = "Latin-1"
    return (
        text.encode(),
        label,
        [CP1252_NOTE if label == "Windows-1252" else CP1252_NOTE.replace("Windows-1252", "Latin-1")],
    )


def _from_utf16(data: bytes, codec: str) -> bytes:
    text = data.decode(codec, errors="replace")
    return text.removeprefix("\ufeff").encode()


def _unmarked_utf16(data: bytes) -> str | None:
    """UTF-16 without a byte order mark shows as a zero byte beside nearly every ASCII letter."""
    sample = data[: min(len(data), 4096) // 2 * 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def is_utf8(data: bytes) -> bool:
    """Checked by pyarrow over the bytes in place: milliseconds for a large file."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64).tobytes())
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def sniff_delimiter(text: bytes) -> str:
    """The delimiter that splits the first lines into the most consistent number of fields."""
    sample = text[:SNIFF_BYTES].decode("utf-8", errors="replace")
    if len(text) > SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rfind("\n")]  # the last line may be cut short
    best, best_score = ",", (-1.0, 0)
    for delimiter in DELIMITERS:
        try:
            records = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r][:SNIFF_LINES]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        consistent = sum(len(r) == width for r in records) / len(records)
        score = (consistent, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _decimal_comma_file(text: bytes, delimiter: str) -> bool:
    """Numbers like 60,5 and none like 60.5 in a file not separated by commas."""
    if delimiter == ",":
        return False
    sample = text[:SNIFF_BYTES].decode("utf-8", errors="replace")
    cells = re.split(re.escape(delimiter) + r"|\r?\n", sample)
    comma = sum(bool(re.fullmatch(r'"?\s*[-+]?\d+,\d+\s*"?', c)) for c in cells)
    dot = sum(bool(re.fullmatch(r'"?\s*[-+]?\d+\.\d+\s*"?', c)) for c in cells)
    return comma > 0 and comma >= 4 * dot


def decimal_comma_columns(names: list[str], columns: list[pa.Array]) -> tuple[list[pa.Array], list[str]]:
    """Columns whose every value is a number written with a decimal comma, rewritten with points."""
    changed = []
    result = []
    for name, column in zip(names, columns):
        values = pc.utf8_trim_whitespace(column)
        present = pc.drop_null(values)
        has_comma = pc.any(pc.match_substring(present, ",")).as_py() if len(present) else False
        if has_comma and pc.all(pc.match_substring_regex(present, DECIMAL_COMMA_NUMBER)).as_py():
            no_thousands = pc.replace_substring(values, ".", "")  # every point here separates thousands
            result.append(pc.replace_substring(no_thousands, ",", "."))
            changed.append(name)
        else:
            result.append(column)
    return result, changed


def read_csv(name: str, data: bytes) -> Sheet:
    """A delimited text file; raises ReadError when it cannot be parsed at all."""
    text, encoding, notes = decode(data)
    if not text[:SNIFF_BYTES].strip() and not text.strip():
        raise ReadError(EMPTY_FILE)
    if not text.endswith(b"\n"):
        text += b"\n"  # a last line without its line break is still a line
    info = []
    delimiter = sniff_delimiter(text)
    decimal_comma = _decimal_comma_file(text, delimiter)
    typed = _read_typed(text, delimiter, table_named(name)) if not decimal_comma else None
    if typed is not None:
        names, columns = typed
        rows = record_rows(len(columns[0]) if columns else 0, [])
        sheet = Sheet(
            name, None, "CSV", names, columns, rows, [], notes, encoding, delimiter, False, data, info, typed=True
        )
        if text.count(b'"') % 2:
            sheet.row_warnings.append(_open_quote(sheet))
        return sheet
    malformed: list[tuple[int | None, int, str]] = []
    try:
        try:  # fast: many threads, no Python called back while parsing
            parsed = _parse(text, delimiter, None, threads=True)
        except pa.ArrowInvalid as error:
            if "columns" not in str(error):
                raise
            # Lines with more or fewer values than the header: one thread, each line noted with its row.
            parsed = _parse(text, delimiter, malformed, threads=False)
    except pa.ArrowException as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ReadError(f"the file could not be read as CSV ({detail})") from error
    header = parsed.slice(0, 1).to_pylist()[0] if parsed.num_rows else {}
    records = parsed.slice(1)
    names = [clean_name(header.get(column) or "") for column in parsed.column_names]
    columns = [_as_text(records.column(i)) for i in range(records.num_columns)]
    if decimal_comma:
        columns, changed = decimal_comma_columns(names, columns)
        if changed:
            info.append("numbers with decimal commas were read as decimals (60,5 = 60.5) in: " + ", ".join(changed))
        decimal_comma = bool(changed)
    rows = record_rows(records.num_rows, [row for row, _, _ in malformed])
    sheet = Sheet(
        name, None, "CSV", names, columns, rows, malformed, notes, encoding, delimiter, decimal_comma, data, info
    )
    if text.count(b'"') % 2:
        sheet.row_warnings.append(_open_quote(sheet))
    return sheet


def _open_quote(sheet: Sheet) -> tuple[int, str]:
    """An odd number of quotes: the first record holding a line break is where the quote opened."""
    breaks = [
        pc.fill_null(pc.match_substring(as_text(column), "\n"), False).to_numpy(zero_copy_only=False)
        for column in sheet.columns
    ]
    spanning = np.flatnonzero(np.logical_or.reduce(breaks)) if breaks and sheet.n_rows else np.array([], dtype=np.int64)
    if len(spanning):
        return int(sheet.rows[spanning[0]]), (
            'a quote (") may be left open on this row, joining the lines that follow '
            "into one cell; check the quotes in the file"
        )
    return int(sheet.rows[-1]) if sheet.n_rows else 1, 'a quote (") is left open somewhere in the file'


# How the reader types a canonical column: numbers as numbers, text with few distinct values
# dictionary-encoded (a code a row); dates stay text for the validator's date checks.
READ_TYPES = {"int": pa.int64(), "float": pa.float64(), "date": pa.string()}
DICTIONARY_TEXT = pa.dictionary(pa.int32(), pa.string())
CONVERSION_FAILED = re.compile(r"In CSV column #(\d+): CSV conversion error")


def table_named(name: str) -> str | None:
    """The canonical table a file's name names (courses.csv, Visits.CSV, labs.tsv, labs.parquet), if any."""
    stem = re.sub(r"\.(csv|tsv|txt|parquet|pq|xlsx|xlsm)$", "", re.split(r"[\\/]", name)[-1].lower())
    return stem if stem in SPECS else None


def _read_typed(text: bytes, delimiter: str, table: str | None) -> tuple[list[str], list[pa.Array]] | None:
    """A canonical file whose header names only the table's own columns, read with their types by
    pyarrow's parallel reader; None where the file needs the text path (other or repeated names,
    lines with the wrong number of values). A number column holding a value its type cannot take,
    or one outside the column's range, is read as text, so the validator can name each bad cell
    as written: a typed column holds only valid values."""
    if table is None:
        return None
    spec = SPECS[table]
    header = _header(text, delimiter)
    keys = [name.lower() for name in header]
    if (
        not header
        or len(set(keys)) != len(keys)
        or not set(keys) <= set(spec.names)
        or any(clean_name(n) != n for n in header)
    ):
        return None
    types = {name: READ_TYPES.get(spec.column(key).kind, DICTIONARY_TEXT) for name, key in zip(header, keys)}
    parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=b'"' in text, ignore_empty_lines=False)
    for _ in range(len(header) + 1):
        try:
            read = _read_with_types(text, parse_options, types)
        except pa.ArrowInvalid as error:
            failed = CONVERSION_FAILED.search(str(error))
            if failed is None or int(failed.group(1)) >= len(header):
                return None
            types[header[int(failed.group(1))]] = pa.string()
            continue
        if read.column_names != header:
            return None
        columns = [_one_array(read.column(i)) for i in range(read.num_columns)]
        invalid = [
            name
            for name, key, column in zip(header, keys, columns)
            if column.type in (pa.int64(), pa.float64()) and _any_invalid(column, spec.column(key))
        ]
        if invalid:  # only those columns read again, as text
            as_written = _read_with_types(text, parse_options, {name: pa.string() for name in invalid}, include=invalid)
            columns = [
                _one_array(as_written.column(name)) if name in invalid else column
                for name, column in zip(header, columns)
            ]
        return header, columns
    return None


def _read_with_types(
    text: bytes, parse_options: pacsv.ParseOptions, types: dict, include: list[str] | None = None
) -> pa.Table:
    convert_options = pacsv.ConvertOptions(
        column_types=types,
        null_values=NULL_MARKERS,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        include_columns=include,
    )
    read = pacsv.read_csv(pa.BufferReader(text), pacsv.ReadOptions(use_threads=True), parse_options, convert_options)
    return read.unify_dictionaries()


def _any_invalid(numbers: pa.Array, spec: ColumnSpec) -> bool:
    """A number outside the column's range, or not finite."""
    bad = [pc.invert(pc.is_finite(numbers))] if pa.types.is_floating(numbers.type) else []
    bad += [pc.less(numbers, spec.minimum)] if spec.minimum is not None else []
    bad += [pc.greater(numbers, spec.maximum)] if spec.maximum is not None else []
    return any(pc.any(mask).as_py() for mask in bad)


def _header(text: bytes, delimiter: str) -> list[str]:
    sample = text[:SNIFF_BYTES].decode("utf-8", errors="replace")
    try:
        return next(csv.reader(io.StringIO(sample), delimiter=delimiter), [])
    except csv.Error:
        return []


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def clean_name(name: str) -> str:
    """A header cell with line breaks and repeated blanks as single spaces."""
    return re.sub(r"\s+", " ", str(name)).strip()


def _parse(
    data: bytes, delimiter: str, malformed: list | None, threads: bool, block_size: int | None = None
) -> pa.Table:
    """The file's records (header included, as the first) with every column as text.

    With `malformed` given, lines with the wrong number of values are skipped and listed there;
    without, they raise.
    """

    def skip(row) -> str:
        malformed.append((row.number, row.actual_columns, row.text))
        return "skip"

    read_options = pacsv.ReadOptions(
        use_threads=threads, autogenerate_column_names=True, **({"block_size": block_size} if block_size else {})
    )
    # Quoted cells may hold line breaks; without any quote the faster line-per-record parser is exact.
    parse_options = pacsv.ParseOptions(
        delimiter=delimiter,
        newlines_in_values=b'"' in data,
        ignore_empty_lines=False,
        invalid_row_handler=skip if malformed is not None else None,
    )
    width = _header_width(data, delimiter)
    convert_options = pacsv.ConvertOptions(
        column_types={f"f{i}": pa.string() for i in range(width)},
        null_values=NULL_MARKERS,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    try:
        return pacsv.read_csv(pa.BufferReader(data), read_options, parse_options, convert_options)
    except pa.ArrowInvalid as error:
        if "straddl" not in str(error) or block_size:
            raise
        if malformed is not None:  # a cell longer than a block (an unclosed quote): read the file as one block
            malformed.clear()
        return _parse(data, delimiter, malformed, threads, block_size=min(len(data) + 1, 2**31 - 1))


def _header_width(data: bytes, delimiter: str) -> int:
    """At least the header's number of columns (every column is declared text)."""
    return data[:SNIFF_BYTES].count(delimiter.encode()) + 1


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    return as_text(_one_array(column))


def record_rows(records: int, malformed_rows: list[int | None]) -> np.ndarray:
    """Each kept record's row in the file: rows from 2 on, less those of the malformed lines."""
    known = np.array([row for row in malformed_rows if row is not None], dtype=np.int64)
    rows = np.arange(2, 2 + records + len(known), dtype=np.int64)
    if len(known):
        rows = rows[~np.isin(rows, known)]
    return rows if len(rows) == records else np.arange(2, 2 + records, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Excel and Parquet


def read_excel(name: str, data: bytes, expansion: Expansion | None = None) -> list[Sheet]:
    """Every non-empty sheet of a workbook; the first non-empty row of each is its header.

    Formula cells give the results the workbook stored; a formula with no stored result, a merged
    range and a sheet not read are each said (`Sheet.cell_findings`, `Sheet.skipped_sheets`), so
    that no cell turns blank without a word.
    """
    import openpyxl  # here: only workbooks need it

    check_workbook(name, data, expansion or Expansion())
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as error:  # openpyxl raises many kinds for damaged workbooks
        raise ReadError(f"the Excel workbook could not be opened ({type(error).__name__}: {error})") from error
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            sheets, skipped = _workbook_sheets(name, book, archive, data)
    except ReadError:
        raise
    except Exception as error:
        raise ReadError(f"the Excel workbook could not be read ({type(error).__name__}: {error})") from error
    finally:
        book.close()
    if not sheets:
        raise ReadError("every sheet of the workbook is empty")
    sheets[0].skipped_sheets = skipped
    return sheets


def _workbook_sheets(
    name: str, book, archive: zipfile.ZipFile, data: bytes
) -> tuple[list[Sheet], list[tuple[str, str]]]:
    sheets, skipped = [], []
    for title in book.sheetnames:
        worksheet = book[title]
        if not hasattr(worksheet, "iter_rows"):
            skipped.append((f"{name} [{title}]", "the sheet is a chart, not a table; it was not read"))
            continue
        sheet = _excel_sheet(name, worksheet, archive, data)
        if sheet is None:
            skipped.append((f"{name} [{title}]", "the sheet is empty; it was not read"))
        else:
            sheets.append(sheet)
    return sheets, skipped


def check_workbook(name: str, data: bytes, expansion: Expansion) -> None:
    """A workbook is a zip too: its parts' declared sizes are held against the limits before opening it
    (a spreadsheet's XML shrinks more than CSV does, so the ratio allowed is larger)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise ReadError(f"the Excel workbook could not be opened ({error})") from error
    lenient = Expansion(replace(expansion.limits, ratio=expansion.limits.ratio * WORKBOOK_RATIO_FACTOR))
    lenient.total = expansion.total
    for part in parts:
        lenient.check(part.file_size, part.compress_size, f"{part.filename} in {name}")


WORKBOOK_RATIO_FACTOR = 5
SPREADSHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
FORMULA_TAG = re.compile(rb"<(\w+:)?f[ >/]")
MERGE_REF = re.compile(rb'<(?:\w+:)?mergeCell ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')


@dataclass
class CellFacts:
    """What the sheet's XML says beyond the values: formulas and merged ranges."""

    formulas: dict[tuple[int, int], tuple[str, bool]]  # (row, column), from 1 -> (formula, has a stored result)
    merged: list[tuple[str, int, int, int, int]]  # (reference, first column, first row, last column, last row)


def _cell_facts(archive: zipfile.ZipFile, path: str) -> CellFacts:
    from openpyxl.utils.cell import range_boundaries

    xml = archive.read(path.lstrip("/"))
    merged = [(ref.decode(), *range_boundaries(ref.decode())) for ref in MERGE_REF.findall(xml)]
    formulas = _formulas(xml) if FORMULA_TAG.search(xml) else {}
    return CellFacts(formulas, merged)


def _formulas(xml: bytes) -> dict[tuple[int, int], tuple[str, bool]]:
    from openpyxl.utils.cell import coordinate_to_tuple

    found = {}
    for _, element in ElementTree.iterparse(io.BytesIO(xml), events=("end",)):
        if element.tag != SPREADSHEET_NS + "c":
            continue
        formula, stored = element.find(SPREADSHEET_NS + "f"), element.find(SPREADSHEET_NS + "v")
        if formula is not None and element.get("r"):
            row, column = coordinate_to_tuple(element.get("r"))
            found[(row, column)] = (
                "=" + formula.text if formula.text else "a shared formula",
                stored is not None and bool(stored.text),
            )
        element.clear()
    return found


def _excel_sheet(name: str, worksheet, archive: zipfile.ZipFile, data: bytes) -> Sheet | None:
    worksheet.reset_dimensions()  # a workbook's stated size may be wrong; read what is there
    grid = [[_cell_text(value) for value in row] for row in worksheet.iter_rows(values_only=True)]
    filled = np.array([any(value is not None for value in row) for row in grid], dtype=bool)
    if not filled.any():
        return None
    width = max(len(row) for row in grid)
    grid = [row + [None] * (width - len(row)) for row in grid]
    header_at = int(np.argmax(filled))  # 0-based; Excel row header_at + 1
    header = [clean_name(value or "") for value in grid[header_at]]
    facts = _cell_facts(archive, worksheet._worksheet_path)
    findings = _merged_findings(grid, facts.merged, header_at + 1, header)
    filled = np.array([any(value is not None for value in row) for row in grid], dtype=bool)
    body = grid[header_at + 1 :]
    filled_body = filled[header_at + 1 :]
    last = (
        len(filled_body) - int(np.argmax(filled_body[::-1])) if filled_body.any() else 0
    )  # trailing empty rows: formatting
    keep = [i for i, h in enumerate(header) if h or any(row[i] is not None for row in body[:last])]
    columns = [pa.array([row[i] for row in body[:last]], pa.string()) for i in keep]
    rows = np.arange(header_at + 2, header_at + 2 + last, dtype=np.int64)  # Excel rows count from 1
    findings += _formula_findings(facts.formulas, grid, header_at + 1, header_at + 1 + last, header)
    sheet = Sheet(
        name, str(worksheet.title), "Excel", [header[i] for i in keep], columns, rows, [], [], None, None, False, data
    )
    sheet.cell_findings = findings
    return sheet


def _merged_findings(grid: list[list], merged: list, header_row: int, header: list[str]) -> list[tuple]:
    """Merged ranges below the header are filled down with their first cell's value, as the sheet
    shows them; each range is said, with what was done."""
    from openpyxl.utils.cell import get_column_letter

    findings = []
    for ref, first_column, first_row, last_column, last_row in merged:
        value = grid[first_row - 1][first_column - 1] if first_row <= len(grid) else None
        column = header[first_column - 1] if first_column <= len(header) and header[first_column - 1] else None
        first = f"{get_column_letter(first_column)}{first_row}"
        if first_row > header_row and last_row > first_row and value is not None:
            for row in range(first_row, min(last_row, len(grid)) + 1):
                grid[row - 1][first_column - 1] = value
            others = "; its other columns are left empty" if last_column > first_column else ""
            findings.append(
                (
                    WARNING,
                    first_row,
                    column,
                    value,
                    f"cells {ref} are merged; the value of {first} was "
                    f"used in each of rows {first_row}-{last_row}{others}",
                    VALUE_FILLED,
                )
            )
        else:
            findings.append(
                (
                    NOTE,
                    first_row if first_row > header_row else None,
                    column,
                    value,
                    f"cells {ref} are merged; only {first} holds a value, and the other cells are read as empty",
                    NO_ACTION,
                )
            )
    return findings


def _formula_findings(
    formulas: dict, grid: list[list], header_row: int, last_row: int, header: list[str]
) -> list[tuple]:
    """A formula without a stored result reads as empty, and is said cell by cell; formulas with
    results are said once per column."""
    from openpyxl.utils.cell import get_column_letter

    findings, with_results = [], {}
    for (row, column_number), (formula, stored) in sorted(formulas.items()):
        if not header_row < row <= last_row or column_number > len(header):
            continue
        column = header[column_number - 1] or None
        cell = f"{get_column_letter(column_number)}{row}"
        if stored:
            with_results.setdefault(column, []).append((cell, formula, grid[row - 1][column_number - 1]))
            continue
        findings.append(
            (
                WARNING,
                row,
                column,
                formula,
                f"cell {cell} holds the formula {formula} with no stored "
                "result (the workbook was not saved by a spreadsheet program that calculates); it is read "
                "as empty: open and save it in Excel or LibreOffice first",
                SET_MISSING,
            )
        )
    for column, cells in with_results.items():
        cell, formula, value = cells[0]
        counted = f"{len(cells):,} cell" + ("s" if len(cells) > 1 else "")
        findings.append(
            (
                NOTE,
                None,
                column,
                None,
                f"{counted} with a formula: the results stored in the workbook were "
                f"read (e.g. {cell}: {formula} gave {value if value is not None else 'nothing'})",
                NO_ACTION,
            )
        )
    return findings


def _cell_text(value) -> str | None:
    """A cell as text: whole numbers without '.0', dates as ISO, empty cells (and NA, NULL, ...) missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    text = str(value)
    return text if text.strip() and text.strip() not in NULL_MARKERS else None


def read_parquet(name: str, data: bytes, expansion: Expansion | None = None) -> Sheet:
    """A Parquet file's columns as text, decoded within the same limits as a compressed file.

    A few kilobytes of Parquet can decode to gigabytes (a million copies of one value take a few
    bytes in a dictionary page). What the file's metadata says it decodes to at least (its row
    groups' uncompressed size, and its row count times the width of each column's values) is held
    against the limits before anything is decoded; then the file is decoded a batch of rows at a
    time, each batch counted, so that a file whose long values the metadata does not show is
    stopped a batch after it crosses a limit.
    """
    import pyarrow.parquet as pq

    expansion = expansion or Expansion()
    limits = Expansion(replace(expansion.limits, ratio=expansion.limits.ratio * PARQUET_RATIO_FACTOR))
    limits.total = expansion.total
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        limits.check(parquet_decoded_floor(parquet.metadata), len(data), name)
        text = [field.name for field in parquet.schema_arrow if _is_text(field.type)]
        if text:  # text is read as dictionaries, so that its size is known before it is spelled out
            parquet = pq.ParquetFile(pa.BufferReader(data), read_dictionary=text)
        names, columns, notes, decoded = _parquet_columns(name, parquet, limits, len(data))
    except ExpansionRefused:
        raise
    except Exception as error:  # pyarrow raises several kinds for damaged files
        raise ReadError(f"not a readable Parquet file ({type(error).__name__}: {error})") from error
    expansion.total += decoded
    rows = np.arange(2, 2 + parquet.metadata.num_rows, dtype=np.int64)
    info = ["rows are counted as in a CSV export of the file: the first record is row 2"]
    return Sheet(name, None, "Parquet", names, columns, rows, [], notes, None, None, False, data, info)


# Parquet decodes to more than CSV shrinks to: the demo's tables 10-27 times their file's size, a
# sparse export (60 of 80 columns empty) 62 times; a Parquet bomb, thousands of times.
PARQUET_RATIO_FACTOR = 5
PARQUET_BATCH_ROWS = 65536
# Bytes one value takes at least once decoded, by Parquet's physical type (text: its offset).
PARQUET_VALUE_BYTES = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8, "BYTE_ARRAY": 4}


def parquet_decoded_floor(metadata) -> int:
    """The bytes a Parquet file decodes to at least, from its metadata alone: each row group's
    uncompressed size, or its rows times the width of its columns' values if that is more."""
    floor = 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        width = 0
        for column in range(group.num_columns):
            chunk = group.column(column)
            if chunk.physical_type == "FIXED_LEN_BYTE_ARRAY":
                width += max(metadata.schema.column(column).length or 1, 1)
            else:
                width += PARQUET_VALUE_BYTES.get(chunk.physical_type, 1)
        floor += max(group.total_byte_size, group.num_rows * width)
    return floor


def _parquet_columns(
    name: str, parquet, limits: Expansion, compressed: int
) -> tuple[list[str], list[pa.Array], list[str], int]:
    """Every readable column as text, decoded a batch at a time; a column that cannot be read as
    text (nested values) is named in a note."""
    schema = parquet.schema_arrow
    nested = [field.name for field in schema if pa.types.is_nested(field.type)]
    notes = [f"column {column} holds nested values and was not read" for column in nested]
    wanted = [field.name for field in schema if field.name not in nested]
    chunks: dict[int, list[pa.Array]] = {position: [] for position in range(len(wanted))}
    decoded = 0
    batches = parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted if nested else None, use_threads=False)
    for batch in batches if wanted else ():
        decoded += sum(_decoded_bytes(column) for column in batch.columns)
        limits.check(decoded, compressed, name)
        for position, column in enumerate(batch.columns):
            if position not in chunks:
                continue
            try:
                chunks[position].append(_parquet_text(pa.chunked_array([column])))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                notes.append(f"column {wanted[position]} holds values that cannot be read as text and was not read")
                del chunks[position]
    names = [clean_name(wanted[position]) for position in chunks]
    columns = [pa.concat_arrays(parts) if parts else pa.array([], pa.string()) for parts in chunks.values()]
    return names, columns, notes, decoded


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)


def _decoded_bytes(column: pa.Array) -> int:
    """The bytes a column of a batch takes once its values are spelled out (a dictionary decoded)."""
    if not pa.types.is_dictionary(column.type):
        return column.nbytes
    lengths = pc.take(pc.binary_length(column.dictionary), column.indices)
    return 4 * len(column) + (pc.sum(lengths).as_py() or 0)


def _parquet_text(column: pa.ChunkedArray) -> pa.Array:
    column = (
        column.combine_chunks()
        if column.num_chunks != 1
        else column.chunk(0)
        if column.num_chunks
        else pa.array([], column.type)
    )
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_timestamp(column.type):
        return pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
    if pa.types.is_boolean(column.type):
        return pc.if_else(column, "yes", "no")
    if pa.types.is_floating(column.type):
        whole = pc.and_(pc.is_finite(column), pc.equal(pc.floor(column), column))
        as_int = pc.cast(pc.if_else(whole, column, pa.scalar(None, column.type)), pa.int64(), safe=False)
        return pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(column, pa.string()))
    return column.cast(pa.string())
