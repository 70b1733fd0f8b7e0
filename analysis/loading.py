"""Loading the canonical CSV files (a folder, a .zip, or uploaded bytes) into a validated cohort.

The app's upload, the command line and notebooks share `load_tables`. Loading never raises for
bad input: what is wrong with a file becomes a finding in the report, and only valid rows reach
the cohort (the policy is in `analysis.validation`). Files are read by pyarrow as text, then
typed and checked column by column, so a million rows cost no Python loop.
"""
from __future__ import annotations

import codecs
import hashlib
import io
import logging
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .cohort import Cohort, build_cohort
from .schema import TABLES
from .validation import (
    ERROR, FILE_IGNORED, NOT_LOADED, WARNING, RawTable, ReportBuilder, ValidationReport, file_problem, validate_tables,
)

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
DEMO_SOURCE = "Synthetic demo cohort"
TABLE_FILES = {f"{name}.csv": name for name in TABLES}
# Cell texts that mean "no value", as spreadsheets and statistics packages write them.
NULL_MARKERS = ["", "NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "#N/A"]
DELIMITERS = (b",", b";", b"\t")
SNIFF_BYTES = 65536
MAX_UNZIPPED_BYTES = 8 * 2**30
EMPTY_FILE = "the file is empty"

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    """The cohort (None when the data cannot be loaded) and the report on the input."""

    cohort: Cohort | None
    report: ValidationReport

    @property
    def ok(self) -> bool:
        return self.cohort is not None


class BundleError(Exception):
    """A bundle that cannot be opened at all; the message is meant for the user."""


def load_demo() -> LoadResult:
    """The bundled synthetic cohort the app opens on (its folder's README is not data)."""
    files = {name: (DEMO_DIR / name).read_bytes() for name in TABLE_FILES if (DEMO_DIR / name).is_file()}
    return load_tables(files, DEMO_SOURCE, synthetic=True)


def load_bundle(path: str | Path, source: str | None = None, synthetic: bool = False) -> LoadResult:
    """Loads a folder, a .zip or a single CSV file holding courses.csv and optionally the other tables."""
    path = Path(path)
    try:
        files = read_bundle(path)
    except BundleError as error:
        builder = ReportBuilder()
        builder.add(ERROR, path.name or str(path), str(error), action=NOT_LOADED)
        return LoadResult(None, builder.build())
    return load_tables(files, source or path.name, synthetic)


def read_bundle(path: Path) -> dict[str, bytes]:
    """File name -> bytes of the files in a folder (not its subfolders), or of one file.

    Files of a folder that cannot be tables are listed, to be reported, but not read.
    """
    try:
        if path.is_dir():
            return {entry.name: entry.read_bytes() if _may_hold_tables(entry.name) else b""
                    for entry in sorted(path.iterdir()) if entry.is_file() and not _is_hidden(entry.name)}
        if not path.exists():
            raise BundleError(f"there is no file or folder {path}")
        return {path.name: path.read_bytes()}
    except OSError as error:
        raise BundleError(f"the file or folder could not be read ({error.strerror or error})") from error


def load_tables(files: dict[str, bytes], source: str, synthetic: bool = False) -> LoadResult:
    """Loads file name -> bytes (CSV files, or a .zip holding them): the shared path of every loader."""
    builder = ReportBuilder()
    try:
        return _load(files, source, synthetic, builder)
    except Exception as error:  # a defect, not bad input: report it rather than crash the page
        log.exception("loading %s failed", source)
        builder.add(ERROR, source, f"internal error while loading ({type(error).__name__}: {error}); please report it",
                    action=NOT_LOADED)
        return LoadResult(None, builder.build())


def _load(files: dict[str, bytes], source: str, synthetic: bool, builder: ReportBuilder) -> LoadResult:
    chosen = choose_table_files(expand_archives(files, builder), builder)
    if "courses" not in chosen:
        file_problem(builder, "courses", "courses.csv", "the file is missing; every dataset needs it")
    raw_tables = {}
    for table, (name, data) in chosen.items():
        builder.rows_read[name] = 0  # files are listed in table order, even those unread
        read = read_csv(table, name, data)
        if isinstance(read, str):
            file_problem(builder, table, name, read, empty=read == EMPTY_FILE)
        else:
            raw_tables[table] = read
    tables = validate_tables(raw_tables, builder)
    cohort = None if tables is None else build_cohort(tables, source, synthetic, fingerprint(chosen))
    return LoadResult(cohort, builder.build())


def fingerprint(chosen: dict[str, tuple[str, bytes]]) -> str:
    """SHA-256 of the tables' bytes, in table-name order, each preceded by its name and size."""
    digest = hashlib.sha256()
    for table in sorted(chosen):
        data = chosen[table][1]
        digest.update(f"{table}.csv\n{len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Which files are which tables


def expand_archives(files: dict[str, bytes], builder: ReportBuilder) -> dict[str, bytes]:
    """The files with each .zip replaced by its members; an unreadable zip is reported."""
    expanded: dict[str, bytes] = {}
    for name, data in files.items():
        if not name.lower().endswith(".zip"):
            expanded.setdefault(name, data)
            continue
        try:
            for member, content in unzip(data).items():
                expanded.setdefault(member, content)
        except BundleError as error:
            builder.add(ERROR, name, str(error), action=FILE_IGNORED)
    return expanded


def unzip(data: bytes) -> dict[str, bytes]:
    """Member file name (without folders) -> bytes; hidden files and folders are skipped."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir() and not _is_hidden(m.filename)]
            if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
                raise BundleError(f"the archive unpacks to more than {MAX_UNZIPPED_BYTES // 2**30} GB")
            files: dict[str, bytes] = {}
            for member in members:
                base = re.split(r"[\\/]", member.filename)[-1]
                files[base if base not in files else member.filename] = archive.read(member)
            return files
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError, EOFError, OSError,
            ValueError, zlib.error) as error:
        raise BundleError(f"not a readable zip archive ({error})") from error


def _may_hold_tables(name: str) -> bool:
    return name.lower() in TABLE_FILES or name.lower().endswith(".zip")


def _is_hidden(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in re.split(r"[\\/]", name) if part)


def choose_table_files(files: dict[str, bytes], builder: ReportBuilder) -> dict[str, tuple[str, bytes]]:
    """Table -> (file name, bytes), names matched in any letter case; other files are reported."""
    chosen: dict[str, tuple[str, bytes]] = {}
    for name, data in files.items():
        table = TABLE_FILES.get(re.split(r"[\\/]", name)[-1].lower())
        if table is None:
            builder.add(WARNING, name, f"not one of {', '.join(TABLE_FILES)}; the file is ignored", action=FILE_IGNORED)
        elif table in chosen:
            builder.add(WARNING, name, f"a second {table}.csv; only {chosen[table][0]} is read", action=FILE_IGNORED)
        else:
            chosen[table] = (name, data)
    return {table: chosen[table] for table in TABLES if table in chosen}


# ---------------------------------------------------------------------------------------------
# One CSV file


def read_csv(table: str, file: str, data: bytes) -> RawTable | str:
    """Every column of a CSV file as text, or a plain reason why the file cannot be read."""
    if not data[:SNIFF_BYTES].strip() and not data.strip():
        return EMPTY_FILE
    kind = _binary_kind(data)
    if kind:
        return f"the file is {kind}, not CSV text"
    data, notes = _utf8(data)
    try:
        return _read_text(table, file, data, notes)
    except pa.ArrowException as error:
        return _unreadable(error)


def _unreadable(error: Exception) -> str:
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"the file could not be read as CSV ({detail})"


def _binary_kind(data: bytes) -> str | None:
    if data.startswith(b"PK\x03\x04"):
        return "a zip archive or an Excel workbook"
    if data.startswith(b"PAR1"):
        return "a Parquet file"
    if not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and b"\x00" in data[:SNIFF_BYTES]:
        return "binary data"
    return None


def _utf8(data: bytes) -> tuple[bytes, list[str]]:
    """The bytes as UTF-8, from UTF-16 (Excel's 'Unicode text') or Windows-1252 (older exports) if need be."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace").encode(), []
    if is_utf8(data):
        return data, []
    note = "the file is not UTF-8 text; it was read as Windows-1252, so check accented letters"
    return data.decode("cp1252", errors="replace").encode(), [note]


def is_utf8(data: bytes) -> bool:
    """Checked by pyarrow over the bytes in place: milliseconds for a large file."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64).tobytes())
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _read_text(table: str, file: str, data: bytes, notes: list[str]) -> RawTable:
    delimiter = _sniff_delimiter(data)
    malformed: list[tuple[int | None, int, str]] = []
    parsed = _parse(data, delimiter, malformed, threads=True)
    if malformed:  # only a single-threaded read knows the row numbers of malformed lines
        malformed.clear()
        parsed = _parse(data, delimiter, malformed, threads=False)
    header = parsed.slice(0, 1).to_pylist()[0] if parsed.num_rows else {}
    records = parsed.slice(1)
    return RawTable(
        table=table,
        file=file,
        names=[header.get(name) or "" for name in parsed.column_names],
        columns=[_as_text(records.column(i)) for i in range(records.num_columns)],
        rows=record_rows(records.num_rows, [row for row, _, _ in malformed]),
        malformed=malformed,
        notes=notes,
    )


def _sniff_delimiter(data: bytes) -> str:
    """Comma unless the header line holds more semicolons or tabs (as some spreadsheet locales write)."""
    first_line = data[:SNIFF_BYTES].split(b"\n", 1)[0]
    return max(DELIMITERS, key=first_line.count).decode()


def _parse(data: bytes, delimiter: str, malformed: list, threads: bool, block_size: int | None = None) -> pa.Table:
    """The file's records (header included, as the first) with every column as text."""
    def skip(row) -> str:
        malformed.append((row.number, row.actual_columns, row.text))
        return "skip"

    read_options = pacsv.ReadOptions(use_threads=threads, autogenerate_column_names=True,
                                     **({"block_size": block_size} if block_size else {}))
    # Quoted cells may hold line breaks; without any quote the faster line-per-record parser is exact.
    parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=b'"' in data, ignore_empty_lines=False,
                                       invalid_row_handler=skip)
    width = data[:SNIFF_BYTES].count(delimiter.encode()) + 1  # at least the header's number of columns
    convert_options = pacsv.ConvertOptions(column_types={f"f{i}": pa.string() for i in range(width)},
                                           null_values=NULL_MARKERS, strings_can_be_null=True,
                                           quoted_strings_can_be_null=False)
    try:
        return pacsv.read_csv(pa.BufferReader(data), read_options, parse_options, convert_options)
    except pa.ArrowInvalid as error:
        if "straddl" not in str(error) or block_size:
            raise
        malformed.clear()  # a cell longer than a block (an unclosed quote): read the file as one block
        return _parse(data, delimiter, malformed, threads, block_size=min(len(data) + 1, 2**31 - 1))


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column if column.type == pa.string() else column.cast(pa.string())


def record_rows(records: int, malformed_rows: list[int | None]) -> np.ndarray:
    """Each kept record's row in the file: rows from 2 on, less those of the malformed lines."""
    known = np.array([row for row in malformed_rows if row is not None], dtype=np.int64)
    rows = np.arange(2, 2 + records + len(known), dtype=np.int64)
    if len(known):
        rows = rows[~np.isin(rows, known)]
    return rows if len(rows) == records else np.arange(2, 2 + records, dtype=np.int64)
