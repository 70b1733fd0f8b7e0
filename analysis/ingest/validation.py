"""Validation of the canonical tables, and the report that names each problem's file, row and column.

Policy. Nothing valid is dropped silently: every excluded row is counted under its reason in
`ValidationReport.excluded`, so that for every file rows_read == rows_kept + rows excluded.

| problem                                                                | severity | action               |
|------------------------------------------------------------------------|----------|----------------------|
| courses.csv absent, unreadable, empty, header-only or left with no row | error    | dataset not loaded   |
| courses.csv lacks patient_id or sex, or has neither age nor age_band   | error    | dataset not loaded   |
| another table lacks a required column, or cannot be read               | error    | file ignored         |
| another table is empty or header-only                                  | warning  | none                 |
| a file that is not one of the four tables                              | warning  | file ignored         |
| a file not in UTF-8 (read as Windows-1252)                             | warning  | none                 |
| a line with more or fewer values than the header                       | error    | row excluded         |
| an empty row                                                           | warning  | row excluded         |
| a required or key cell empty, of the wrong type or out of range        | error    | row excluded         |
|   (e.g. visit day before -365, IGA 7, age 250 with no age_band)        |          |                      |
| an optional cell of the wrong type, not allowed or out of range        | warning  | value set to missing |
|   (e.g. weight 5, end_day below 0; age when age_band is valid)         |          |                      |
| a course key (patient_id, course_number) repeated in courses           | error    | row excluded (the first valid row is kept) |
| a visit, adverse event or lab row whose course is not loaded           | error    | row excluded         |
| resolved_day before onset_day                                          | warning  | value set to missing |
| relapse_day, retreat_day or followup_end_day before end_day            | warning  | none (kept as recorded) |
| an unknown column in courses                                           | -        | kept as a custom field |
| a text cell that looks like a spreadsheet formula (=..., @...)         | warning  | kept as plain text   |
| an invisible character (U+200B, a byte order mark, a control character) | warning | value changed (removed) |
| letters of another script that look like Latin ones (Cyrillic Р)       | error    | kept as written      |
| a workbook formula with no stored result                               | warning  | value set to missing |
| a merged range of workbook cells below the header                      | warning  | value filled in      |
| a compressed file past a decompression limit, an unsafe archive member | error    | file ignored         |
| an unknown column elsewhere; a repeated or unnamed column; a custom    | warning  | column ignored       |
|   column named like a derived field                                    |          |                      |

`ValidationReport.used_as_written` is false when any finding excluded a row or ignored, set to
missing, filled in or changed a value, or is an error: then `validate` exits 1.

Key columns are patient_id and course_number (and day in visits); an empty course_number means 1.
Rows are numbered as a spreadsheet shows the file: the header is row 1, the first data row is
row 2, and a quoted cell holding a line break stays within its row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.ingest import characters as chars
from analysis.ingest.keys import CourseKeys, is_member
from analysis.ingest.progress import release_memory
from analysis.ingest.vocabulary import SAME_UNITS
from analysis.schema import COURSE_KEY, DERIVED_COURSE_COLUMNS, SPECS, TABLES, ColumnSpec, TableSpec
from analysis.stats.suppression import how_many

ERROR, WARNING = "error", "warning"
NOTE = "note"  # what the loader did to an upload that the user should know (not a problem)
ROW_EXCLUDED = "row excluded"
SET_MISSING = "value set to missing"
FILE_IGNORED = "file ignored"
COLUMN_IGNORED = "column ignored"
NOT_LOADED = "dataset not loaded"
NO_ACTION = "none"
VALUE_FILLED = "value filled in"  # a merged spreadsheet range: its value used on each of its rows
VALUE_CHANGED = "value changed"  # invisible characters removed from a cell
COLUMN_DROPPED = "column dropped"  # a column of direct identifiers
# What a finding did that means a value was not used as written (a note never counts).
NOT_AS_WRITTEN = (
    ROW_EXCLUDED,
    SET_MISSING,
    VALUE_CHANGED,
    VALUE_FILLED,
    FILE_IGNORED,
    COLUMN_IGNORED,
    COLUMN_DROPPED,
    NOT_LOADED,
)

ISSUE_COLUMNS = ("severity", "file", "row", "column", "value", "message", "action")
ISSUE_SCHEMA = pa.schema([(name, pa.int64() if name == "row" else pa.string()) for name in ISSUE_COLUMNS])
VALUE_WIDTH = 60
LABELS = {"iga": "IGA", "baseline_iga": "Baseline IGA", "phq9": "PHQ-9"}

NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
DATE_TIME_PATTERN = r"^(\d{4}-\d{2}-\d{2})[T ].*$"
EARLIEST_YEAR, LATEST_YEAR = 1900, 2100
YESNO = ("yes", "no")
# Spellings accepted for a category besides its values in any letter case.
SYNONYMS = {
    "sex": {"female": "F", "male": "M"},
    "yesno": {"y": "yes", "true": "yes", "t": "yes", "1": "yes", "n": "no", "false": "no", "f": "no", "0": "no"},
}
# A later day that should not come before an earlier one: (table, later, earlier, action).
DAY_ORDER_RULES = (
    ("adverse_events", "resolved_day", "onset_day", SET_MISSING),
    ("courses", "relapse_day", "end_day", NO_ACTION),
    ("courses", "retreat_day", "end_day", NO_ACTION),
    ("courses", "followup_end_day", "end_day", NO_ACTION),
)
ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "date": pa.timestamp("ns")}
PANDAS_TYPES = {pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype()}


# ---------------------------------------------------------------------------------------------
# The report


@dataclass
class ValidationReport:
    """Every finding about an input, and how many rows of each file were read, kept and excluded."""

    issues: pd.DataFrame
    rows_read: dict[str, int] = field(default_factory=dict)
    rows_kept: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, dict[str, int]] = field(default_factory=dict)
    read_as: dict[str, str] = field(default_factory=dict)  # file -> how it was read (format, encoding, delimiter)

    @property
    def note_count(self) -> int:
        return int((self.issues["severity"] == NOTE).sum())

    @property
    def error_count(self) -> int:
        return int((self.issues["severity"] == ERROR).sum())

    @property
    def warning_count(self) -> int:
        return int((self.issues["severity"] == WARNING).sum())

    @property
    def has_errors(self) -> bool:
        return self.error_count > 0

    @property
    def used_as_written(self) -> bool:
        """No error, no row excluded and no value lost or changed: notes (an encoding guess, a unit
        removed, formulas' stored results read) and warnings that change nothing are allowed."""
        return (
            self.error_count == 0 and not self._problem_actions().isin(NOT_AS_WRITTEN).any() and self.rows_excluded == 0
        )

    @property
    def rows_excluded(self) -> int:
        return sum(sum(reasons.values()) for reasons in self.excluded.values())

    def _problem_actions(self) -> pd.Series:
        return self.issues.loc[self.issues["severity"] != NOTE, "action"].astype(str)

    def file_counts(self) -> dict:
        """Each file's rows read, rows kept, and rows left out by reason."""
        return {
            file: {
                "rows_read": read,
                "rows_kept": self.rows_kept.get(file, 0),
                "excluded": dict(self.excluded.get(file, {})),
            }
            for file, read in self.rows_read.items()
        }

    def counts(self) -> dict:
        """How much of the input was used as written: the command line's `validation` section."""
        actions = self._problem_actions().value_counts()
        return {
            "used_as_written": self.used_as_written,
            "errors": self.error_count,
            "warnings": self.warning_count,
            "notes": self.note_count,
            "rows_read": sum(self.rows_read.values()),
            "rows_kept": sum(self.rows_kept.values()),
            "rows_excluded": self.rows_excluded,
            "values_set_missing": int(actions.get(SET_MISSING, 0)),
            "values_changed": int(actions.get(VALUE_CHANGED, 0) + actions.get(VALUE_FILLED, 0)),
            "files_ignored": int(actions.get(FILE_IGNORED, 0)),
            "columns_ignored": int(actions.get(COLUMN_IGNORED, 0) + actions.get(COLUMN_DROPPED, 0)),
            "files": self.file_counts(),
        }

    @property
    def dataset_loaded(self) -> bool:
        return not (self.issues["action"] == NOT_LOADED).any()

    def summary_lines(self) -> list[str]:
        """A few sentences: per file, rows read, kept and excluded and why; then the totals."""
        lines = [self._file_line(file) for file in self.rows_read]
        file_level = self.issues[self.issues["row"].isna() & (self.issues["severity"] == ERROR)]
        lines += [f"{issue.file}: {issue.message}." for issue in file_level.itertuples()]
        if not self.dataset_loaded:
            lines.append(self._not_loaded_line())
        lines.append(self._totals_line())
        return lines

    def _not_loaded_line(self) -> str:
        stopping = [str(file) for file in dict.fromkeys(self.issues.loc[self.issues["action"] == NOT_LOADED, "file"])]
        courses = [file for file in stopping if file.startswith("courses")]
        if courses or not stopping:  # the courses file as it was named (courses.csv, courses.parquet, ...)
            return (
                f"No data loaded: {courses[0] if courses else 'courses.csv'} is needed and has problems listed above."
            )
        return f"No data loaded: see the problem with {', '.join(stopping)} above."

    def _file_line(self, file: str) -> str:
        read, kept = self.rows_read[file], self.rows_kept.get(file, 0)
        reasons = sorted(self.excluded.get(file, {}).items(), key=lambda item: -item[1])
        line = f"{file}: {_plural(read, 'row')} read, {kept:,} kept"
        if reasons:
            why = ", ".join(f"{count:,} {reason}" for reason, count in reasons)
            line += f", {read - kept:,} excluded ({why})"
        return line + "."

    def _totals_line(self) -> str:
        if self.error_count + self.warning_count == 0:
            return "No problems found."
        return f"{_plural(self.error_count, 'error')} and {_plural(self.warning_count, 'warning')}."

    def reading_lines(self) -> list[str]:
        """How each file was read: 'visits.csv: CSV, Windows-1252, semicolon-separated, decimal commas'."""
        return [f"{file}: {how}" for file, how in self.read_as.items()]

    def finding_lines(self, limit: int | None = None) -> list[str]:
        """Findings as `file:row column: message [severity; action]`, the first `limit` of them."""
        return format_findings(self.issues if limit is None else self.issues.head(limit))

    def to_frame(self) -> pd.DataFrame:
        return self.issues.copy()

    def to_dict(self, max_issues: int | None = None) -> dict:
        """JSON-ready: counts per file, and the findings (the first `max_issues` if given)."""
        issues = self.issues if max_issues is None else self.issues.head(max_issues)
        return {
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "dataset_loaded": self.dataset_loaded,
            "files": self.file_counts(),
            "read_as": dict(self.read_as),
            "issue_count": len(self.issues),
            "issues": _records(issues),
        }


def _plural(count: int, noun: str) -> str:
    return how_many(count, noun)


def format_findings(issues: pd.DataFrame) -> list[str]:
    """One line per finding, joined column-wise by pyarrow so that a million findings print quickly."""
    table = pa.Table.from_pandas(issues[list(ISSUE_COLUMNS)], preserve_index=False)
    text = {name: pc.cast(table[name], pa.string()) for name in ISSUE_COLUMNS}
    row = pc.fill_null(pc.binary_join_element_wise(":", text["row"], ""), "")
    column = pc.fill_null(pc.binary_join_element_wise(" ", text["column"], ""), "")
    outcome = pc.if_else(
        pc.equal(text["action"], NO_ACTION),
        text["severity"],
        pc.binary_join_element_wise(text["severity"], text["action"], "; "),
    )
    lines = pc.binary_join_element_wise(text["file"], row, column, ": ", text["message"], " [", outcome, "]", "")
    return lines.to_pylist()


def _records(issues: pd.DataFrame) -> list[dict]:
    plain = issues.astype(object)
    return plain.where(plain.notna(), None).to_dict("records")


class ReportBuilder:
    """Collects findings a column at a time, so a million bad cells cost a few arrays, not objects."""

    def __init__(self) -> None:
        self._chunks: list[pa.Table] = []
        self.rows_read: dict[str, int] = {}
        self.rows_kept: dict[str, int] = {}
        self.excluded: dict[str, Counter] = {}
        self.read_as: dict[str, str] = {}

    def add(
        self,
        severity: str,
        file: str,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
        action: str = NO_ACTION,
    ) -> None:
        """One finding; row None means the whole file."""
        self.add_many(
            severity,
            file,
            pa.array([row], pa.int64()),
            pa.array([value], pa.string()),
            message,
            column=column,
            action=action,
        )

    def add_many(
        self,
        severity: str,
        file: str,
        rows,
        values: pa.Array,
        messages,
        *,
        column: str | None = None,
        action: str = NO_ACTION,
    ) -> None:
        """Findings for many rows at once; messages is one text for all or one per row."""
        count = len(values)
        if count == 0:
            return
        self._chunks.append(
            pa.table(
                {
                    "severity": pa.repeat(severity, count),
                    "file": pa.repeat(file, count),
                    "row": pa.array(rows, pa.int64()),
                    "column": pa.repeat(pa.scalar(column, pa.string()), count),
                    "value": display_text(values),
                    "message": pa.repeat(messages, count) if isinstance(messages, str) else messages,
                    "action": pa.repeat(action, count),
                },
                schema=ISSUE_SCHEMA,
            )
        )

    def count_excluded(self, file: str, reason: str, count: int) -> None:
        if count:
            self.excluded.setdefault(file, Counter())[reason] += int(count)

    def build(self) -> ValidationReport:
        table = pa.concat_tables(self._chunks) if self._chunks else ISSUE_SCHEMA.empty_table()
        return ValidationReport(
            issues=_issues_frame(table.combine_chunks(), list(self.rows_read)),
            rows_read=dict(self.rows_read),
            rows_kept={file: self.rows_kept.get(file, 0) for file in self.rows_read},
            excluded={file: dict(counts) for file, counts in self.excluded.items()},
            read_as=dict(self.read_as),
        )


def _issues_frame(table: pa.Table, file_order: list[str]) -> pd.DataFrame:
    """Findings ordered by file (tables first, in order) and row; repeated labels become categories."""
    for name in ("severity", "file", "column", "action"):
        table = table.set_column(table.schema.get_field_index(name), name, pc.dictionary_encode(table[name]))
    mapper = {pa.string(): pd.StringDtype("pyarrow"), pa.int64(): pd.Int64Dtype()}.get
    frame = table.to_pandas(types_mapper=mapper)
    files = frame["file"].cat.categories
    rank = np.array([file_order.index(f) if f in file_order else len(file_order) + i for i, f in enumerate(files)])
    file_rank = rank[frame["file"].cat.codes.to_numpy()] if len(frame) else np.array([], dtype=np.int64)
    order = np.lexsort((frame["row"].fillna(0).to_numpy(), file_rank))
    return frame.iloc[order].reset_index(drop=True)


def display_text(values: pa.Array) -> pa.Array:
    """Cell text fit for one line of a report: line breaks as spaces, long text shortened."""
    values = pc.cast(values, pa.string())
    flat = pc.replace_substring_regex(values, r"[\r\n]+", " ")
    long = pc.greater(pc.utf8_length(flat), VALUE_WIDTH)
    shortened = pc.binary_join_element_wise(pc.utf8_slice_codeunits(flat, 0, VALUE_WIDTH - 3), "...", "")
    return pc.if_else(long, shortened, flat)


# ---------------------------------------------------------------------------------------------
# One column: from cell text to typed values


def label(column: str) -> str:
    return LABELS.get(column, column)


def expectation(spec: ColumnSpec) -> str:
    """What a valid value looks like, in words: 'a whole number from 0 to 4'."""
    if spec.kind in ("int", "float"):
        return ("a whole number" if spec.kind == "int" else "a number") + _bounds(spec)
    if spec.kind == "category":
        return "one of " + ", ".join(spec.allowed)
    if spec.kind == "yesno":
        return "yes or no"
    if spec.kind == "date":
        return f"a date written YYYY-MM-DD, from {EARLIEST_YEAR} to {LATEST_YEAR}"
    return "text"


def _bounds(spec: ColumnSpec) -> str:
    if spec.minimum is not None and spec.maximum is not None:
        return f" from {spec.minimum:g} to {spec.maximum:g}"
    if spec.minimum is not None:
        return f" of at least {spec.minimum:g}"
    return f" of at most {spec.maximum:g}" if spec.maximum is not None else ""


def clean_text(values: pa.Array) -> pa.Array:
    """Cell text without surrounding blanks; an empty cell is missing (dictionary-encoded text is
    cleaned once per distinct value)."""
    if pa.types.is_dictionary(values.type):
        return per_distinct(values, clean_text)
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def parse_column(raw: pa.Array, spec: ColumnSpec) -> tuple[pa.Array, pa.Array]:
    """Typed values (missing where a cell is empty or not valid) and the cell text they were read from.

    The text is trimmed of blanks, unless the column converts cleanly as it stands: that spares
    a copy of every large numeric column. A column the reader typed already (numbers, or text
    dictionary-encoded) is checked as it is, and dictionary-encoded text once per distinct value.
    """
    if pa.types.is_dictionary(raw.type):
        text = clean_text(raw)
        return per_distinct(text, lambda distinct: PARSERS[spec.kind](distinct, spec)), text
    if raw.type != pa.string():  # the reader typed it only where every value is valid
        return raw, raw
    if spec.kind in CLEAN_WITHOUT_TRIMMING:
        values = PARSERS[spec.kind](raw, spec)
        if values.null_count == raw.null_count:
            return values, raw
    text = clean_text(raw)
    return PARSERS[spec.kind](text, spec), text


def _parse_number(text: pa.Array, spec: ColumnSpec) -> pa.Array:
    numbers = _to_float(text)
    valid = pc.is_finite(numbers)
    if spec.minimum is not None:
        valid = pc.and_(valid, pc.greater_equal(numbers, spec.minimum))
    if spec.maximum is not None:
        valid = pc.and_(valid, pc.less_equal(numbers, spec.maximum))
    if spec.kind == "float":
        return pc.if_else(valid, numbers, pa.scalar(None, pa.float64()))
    whole = pc.and_(pc.equal(pc.floor(numbers), numbers), pc.less_equal(pc.abs(numbers), 2.0**53))
    return pc.cast(pc.if_else(pc.and_(valid, whole), numbers, pa.scalar(None, pa.float64())), pa.int64())


def _to_float(text: pa.Array) -> pa.Array:
    try:  # clean columns convert in one step
        return pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        well_formed = pc.match_substring_regex(text, NUMBER_PATTERN)
        return pc.cast(pc.if_else(well_formed, text, pa.scalar(None, pa.string())), pa.float64())


def _parse_category(text: pa.Array, spec: ColumnSpec) -> pa.Array:
    lookup = category_lookup(spec)
    position = pc.index_in(pc.utf8_lower(text), value_set=pa.array(list(lookup), pa.string()))
    return pc.take(pa.array(list(lookup.values()), pa.string()), position)


@cache
def category_lookup(spec: ColumnSpec) -> dict[str, str]:
    """Accepted spelling (lower case) -> canonical value."""
    allowed = YESNO if spec.kind == "yesno" else spec.allowed
    lookup = {value.lower(): value for value in allowed}
    return lookup | SYNONYMS.get(spec.kind if spec.kind == "yesno" else spec.name, {})


def _parse_date(text: pa.Array, spec: ColumnSpec) -> pa.Array:
    day = pc.replace_substring_regex(text, DATE_TIME_PATTERN, r"\1")  # a time of day is ignored
    stamps = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2021-02-30 over to March; writing the date back catches that.
    exact = pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), day)
    year = pc.year(stamps)
    valid = pc.and_(exact, pc.and_(pc.greater_equal(year, EARLIEST_YEAR), pc.less_equal(year, LATEST_YEAR)))
    return pc.cast(pc.if_else(valid, stamps, pa.scalar(None, stamps.type)), pa.timestamp("ns"))


PARSERS = {
    "int": _parse_number,
    "float": _parse_number,
    "category": _parse_category,
    "yesno": _parse_category,
    "date": _parse_date,
    "text": lambda text, spec: text,
}
CLEAN_WITHOUT_TRIMMING = ("int", "float", "category", "yesno")


def per_distinct(values: pa.DictionaryArray, function) -> pa.DictionaryArray:
    """`function` applied to each distinct value of dictionary-encoded text: the result again
    dictionary-encoded, with distinct values only and missing where the function gives nothing."""
    mapped = function(values.dictionary)
    if mapped.null_count == 0 and mapped.equals(values.dictionary):  # the usual case: every value as it should be
        return values
    encoded = pc.dictionary_encode(mapped) if not pa.types.is_dictionary(mapped.type) else mapped
    return pa.DictionaryArray.from_arrays(pc.take(encoded.indices, values.indices), encoded.dictionary)


def matches(values: pa.Array, pattern: str) -> np.ndarray:
    """Cells matching a regular expression (dictionary-encoded text: tested once per distinct value)."""
    if pa.types.is_dictionary(values.type):
        hits = as_mask(pc.match_substring_regex(values.dictionary, pattern))
        return np.append(hits, False)[pc.fill_null(values.indices, len(hits)).to_numpy(zero_copy_only=False)]
    return as_mask(pc.match_substring_regex(values, pattern))


def as_mask(values: pa.Array) -> np.ndarray:
    """A boolean array as numpy, missing counted as False."""
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


# ---------------------------------------------------------------------------------------------
# One table


@dataclass
class RawTable:
    """One CSV file as read: the header, every column as text, and the row number of each record."""

    table: str  # canonical table name, e.g. "visits"
    file: str  # the file's name in the bundle, e.g. "Visits.csv"
    names: list[str]
    columns: list[pa.Array]  # one per header cell: text, or as the reader typed a canonical file
    rows: np.ndarray  # int64: each record's row in the file (header = row 1)
    malformed: list[tuple[int | None, int, str]] = field(default_factory=list)  # (row, values found, text)
    notes: list[str] = field(default_factory=list)  # remarks made while reading, e.g. the encoding
    extra: tuple[str, ...] = ()  # non-canonical columns a mapping keeps in a table other than courses
    pre_excluded: dict[str, int] = field(default_factory=dict)  # rows a mapping left out, by reason
    relaxed_day_order: bool = False  # event days from a time-to-event file may precede the last dose

    @property
    def rows_read(self) -> int:
        return len(self.rows) + len(self.malformed) + sum(self.pre_excluded.values())


def file_problem(builder: ReportBuilder, table: str, file: str, message: str, *, empty: bool = False) -> None:
    """A whole file unusable: fatal for courses, the file is skipped otherwise."""
    if table == "courses":
        severity, action = ERROR, NOT_LOADED
    else:
        severity, action = (WARNING, NO_ACTION) if empty else (ERROR, FILE_IGNORED)
    builder.add(severity, file, message, action=action)


class CheckedTable:
    """One table under validation: its typed columns, and why each excluded row was excluded."""

    def __init__(
        self, raw: RawTable, spec: TableSpec, columns: dict[str, pa.Array], blank: np.ndarray, builder: ReportBuilder
    ):
        self.spec, self.builder = spec, builder
        self.file, self.rows = raw.file, raw.rows
        self.text = columns  # canonical or custom name -> cell text (trimmed once parsed)
        self.values: dict[str, pa.Array] = {}
        self.custom = tuple(name for name in columns if name not in spec.names)
        self._reason = np.zeros(len(raw.rows), dtype=np.int32)
        self._reasons: list[str] = [""]
        self.blank = blank  # rows whose every cell is empty

    @property
    def kept(self) -> np.ndarray:
        return self._reason == 0

    def exclude(self, mask: np.ndarray, reason: str) -> None:
        """Marks rows excluded, each under the first reason found for it."""
        fresh = mask & self.kept
        if fresh.any():
            self._reasons.append(reason)
            self._reason[fresh] = len(self._reasons) - 1

    def report(
        self,
        mask: np.ndarray,
        severity: str,
        message: str | list,
        *,
        column: str | None = None,
        values: pa.Array | None = None,
        action: str = NO_ACTION,
    ) -> None:
        """Findings for the rows in mask, except blank rows (reported once, as such).

        `message` is a text, or a list of texts and per-row arrays joined once the rows are
        selected, so that a check costs nothing per row that passes it. `values` defaults to
        the column's cell text.
        """
        mask = mask & ~self.blank
        if not mask.any():
            return
        selected = pa.array(mask)
        if values is None and column in self.text:
            values = self.text[column]
        values = pa.nulls(int(mask.sum()), pa.string()) if values is None else values.filter(selected)
        if isinstance(message, list):
            parts = [part if isinstance(part, str) else pc.cast(part.filter(selected), pa.string()) for part in message]
            message = pc.binary_join_element_wise(*parts, "")
        self.builder.add_many(severity, self.file, self.rows[mask], values, message, column=column, action=action)

    def report_cells(self, mask: np.ndarray, column: str, severity: str, action: str) -> None:
        """Cells of a column that are not valid: 'IGA must be a whole number from 0 to 4; found 7'."""
        expected = f"{label(column)} must be {expectation(self.spec.column(column))}; found "
        self.report(mask, severity, [expected, self.text[column]], column=column, action=action)

    def finish(self) -> pd.DataFrame:
        """The kept rows as a typed DataFrame with every canonical column, indexed by file row;
        text the reader dictionary-encoded comes as categoricals (categories as read)."""
        self.count_rows()
        size = len(self.rows)
        columns = {
            spec.name: self.values.get(spec.name, pa.nulls(size, ARROW_TYPES.get(spec.kind, pa.string())))
            for spec in self.spec.columns
        }
        columns |= {name: self.text[name] for name in self.custom}
        kept = self.kept
        table = pa.table(columns)
        table = table if kept.all() else table.filter(pa.array(kept))
        # The cells as read go as soon as the frame holds them, a column at a time.
        self.text, self.values = {}, {}
        del columns
        frame = table.to_pandas(types_mapper=PANDAS_TYPES.get, self_destruct=True)
        del table
        frame.index = pd.Index(self.rows[kept], name="row")
        return frame

    def count_rows(self) -> None:
        kept = self.kept
        self.builder.rows_kept[self.file] = int(kept.sum())
        counts = np.bincount(self._reason, minlength=len(self._reasons))
        for code in np.flatnonzero(counts[1:]) + 1:
            self.builder.count_excluded(self.file, self._reasons[code], counts[code])


def check_table(raw: RawTable, builder: ReportBuilder) -> CheckedTable | None:
    """Types and checks one table's cells; None when the file cannot be used at all."""
    spec = SPECS[raw.table]
    builder.rows_read[raw.file] = raw.rows_read
    for reason, count in raw.pre_excluded.items():
        builder.count_excluded(raw.file, reason, count)
    for note in raw.notes:
        builder.add(WARNING, raw.file, note)
    _report_malformed(raw, builder)
    if raw.rows_read == 0:
        file_problem(builder, raw.table, raw.file, "the file has a header row but no data rows", empty=True)
        return None
    columns = _usable_columns(raw.file, raw.names, raw.columns, spec, builder, raw.extra)
    missing = missing_columns(spec, columns)
    if missing:
        found = _listed([name for name in raw.names if name]) or "none"
        file_problem(builder, raw.table, raw.file, f"{missing}; the columns found are: {found}")
        builder.count_excluded(raw.file, "file ignored (required column missing)", len(raw.rows))
        return None
    blank = np.logical_and.reduce([as_mask(pc.is_null(column)) for column in raw.columns])
    table = CheckedTable(raw, spec, columns, blank, builder)
    raw.columns = []  # the checked table holds the cells it uses; the others go now
    _exclude_blank_rows(table)
    _parse_cells(table)
    _check_one_of(table)
    if not raw.relaxed_day_order:
        _check_day_order(table)
    _report_formulas(table)
    return table


COLUMNS_LISTED = 12


def _listed(names: list[str]) -> str:
    """The first few names, saying how many more there are: 'a, b, ... and 30 more'."""
    shown = ", ".join(names[:COLUMNS_LISTED])
    return shown + (f" and {len(names) - COLUMNS_LISTED:,} more" if len(names) > COLUMNS_LISTED else "")


def _report_malformed(raw: RawTable, builder: ReportBuilder) -> None:
    if not raw.malformed:
        return
    rows, counts, texts = zip(*raw.malformed)
    expected = len(raw.names)
    messages = pa.array(
        [
            f"expected {how_many(expected, 'value')} as in the header, found {found}" + _quote_hint(text)
            for found, text in zip(counts, texts)
        ]
    )
    builder.add_many(
        ERROR, raw.file, pa.array(rows, pa.int64()), pa.array(texts, pa.string()), messages, action=ROW_EXCLUDED
    )
    builder.count_excluded(raw.file, "wrong number of values", len(rows))


def _quote_hint(text: str) -> str:
    """A record spanning lines with a quote in it usually means a quote was never closed."""
    return '; a quote (") may be left open, joining the lines that follow' if '"' in text and "\n" in text else ""


def _usable_columns(
    file: str,
    names: list[str],
    columns: list[pa.Array],
    spec: TableSpec,
    builder: ReportBuilder,
    extra: tuple[str, ...] = (),
) -> dict[str, pa.Array]:
    """Header name -> cell text, canonical names matched in any letter case; others reported."""
    usable: dict[str, pa.Array] = {}
    for position, (name, text) in enumerate(zip(names, columns), start=1):
        name = name.strip()
        name = name.lower() if name.lower() in spec.names else name
        problem = _column_problem(name, position, text, usable, spec, extra)
        if problem:
            builder.add(WARNING, file, problem, column=name or None, action=COLUMN_IGNORED)
        elif name:
            usable[name] = text
    return usable


def _column_problem(
    name: str, position: int, text: pa.Array, usable: dict, spec: TableSpec, extra: tuple[str, ...] = ()
) -> str | None:
    """Why a header column cannot be used, or None when it can (nameless empty columns are dropped)."""
    if not name:
        return (
            f"column {position} has no name in the header row; its values are ignored"
            if text.null_count < len(text)
            else None
        )
    if name in usable:
        return f"column {name} appears more than once; the copy in column {position} is ignored"
    if name in spec.names:
        return None
    if name in extra and name not in DERIVED_COURSE_COLUMNS:
        return None
    if spec.name != "courses":
        return f"column {name} is not part of {spec.name} data; it is ignored"
    if name in DERIVED_COURSE_COLUMNS:
        return f"column {name} has the name of a field computed from the data; it is ignored"
    return None


def missing_columns(spec: TableSpec, columns: dict) -> str | None:
    """Plain words for the required columns absent from a header, or None."""
    absent = [c.name for c in spec.columns if c.required and c.name not in columns]
    groups = [group for group in spec.one_of if not any(name in columns for name in group)]
    parts = [f"required column {name} is missing" for name in absent]
    parts += [f"a column {' or '.join(group)} is required and none is present" for group in groups]
    return "; ".join(parts) or None


def _exclude_blank_rows(table: CheckedTable) -> None:
    if table.blank.any():
        table.builder.add_many(
            WARNING,
            table.file,
            table.rows[table.blank],
            pa.nulls(int(table.blank.sum()), pa.string()),
            "empty row",
            action=ROW_EXCLUDED,
        )
        table.exclude(table.blank, "empty row")


def _one_of_columns(spec: TableSpec) -> set[str]:
    return {name for group in spec.one_of for name in group}


def _remove_invisible(table: CheckedTable) -> None:
    """Invisible characters go from every text cell, each cell changed said with the code points
    (`analysis.ingest.characters` gives the rule)."""
    for name, text in list(table.text.items()):
        if not _is_text(text):
            continue
        hits = matches(text, chars.INVISIBLE)
        if not hits.any():
            continue
        distinct = [value for value in chars.distinct_text(text.filter(pa.array(hits))).to_pylist() if value]
        words = [_invisible_words(value) for value in distinct]
        position = pc.index_in(
            text.cast(pa.string()) if pa.types.is_dictionary(text.type) else text,
            value_set=pa.array(distinct, pa.string()),
        )
        table.report(
            hits, WARNING, [pc.take(pa.array(words, pa.string()), position)], column=name, action=VALUE_CHANGED
        )
        if pa.types.is_dictionary(text.type):
            table.text[name] = per_distinct(
                text, lambda values: pc.replace_substring_regex(values, chars.INVISIBLE, "")
            )
        else:
            table.text[name] = pc.replace_substring_regex(text, chars.INVISIBLE, "")


def _invisible_words(value: str) -> str:
    found = chars.invisible_in(value)
    noun = "an invisible character" if len(found) == 1 else "invisible characters"
    return f"the cell held {noun}, {', '.join(chars.code_point(c) for c in found)}; removed"


def _is_text(values: pa.Array) -> bool:
    return values.type == pa.string() or (pa.types.is_dictionary(values.type) and values.type.value_type == pa.string())


LOOKALIKE_SAMPLE = 2000  # distinct values that tell a column's own script


def _report_lookalikes(table: CheckedTable) -> None:
    """Cells written with letters of another script that look like Latin ones: kept, and each an error."""
    for name, text in table.text.items():
        if not _is_text(text):
            continue
        non_ascii = matches(text, chars.NON_ASCII)
        if not non_ascii.any():
            continue
        foreign = [value for value in chars.distinct_text(text.filter(pa.array(non_ascii))).to_pylist() if value]
        sample = [value for value in chars.distinct_text(text).slice(0, LOOKALIKE_SAMPLE).to_pylist() if value]
        latin = chars.written_in_latin(sample + foreign)
        flagged = {value: words for value in foreign if (words := chars.lookalike_words(value, latin))}
        for value, words in flagged.items():
            table.report(
                chars.positions(text, [value]),
                ERROR,
                f"{value.strip()} has letters of another script that "
                f"look like Latin ones: {words}; it is kept as written, so it is not the same as "
                f"{chars.latin_skeleton(value.strip())}",
                column=name,
            )


def _parse_cells(table: CheckedTable) -> None:
    """Types each column; bad essential cells exclude their row, other bad cells become missing."""
    _remove_invisible(table)
    _report_lookalikes(table)
    essential = set(COURSE_KEY) | set(table.spec.key)
    for spec in table.spec.columns:
        if spec.name not in table.text:
            if spec.default is not None:  # e.g. no course_number column: every row is a first course
                table.values[spec.name] = pa.repeat(pa.scalar(spec.default, ARROW_TYPES[spec.kind]), len(table.rows))
            continue
        values, text = parse_column(table.text[spec.name], spec)
        table.text[spec.name] = text
        invalid = (
            np.zeros(len(text), dtype=bool)
            if values.null_count == text.null_count
            else as_mask(pc.and_(pc.is_valid(text), pc.is_null(values)))
        )
        if invalid.any() and spec.kind in ("int", "float"):
            values, invalid = _without_own_unit(table, spec, text, values, invalid)
        if spec.default is not None:
            values = pc.fill_null(values, pa.scalar(spec.default, values.type))
        table.values[spec.name] = values
        if spec.name in _one_of_columns(table.spec):
            continue  # judged with the rest of its group
        if spec.required or spec.name in essential:
            table.report_cells(invalid, spec.name, ERROR, ROW_EXCLUDED)
            table.exclude(invalid, f"invalid {spec.name}")
            empty = as_mask(pc.is_null(values)) & ~invalid
            table.report(
                empty, ERROR, f"{label(spec.name)} is empty; it is required", column=spec.name, action=ROW_EXCLUDED
            )
            table.exclude(empty, f"missing {spec.name}")
        else:
            table.report_cells(invalid, spec.name, WARNING, SET_MISSING)
    for name in table.custom:
        table.values[name] = table.text[name] = clean_text(table.text[name])


NUMBER_AND_UNIT = r"^\s*(?P<number>[-+]?\d+(?:[.,]\d+)?)\s*(?P<unit>[A-Za-zµ/%° .]+?)\.?\s*$"


def _without_own_unit(
    table: CheckedTable, spec: ColumnSpec, text: pa.Array, values: pa.Array, invalid: np.ndarray
) -> tuple[pa.Array, np.ndarray]:
    """Numbers written with the column's own unit ('60 kg' in weight_kg, '17 years' in age) are read
    as numbers, and said once; other units ('150 lb') stay invalid for the caller to report."""

    units = SAME_UNITS.get(spec.name)
    if not units or text.type != pa.string():  # numbers the reader typed carry no unit
        return values, invalid
    parts = pc.extract_regex(pc.fill_null(text, ""), NUMBER_AND_UNIT)
    same = invalid & as_mask(pc.is_in(pc.utf8_lower(pc.struct_field(parts, "unit")), value_set=pa.array(sorted(units))))
    if not same.any():
        return values, invalid
    number = pc.replace_substring(pc.struct_field(parts, "number"), ",", ".")
    reread = PARSERS[spec.kind](pc.if_else(pa.array(same), number, pa.scalar(None, pa.string())), spec)
    values = pc.if_else(pa.array(same), reread, values)
    example = text.filter(pa.array(same))[0].as_py().strip()
    table.builder.add(
        NOTE,
        table.file,
        f"{how_many(int(same.sum()), 'cell')} of {spec.name} carried the unit of the column "
        f"(e.g. '{example}'); the unit was removed",
        column=spec.name,
    )
    return values, invalid & ~(same & as_mask(pc.is_valid(values)))


FORMULA_PATTERN = r"^\s*([=@]|[+-]\s*[A-Za-z_]+\s*\()"


def _report_formulas(table: CheckedTable) -> None:
    """Text cells written like spreadsheet formulas: kept as plain text, never evaluated, and said."""
    text_columns = [c.name for c in table.spec.columns if c.kind == "text"] + list(table.custom)
    for name in text_columns:
        values = table.values.get(name)
        if values is None or values.null_count == len(values):
            continue
        formula = matches(values, FORMULA_PATTERN) & table.kept
        table.report(
            formula,
            WARNING,
            "the cell looks like a spreadsheet formula; it is kept as plain text and never "
            "calculated (spreadsheets may run it if the data is exported again)",
            column=name,
        )


def _check_one_of(table: CheckedTable) -> None:
    """Each row needs a valid value in one column of each group (age or age_band)."""
    for group in table.spec.one_of:
        present = [name for name in group if name in table.values]
        lacking = ~np.logical_or.reduce([as_mask(pc.is_valid(table.values[name])) for name in present])
        any_invalid = np.zeros(len(lacking), dtype=bool)
        for name in present:
            invalid = as_mask(pc.and_(pc.is_valid(table.text[name]), pc.is_null(table.values[name])))
            table.report_cells(invalid & lacking, name, ERROR, ROW_EXCLUDED)
            table.report_cells(invalid & ~lacking, name, WARNING, SET_MISSING)
            any_invalid |= invalid
        words = " or ".join(group)
        table.report(
            lacking & ~any_invalid,
            ERROR,
            f"{words} is required; the row has neither",
            column=present[0],
            action=ROW_EXCLUDED,
        )
        table.exclude(lacking, f"no valid {words}")


def _check_day_order(table: CheckedTable) -> None:
    for name, later, earlier, action in DAY_ORDER_RULES:
        if name != table.spec.name or later not in table.values or earlier not in table.values:
            continue
        late, early = table.values[later], table.values[earlier]
        wrong = as_mask(pc.less(late, early))
        outcome = "it is set to missing" if action == SET_MISSING else "both are kept as recorded"
        message = [f"{later} (", late, f") is before {earlier} (", early, f"); {outcome}"]
        table.report(wrong, WARNING, message, column=later, values=pc.cast(late, pa.string()), action=action)
        if action == SET_MISSING:
            table.values[later] = pc.if_else(pa.array(wrong), pa.scalar(None, late.type), late)


# ---------------------------------------------------------------------------------------------
# Across tables


class LoadedCourses:
    """Which course keys (patient_id, course_number) the courses table keeps, and which it excluded."""

    def __init__(self, courses: CheckedTable):
        self.file = courses.file
        self.keys = CourseKeys(courses.values["patient_id"], courses.values["course_number"])
        first = self.keys.positions(courses.values["patient_id"], courses.values["course_number"])
        has_key = first >= 0
        self.kept = np.zeros(len(first), dtype=bool)  # by a key's first row
        self.kept[first[courses.kept & has_key]] = True
        self.excluded = np.zeros(len(first), dtype=bool)
        self.excluded[first[~courses.kept & has_key]] = True

    def courses_of(self, table: CheckedTable) -> np.ndarray:
        """Each row's course: the first courses row with its key, -1 where there is none."""
        return self.keys.positions(table.values["patient_id"], table.values["course_number"])


def exclude_duplicate_courses(courses: CheckedTable) -> None:
    """Keeps the first valid row of each course key and excludes the repeats, naming both rows."""
    candidates = np.flatnonzero(courses.kept)
    patients, numbers = (
        courses.values[name]
        if len(candidates) == len(courses.rows)
        else courses.values[name].take(pa.array(candidates))
        for name in COURSE_KEY
    )
    first = CourseKeys(patients, numbers).positions(patients, numbers)  # among the valid rows
    repeat = (first >= 0) & (first != np.arange(len(candidates)))
    if not repeat.any():
        return
    mask = np.zeros(len(courses.rows), dtype=bool)
    mask[candidates[repeat]] = True
    first_row = np.zeros(len(courses.rows), dtype=np.int64)
    first_row[candidates] = courses.rows[candidates[np.maximum(first, 0)]]
    message = [
        "course ",
        courses.values["course_number"],
        " of patient ",
        courses.values["patient_id"],
        " appears again; the first, on row ",
        pa.array(first_row),
        ", is kept",
    ]
    courses.report(mask, ERROR, message, values=courses.text["patient_id"], action=ROW_EXCLUDED)
    courses.exclude(mask, "duplicate course")


def exclude_orphans(table: CheckedTable, loaded: LoadedCourses) -> None:
    """Excludes rows of visits, adverse events or labs whose course is not among the loaded courses."""
    course = loaded.courses_of(table)
    orphan = table.kept & ~is_member(course, loaded.kept)
    if not orphan.any():
        return
    where = pc.if_else(
        pa.array(is_member(course, loaded.excluded)), f" was excluded from {loaded.file}", f" is not in {loaded.file}"
    )
    message = [
        "course ",
        table.values["course_number"],
        " of patient ",
        table.values["patient_id"],
        where,
        _lookalike_cause(table.values["patient_id"], orphan),
    ]
    table.report(orphan, ERROR, message, values=table.text["patient_id"], action=ROW_EXCLUDED)
    table.exclude(orphan, "course not loaded")


def _lookalike_cause(patients: pa.Array, orphan: np.ndarray) -> pa.Array:
    """For each row, why its patient_id may match no course: letters of another script that look
    like Latin ones (empty text for the others)."""
    chosen = patients.filter(pa.array(orphan))
    distinct = [value for value in chars.distinct_text(chosen).to_pylist() if value and not value.isascii()]
    causes = {value: words for value in distinct if (words := chars.lookalike_words(value, True))}
    if not causes:
        return pa.repeat(pa.scalar("", pa.string()), len(patients))
    text = patients.cast(pa.string()) if pa.types.is_dictionary(patients.type) else patients
    position = pc.index_in(text, value_set=pa.array(list(causes), pa.string()))
    words = pa.array([f"; its patient_id is written with {words}" for words in causes.values()], pa.string())
    return pc.fill_null(pc.take(words, position), "")


def validate_tables(
    raw_tables: dict[str, RawTable | list[RawTable]], builder: ReportBuilder
) -> dict[str, pd.DataFrame] | None:
    """Typed, checked tables holding only valid rows; None when no cohort can be built.

    A table may come in several parts (e.g. chemistry and haematology lab files): each part is
    checked on its own, with its own file and rows, and the kept rows are stacked.
    """
    parts = {name: raw if isinstance(raw, list) else [raw] for name, raw in raw_tables.items()}
    checked = {
        name: [table for table in (check_table(raw, builder) for raw in raws) if table is not None]
        for name, raws in parts.items()
    }
    checked = {name: tables for name, tables in checked.items() if tables}
    courses = checked.get("courses", [None])[0]
    if courses is not None:
        exclude_duplicate_courses(courses)
        if not courses.kept.any():
            file_problem(builder, "courses", courses.file, "no course row is valid")
    if courses is None or not courses.kept.any():
        for tables in checked.values():
            for table in tables:
                table.exclude(np.ones(len(table.rows), dtype=bool), "dataset not loaded")
                table.count_rows()
        return None
    loaded = LoadedCourses(courses)
    for name in TABLES[1:]:
        for table in checked.get(name, []):
            exclude_orphans(table, loaded)
    return {name: _stacked([_finished(table) for table in tables]) for name, tables in checked.items()}


def _finished(table: CheckedTable) -> pd.DataFrame:
    """`table.finish()`, the memory its cells held handed back before the next table is finished."""
    frame = table.finish()
    release_memory()
    return frame


def _stacked(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=False, sort=False)
