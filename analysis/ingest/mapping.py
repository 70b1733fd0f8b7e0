"""Column mapping: which table a file holds, which of its columns is which canonical column, and
how values, dates and wide layouts become canonical.

A `Mapping` is the user's confirmed answer for every file of an upload. It is plain data, saved as
a small JSON file (`Mapping.to_json`) that the app and the command line (`--mapping FILE`) accept,
so the same export maps the same way every time. `propose_file` suggests a mapping for a sheet
from its column names and values, each with a confidence and the reason; standard formats
(CDISC, REDCap) are recognised in `analysis.ingest.formats` and produce the same kind of mapping.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.ingest import vocabulary as vocab
from analysis.ingest.lab_units import canonical_test
from analysis.ingest.readers import Sheet
from analysis.schema import DAYS_PER_MONTH, SPECS, TABLES

MAPPING_VERSION = 1
MAPPING_KIND = "isotretinoin-outcomes column mapping"
COURSE_EVENTS = "course_events"  # per-course event times kept in another file (CDISC ADTTE)
TARGET_TABLES = (*TABLES, COURSE_EVENTS)
TABLE_LABELS = {
    "courses": "courses (one row per course)",
    "visits": "visits (assessments)",
    "adverse_events": "adverse events",
    "labs": "lab results",
    COURSE_EVENTS: "course events (time to event, added to courses)",
    "": "not used",
}
TIME_ORIGINS = ("", "start", "end")  # FileMapping.time_origin: undeclared, the first dose, the last dose
COURSE_EVENT_COLUMNS = ("patient_id", "course_number", "relapse_day", "followup_end_day", "retreat_day")
CONFIDENT = 0.8
RECOGNISED = 0.5
DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d %b %Y",
    "%d-%b-%Y",
    "%b %d %Y",
    "%d %B %Y",
    "%B %d %Y",
    "%Y%m%d",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d.%m.%y",
)
DATE_FORMAT_WORDS = {
    "%Y-%m-%d": "YYYY-MM-DD",
    "%d/%m/%Y": "DD/MM/YYYY",
    "%m/%d/%Y": "MM/DD/YYYY",
    "%d.%m.%Y": "DD.MM.YYYY",
    "%d-%m-%Y": "DD-MM-YYYY",
    "%Y/%m/%d": "YYYY/MM/DD",
    "%Y.%m.%d": "YYYY.MM.DD",
    "%d %b %Y": "DD Mon YYYY",
    "%d-%b-%Y": "DD-Mon-YYYY",
    "%b %d %Y": "Mon DD YYYY",
    "%d %B %Y": "DD Month YYYY",
    "%B %d %Y": "Month DD YYYY",
    "%Y%m%d": "YYYYMMDD",
    "%d/%m/%y": "DD/MM/YY",
    "%m/%d/%y": "MM/DD/YY",
    "%d.%m.%y": "DD.MM.YY",
}
DATE_LIKE = r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/. ]\w{1,9}[-/. ]\d{2,4}|\w{3,9}\.? \d{1,2},? \d{4}|\d{8})([T\s]\d.*)?\s*$"
TIME_OF_DAY = r"^(.*?\d)[T\s]+\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
NUMBER_WITH_UNIT = r"^\s*([-+]?\d+(?:\.\d+)?)\s*([A-Za-zµ/%°][A-Za-zµ/%° .]*)\s*$"
SAMPLE_ROWS = 5000


class MappingError(ValueError):
    """A mapping file that cannot be used; the message says what is wrong with it."""


# ---------------------------------------------------------------------------------------------
# The mapping as data


@dataclass
class ColumnRule:
    """How one canonical column is made: from a source column (or a constant), its values mapped."""

    source: str | None = None
    transform: str = ""
    values: dict[str, str] = field(default_factory=dict)  # cell text as written -> canonical text
    when: dict[str, list[str]] = field(default_factory=dict)  # only where these columns hold these values
    constant: str | None = None
    date_format: str | None = None
    confidence: float = 1.0
    reason: str = ""

    def to_dict(self) -> dict:
        data = {
            "source": self.source,
            "transform": self.transform,
            "values": self.values,
            "when": self.when,
            "constant": self.constant,
            "date_format": self.date_format,
        }
        return {key: value for key, value in data.items() if value not in (None, "", {}, [])}

    @property
    def sources(self) -> list[str]:
        return [s for s in [self.source, *self.when] if s]


@dataclass
class RowFilter:
    """Which rows of a file belong to the table; `reason` names the rows left out in the report."""

    column: str
    keep: list[str] = field(default_factory=list)  # keep rows holding one of these ("" = empty cell)
    drop: list[str] = field(default_factory=list)  # leave out rows holding one of these
    drop_pattern: str = ""  # leave out rows whose value matches this expression
    first_per_record: bool = False  # keep the first row of each value of the column
    reason: str = ""  # empty: the rows belong to another table, not counted

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if key == "column" or value not in ("", [], False)}


@dataclass
class WideColumn:
    """A column of a wide layout: one measure at one time ('iga_m3' = IGA at month 3)."""

    source: str
    target: str
    day: int
    visit: str | None = None

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass
class FileMapping:
    """What one sheet of an upload holds and how its columns become one canonical table."""

    file: str
    sheet: str | None = None
    table: str = ""  # a canonical table, COURSE_EVENTS, or "" (not used)
    columns: dict[str, ColumnRule] = field(default_factory=dict)  # canonical (or own) column -> rule
    filters: list[RowFilter] = field(default_factory=list)
    wide: list[WideColumn] = field(default_factory=list)
    keep_other_columns: bool = True  # unmapped columns pass under their own names
    ignore: list[str] = field(default_factory=list)  # columns never passed on
    format: str = ""  # e.g. "CDISC ADaM ADSL", "REDCap", "canonical"
    confidence: float = 1.0
    reason: str = ""
    notes: list[str] = field(default_factory=list)  # what the recognition did, said once in the report
    # Where the file's event days count from when the data says so ("start": the first dose, "end": the
    # last dose), e.g. an ADTTE whose STARTDT is the first dose; the relapse analysis then counts from there.
    time_origin: str = ""

    @property
    def label(self) -> str:
        return self.file if self.sheet is None else f"{self.file} [{self.sheet}]"

    def used_sources(self) -> set[str]:
        used = {s for rule in self.columns.values() for s in rule.sources}
        used |= {w.source for w in self.wide} | {f.column for f in self.filters}
        return used

    def extra_columns(self) -> tuple[str, ...]:
        """Declared columns that are not canonical: custom fields in courses, kept extras elsewhere."""
        canonical = set(SPECS[self.table].names) if self.table in SPECS else set(COURSE_EVENT_COLUMNS)
        return tuple(target for target in self.columns if target not in canonical)

    def to_dict(self) -> dict:
        data = {
            "file": self.file,
            "sheet": self.sheet,
            "table": self.table,
            "format": self.format,
            "columns": {target: rule.to_dict() for target, rule in self.columns.items()},
            "filters": [f.to_dict() for f in self.filters],
            "wide": [w.to_dict() for w in self.wide],
            "keep_other_columns": self.keep_other_columns,
            "ignore": self.ignore,
            "time_origin": self.time_origin,
        }
        return {key: value for key, value in data.items() if value not in (None, "", [], {})}

    @classmethod
    def from_dict(cls, data: dict) -> FileMapping:
        if not isinstance(data, dict) or not isinstance(data.get("file"), str):
            raise MappingError("each entry of 'files' needs a 'file' name")
        table = data.get("table", "")
        if table not in (*TARGET_TABLES, ""):
            raise MappingError(f"{data['file']}: table must be one of {', '.join(TARGET_TABLES)}, not {table!r}")
        try:
            columns = {str(t): ColumnRule(**_known(ColumnRule, r)) for t, r in _mapping_of(data.get("columns")).items()}
            filters = [RowFilter(**_known(RowFilter, f)) for f in _list_of(data.get("filters"))]
            wide = [WideColumn(**_known(WideColumn, w)) for w in _list_of(data.get("wide"))]
        except TypeError as error:
            raise MappingError(f"{data['file']}: {error}") from error
        _check_filters(data["file"], filters)
        _check_wide(data["file"], wide)
        for target, rule in columns.items():
            _check_rule(data["file"], target, rule)
            if rule.transform not in vocab.TRANSFORMS:
                raise MappingError(
                    f"{data['file']}: column {target} has an unknown transform {rule.transform!r}; "
                    f"choose one of {', '.join(t for t in vocab.TRANSFORMS if t)}"
                )
        ignore = _list_of(data.get("ignore"))
        time_origin = str(data.get("time_origin") or "")
        if time_origin not in TIME_ORIGINS:
            raise MappingError(f"{data['file']}: time_origin must be 'start' (first dose) or 'end' (last dose)")
        sheet = data.get("sheet")
        if not _texts(ignore) or not isinstance(table, str) or not (sheet is None or isinstance(sheet, str)):
            raise MappingError(f"{data['file']}: 'table' and 'sheet' must be text and 'ignore' a list of column names")
        return cls(
            file=data["file"],
            sheet=sheet,
            table=table,
            columns=columns,
            filters=filters,
            wide=wide,
            keep_other_columns=bool(data.get("keep_other_columns", True)),
            ignore=ignore,
            format=str(data.get("format") or ""),
            time_origin=time_origin,
        )


def _mapping_of(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MappingError(f"'columns' must be an object (canonical column -> rule), found {value!r}")
    return value


def _list_of(value) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MappingError(f"'filters' and 'wide' must be lists, found {value!r}")
    return value


def _texts(values) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _check_rule(file: str, target: str, rule: ColumnRule) -> None:
    if rule.source is not None and not isinstance(rule.source, str):
        raise MappingError(f"{file}: column {target}: 'source' must be a column name")
    if not isinstance(rule.transform, str):
        raise MappingError(f"{file}: column {target}: 'transform' must be text")
    if not isinstance(rule.values, dict) or not isinstance(rule.when, dict):
        raise MappingError(f"{file}: column {target}: 'values' and 'when' must be objects")
    if not all(isinstance(c, str) and c and _texts(v) for c, v in rule.when.items()):
        raise MappingError(f"{file}: column {target}: 'when' maps column names to lists of values")
    if rule.date_format is not None and (not isinstance(rule.date_format, str) or "%" not in rule.date_format):
        raise MappingError(f"{file}: column {target}: 'date_format' must be a format such as %d/%m/%Y")
    if rule.constant is not None:
        rule.constant = str(rule.constant)
    rule.values = {str(k): str(v) for k, v in rule.values.items()}


def _check_filters(file: str, filters: list[RowFilter]) -> None:
    for row_filter in filters:
        if not isinstance(row_filter.column, str) or not row_filter.column:
            raise MappingError(f"{file}: each filter needs the 'column' it looks at")
        if not _texts(row_filter.keep) or not _texts(row_filter.drop) or not isinstance(row_filter.reason, str):
            raise MappingError(f"{file}: filter on {row_filter.column}: 'keep' and 'drop' must be lists of values")
        if row_filter.drop_pattern:
            try:
                pc.match_substring_regex(pa.array([""], pa.string()), row_filter.drop_pattern)
            except (pa.ArrowInvalid, TypeError) as error:
                raise MappingError(
                    f"{file}: filter on {row_filter.column}: {row_filter.drop_pattern!r} is not a valid pattern"
                ) from error
        row_filter.first_per_record = bool(row_filter.first_per_record)


def _check_wide(file: str, wide: list[WideColumn]) -> None:
    for column in wide:
        if not isinstance(column.source, str) or not column.source or column.target not in vocab.WIDE_MEASURES:
            raise MappingError(
                f"{file}: each wide column needs its 'source' and a 'target' among {', '.join(vocab.WIDE_MEASURES)}"
            )
        if not isinstance(column.day, int) or isinstance(column.day, bool):
            raise MappingError(f"{file}: wide column {column.source}: 'day' must be a whole number")


def _known(kind, data) -> dict:
    if not isinstance(data, dict):
        raise MappingError(f"expected an object for a {kind.__name__}, found {data!r}")
    names = {f.name for f in fields(kind)}
    return {key: value for key, value in data.items() if key in names}


@dataclass
class Mapping:
    """The confirmed mapping of every file of an upload."""

    files: list[FileMapping] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {"kind": MAPPING_KIND, "version": MAPPING_VERSION, "files": [f.to_dict() for f in self.files]},
            indent=2,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Mapping:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise MappingError(f"the mapping file is not valid JSON ({error})") from error
        if not isinstance(data, dict) or not isinstance(data.get("files"), list):
            raise MappingError("the mapping file needs a list 'files' (one entry per file of the upload)")
        if data.get("version", MAPPING_VERSION) > MAPPING_VERSION:
            raise MappingError(
                f"the mapping file is of version {data['version']}; this app reads version {MAPPING_VERSION}"
            )
        return cls([FileMapping.from_dict(entry) for entry in data["files"]])

    def named_for(self, sheet: Sheet) -> list[FileMapping]:
        """The entries naming this sheet: its file (and workbook sheet) in any letter case."""
        return [f for f in self.files if _same_name(f.file, sheet.file) and (f.sheet or None) == (sheet.sheet or None)]

    def fitting(self, sheet: Sheet, candidates: list[FileMapping]) -> list[FileMapping]:
        """Of the candidates, those whose every column is in the sheet (a renamed export of the same layout)."""
        present = {n.lower() for n in sheet.names}
        return [f for f in candidates if f.used_sources() and {s.lower() for s in f.used_sources()} <= present]


def _same_name(a: str, b: str) -> bool:
    return re.split(r"[\\/]", a)[-1].lower() == re.split(r"[\\/]", b)[-1].lower()


def rebased(entry: FileMapping, sheet: Sheet) -> FileMapping:
    """A copy of a saved entry applied to this sheet (which may be named otherwise)."""
    copy = FileMapping.from_dict(entry.to_dict())
    copy.file, copy.sheet = sheet.file, sheet.sheet
    copy.reason = "as the mapping file says"
    copy.notes = [
        f"mapped as the mapping file's entry for {entry.label} says"
        + (f" ({entry.format})" if entry.format and entry.format != "canonical" else "")
    ]
    return copy


# ---------------------------------------------------------------------------------------------
# Proposing a mapping


@dataclass
class Candidate:
    source: str
    target: str
    confidence: float
    reason: str
    transform: str = ""


def propose_file(sheet: Sheet, table: str | None = None) -> list[FileMapping]:
    """Mappings proposed for a sheet: its table (or the given one) and, for a wide layout, its visits."""
    names = usable_names(sheet)
    wide = detect_wide(names)
    wide_sources = {w.source for w in wide}
    flat = [n for n in names if n not in wide_sources]
    if table is None:
        table, confidence, reason = guess_table(sheet, flat)
        if not table and wide:
            table, confidence, reason = "visits", 0.7, "columns hold one measure per visit (a wide layout)"
    else:
        confidence, reason = 1.0, "chosen"
    if not table:
        return [FileMapping(sheet.file, sheet.sheet, "", confidence=confidence, reason=reason)]
    mapping = FileMapping(
        sheet.file,
        sheet.sheet,
        table,
        propose_columns(sheet, table, flat),
        confidence=confidence,
        reason=reason,
        ignore=sorted(wide_sources),
    )
    if not wide:
        return [mapping]
    if table == "visits":
        mapping.wide = wide
        mapping.ignore = []
        return [mapping]
    visits = FileMapping(
        sheet.file,
        sheet.sheet,
        "visits",
        _key_rules(mapping),
        wide=wide,
        keep_other_columns=False,
        confidence=0.8,
        reason=f"{len(wide)} columns hold one measure per visit; reshaped to one row per visit",
    )
    return [mapping, visits]


def _key_rules(mapping: FileMapping) -> dict[str, ColumnRule]:
    return {key: mapping.columns[key] for key in ("patient_id", "course_number") if key in mapping.columns}


def usable_names(sheet: Sheet) -> list[str]:
    """Header names, first occurrence of each, without nameless columns."""
    return list(dict.fromkeys(n for n in sheet.names if n))


def guess_table(sheet: Sheet, names: list[str] | None = None) -> tuple[str, float, str]:
    """The most likely table, how sure, and why (from matched columns and the file's name)."""
    names = usable_names(sheet) if names is None else names
    file_words = vocab.normalised(re.sub(r"\.\w+$", "", sheet.file) + " " + (sheet.sheet or ""))
    exact = {t: [n for n in names if n.strip().lower() in SPECS[t].names] for t in TABLES}
    canonical_name = re.split(r"[\\/]", sheet.file)[-1].lower().removesuffix(".csv")
    if sheet.sheet is None and canonical_name in TABLES:
        return canonical_name, 1.0, f"the file is named {canonical_name}.csv"
    scores = {}
    reasons = {}
    for table in TABLES:
        matched = best_assignment(_candidates(sheet, table, names))
        score = sum(vocab.SIGNATURE[table].get(c.target, 0) * c.confidence for c in matched)
        hint = any(
            word in file_words.split() or (len(word) > 3 and word in file_words)
            for word in vocab.FILE_NAME_HINTS[table]
        )
        if hint:
            score += 1.5
        scores[table] = score
        shown = [c.target for c in matched if vocab.SIGNATURE[table].get(c.target, 0) >= 1][:4]
        reasons[table] = ("columns " + ", ".join(shown) + " found" if shown else "") + (
            " and the file's name" if hint and shown else "the file's name" if hint else ""
        )
        if len(exact[table]) >= 3:
            scores[table] += 2
    ranked = sorted(scores, key=scores.get, reverse=True)
    best, second = ranked[0], ranked[1]
    if scores[best] < 2.5:
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        return (
            "",
            0.0,
            (
                f"none of its columns ({shown or 'none'}) looks like the courses' sex and age, a visit's IGA "
                "or lesion counts, a side effect's term, or a lab test and value"
            ),
        )
    confidence = min(1.0, scores[best] / 6) * scores[best] / (scores[best] + scores[second])
    return best, round(min(0.99, 0.4 + confidence), 2), reasons[best]


def propose_columns(sheet: Sheet, table: str, names: list[str] | None = None) -> dict[str, ColumnRule]:
    """Canonical column -> proposed rule for a table, each source used once, best matches first."""
    names = usable_names(sheet) if names is None else names
    rules: dict[str, ColumnRule] = {}
    for candidate in best_assignment(_candidates(sheet, table, names)):
        rule = ColumnRule(
            source=candidate.source,
            transform=candidate.transform,
            confidence=round(candidate.confidence, 2),
            reason=candidate.reason,
        )
        column = sheet.column(candidate.source)
        if rule.transform == vocab.DATE:
            rule.date_format, ambiguous = detect_date_format(column)
            if rule.date_format is None:
                rule.transform = ""
            elif ambiguous:
                rule.confidence = min(rule.confidence, 0.6)
                rule.reason += f"; dates read as {DATE_FORMAT_WORDS.get(rule.date_format, rule.date_format)} (day and month could be either way round: check)"
            else:
                rule.reason += f"; dates written {DATE_FORMAT_WORDS.get(rule.date_format, rule.date_format)}"
        rule.values, note = propose_values(table, candidate.target, column)
        if note:
            rule.reason += f"; {note}"
            if "check" in note:
                rule.confidence = min(rule.confidence, 0.5)
        rules[candidate.target] = rule
    return rules


def best_assignment(candidates: list[Candidate]) -> list[Candidate]:
    """Greedy one-to-one assignment: the surest pairs first, each source and target used once."""
    chosen, sources, targets = [], set(), set()
    for candidate in sorted(candidates, key=lambda c: (-c.confidence, c.target, c.source)):
        if candidate.source in sources or candidate.target in targets:
            continue
        chosen.append(candidate)
        sources.add(candidate.source)
        targets.add(candidate.target)
    return chosen


def _candidates(sheet: Sheet, table: str, names: list[str]) -> list[Candidate]:
    candidates = []
    for name in names:
        column = sheet.column(name)
        looks = _value_profile(column)
        for target, synonyms in vocab.SYNONYMS[table].items():
            found = name_match(name, target, synonyms)
            if found is None:
                found = _value_only_match(target, looks)
                if found is None:
                    continue
            confidence, reason = found
            confidence, transform, why = _fit_values(table, target, name, looks, confidence)
            if confidence > 0.2:
                candidates.append(Candidate(name, target, confidence, reason + why, transform))
    return candidates


def name_match(name: str, target: str, synonyms: list[str]) -> tuple[float, str] | None:
    """How well a column name says it is the target: exact, a synonym, contained, or a near spelling."""
    words = vocab.normalised(name)
    if not words:
        return None
    if words == vocab.normalised(target):
        return 1.0, "same name"
    if words in synonyms:
        return 0.95, f"'{name}' is a usual name for {target}"
    tokens = set(words.split())
    for synonym in synonyms:
        parts = synonym.split()
        if (len(parts) > 1 or len(synonym) >= 3) and set(parts) <= tokens:
            return 0.75, f"the name contains '{synonym}'"
    close = difflib.get_close_matches(words, synonyms + [vocab.normalised(target)], n=1, cutoff=0.85)
    if close:
        return 0.65, f"the name is spelt like '{close[0]}'"
    return None


@dataclass
class ValueProfile:
    """What a column's values look like, from a sample."""

    count: int = 0
    numeric: float = 0.0  # share that are numbers
    integer: float = 0.0  # share that are whole numbers
    dates: float = 0.0  # share that look like dates
    distinct: int = 0
    minimum: float | None = None
    maximum: float | None = None
    words: set = field(default_factory=set)  # distinct values (normalised), when few


def _value_profile(column: pa.Array | None) -> ValueProfile:
    if column is None:
        return ValueProfile()
    values = pc.drop_null(pc.utf8_trim_whitespace(column.slice(0, SAMPLE_ROWS)))
    values = values.filter(pc.not_equal(values, ""))
    count = len(values)
    if count == 0:
        return ValueProfile()
    numbers = pc.cast(
        values.filter(pc.match_substring_regex(values, r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")), pa.float64()
    )
    integers = pc.sum(pc.equal(pc.floor(numbers), numbers)).as_py() or 0 if len(numbers) else 0
    distinct = pc.unique(values)
    words = {vocab.value_key(v) for v in distinct.to_pylist()} if len(distinct) <= 30 else set()
    return ValueProfile(
        count,
        len(numbers) / count,
        integers / count,
        _count(values, DATE_LIKE) / count,
        len(distinct),
        pc.min(numbers).as_py() if len(numbers) else None,
        pc.max(numbers).as_py() if len(numbers) else None,
        words,
    )


def _count(values: pa.Array, pattern: str) -> int:
    return int(pc.sum(pc.match_substring_regex(values, pattern)).as_py() or 0)


def _value_only_match(target: str, looks: ValueProfile) -> tuple[float, str] | None:
    """Columns recognised by their values alone (weakly): sex codes."""
    if (
        target == "sex"
        and looks.words
        and looks.words <= set(vocab.SEX_VALUES)
        and looks.distinct <= 4
        and looks.words & {"f", "female", "m", "male"}
    ):
        return 0.55, "the values look like sex"
    return None


def _fit_values(table: str, target: str, name: str, looks: ValueProfile, confidence: float) -> tuple[float, str, str]:
    """Adjusts a name match by whether the values fit the target; picks the transform a source needs."""
    table = "courses" if table == COURSE_EVENTS else table
    spec = SPECS[table].column(target)
    transform = ""
    words = vocab.normalised(name)
    if spec is None or looks.count == 0:
        return confidence, transform, ""
    day_target = target in SPECS[table].day_columns
    if (day_target or spec.kind == "date") and looks.dates >= 0.8:
        return confidence, vocab.DATE, ""
    if day_target and words in vocab.DURATION_SYNONYMS and looks.numeric >= 0.8:
        return confidence, vocab.DURATION, "; a duration becomes the day of the last dose (duration - 1)"
    if day_target and any(w in words.split() for w in vocab.DATE_WORDS):
        return confidence * 0.4, transform, "; but the values are not dates"
    if spec.kind in ("int", "float"):
        if looks.numeric < 0.5:
            vocabulary = vocab.VALUE_VOCABULARIES.get(target)
            if vocabulary and looks.words and len(looks.words & set(vocabulary)) >= 0.5 * len(looks.words):
                return confidence, transform, ""
            if _with_units(looks):
                return confidence * 0.9, transform, ""
            return confidence * 0.3, transform, "; but most values are not numbers"
        if spec.minimum is not None and looks.minimum is not None and looks.minimum < spec.minimum and not day_target:
            return confidence * 0.6, transform, f"; but some values are below {spec.minimum:g}"
        if spec.maximum is not None and looks.maximum is not None and looks.maximum > spec.maximum and not day_target:
            return confidence * 0.6, transform, f"; but some values are above {spec.maximum:g}"
    return confidence, transform, ""


def _with_units(looks: ValueProfile) -> bool:
    return bool(looks.words) and all(re.match(r"^[-+]?\d", w) for w in looks.words)


# ---------------------------------------------------------------------------------------------
# Values


def propose_values(table: str, target: str, column: pa.Array | None) -> tuple[dict[str, str], str]:
    """Value map for a categorical target (only values that change), and a note when it is a guess."""
    spec = SPECS[table].column(target) if table in SPECS else None
    if column is None or spec is None:
        return {}, ""
    distinct = distinct_values(column)
    if not distinct or len(distinct) > 200:
        return {}, ""
    if target == "test":
        mapped = {v: canonical_test(v) for v in distinct}
        return {v: code for v, code in mapped.items() if code and code != v}, ""
    vocabulary = vocab.VALUE_VOCABULARIES.get("yesno" if spec.kind == "yesno" else target)
    if vocabulary is None:
        return {}, ""
    allowed = {"yes", "no"} if spec.kind == "yesno" else set(spec.allowed)
    values, note = {}, ""
    for value in distinct:
        if value in allowed or (spec.kind in ("int", "float") and re.fullmatch(r"\d+", value)):
            continue
        canonical = vocabulary.get(vocab.value_key(value))
        if canonical is not None and canonical != value:
            values[value] = canonical
    if target == "sex" and set(distinct) <= set(vocab.SEX_CODES_ISO_5218) and {"1", "2"} & set(distinct):
        values = {v: vocab.SEX_CODES_ISO_5218[v] for v in distinct}
        note = "numeric sex codes read as ISO 5218 (1 = male, 2 = female): check against your codebook"
    return values, note


def distinct_values(column: pa.Array, limit: int = 200) -> list[str]:
    """The column's distinct non-empty values (trimmed), at most `limit` + 1 of them."""
    values = pc.drop_null(pc.utf8_trim_whitespace(column))
    unique = pc.unique(values.filter(pc.not_equal(values, "")))
    return sorted(unique.slice(0, limit + 1).to_pylist())


# ---------------------------------------------------------------------------------------------
# Dates


def detect_date_format(column: pa.Array | None) -> tuple[str | None, bool]:
    """The format most of the column's dates are written in, and whether day and month could swap."""
    if column is None:
        return None, False
    sample = pd.Series(distinct_values(column, limit=2000), dtype="object")
    if sample.empty:
        return None, False
    sample = strip_time_of_day(sample)
    iso = pd.to_datetime(sample, format="%Y-%m-%d", errors="coerce").notna()
    if iso.all():
        return "%Y-%m-%d", False
    rest = sample[~iso]  # ISO dates are always understood; the column's own format is judged on the others
    shares = {fmt: pd.to_datetime(rest, format=fmt, errors="coerce").notna().mean() for fmt in DATE_FORMATS}
    best = max(DATE_FORMATS, key=lambda fmt: (shares[fmt], -DATE_FORMATS.index(fmt)))
    if shares[best] == 0:
        return ("%Y-%m-%d", False) if iso.any() else (None, False)
    swapped = {"%d/%m/%Y": "%m/%d/%Y", "%m/%d/%Y": "%d/%m/%Y", "%d/%m/%y": "%m/%d/%y", "%m/%d/%y": "%d/%m/%y"}.get(best)
    ambiguous = swapped is not None and shares[swapped] == shares[best]
    return best, ambiguous


def strip_time_of_day(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.replace(TIME_OF_DAY, r"\1", regex=True)


def parse_dates(text: pa.Array, date_format: str | None) -> np.ndarray:
    """Days since 1970-01-01 as float (NaN where the cell is empty or not a date in the format or ISO)."""
    values = strip_time_of_day(pd.Series(text.to_pylist(), dtype="object"))
    formats = [date_format or "%Y-%m-%d"] + (["%Y-%m-%d"] if date_format not in (None, "%Y-%m-%d") else [])
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in formats:
        missing = parsed.isna() & values.notna()
        if missing.any():
            try:
                parsed[missing] = pd.to_datetime(values[missing], format=fmt, errors="coerce")
            except (ValueError, TypeError):  # a format that is no date format: nothing parses with it
                continue
    days = (parsed - pd.Timestamp("1970-01-01")).dt.days
    return days.astype("float").to_numpy()


# ---------------------------------------------------------------------------------------------
# Wide layouts


def detect_wide(names: list[str]) -> list[WideColumn]:
    """Columns holding one visit measure at one time ('iga_m3', 'Lesions week 12', 'IGA baseline')."""
    found = []
    for name in names:
        parsed = wide_column(name)
        if parsed:
            found.append(parsed)
    by_target: dict[str, list[WideColumn]] = {}
    for column in found:
        by_target.setdefault(column.target, []).append(column)
    return [c for columns in by_target.values() if len({c.day for c in columns}) >= 2 for c in columns]


def wide_column(name: str) -> WideColumn | None:
    words = vocab.normalised(name).split()
    if len(words) < 2:
        return None
    if words[-1] in vocab.BASELINE_WORDS:
        stem, day, visit = words[:-1], 0, "Baseline"
    elif len(words) >= 3 and words[-1].isdigit() and words[-2] in vocab.TIME_UNITS:
        stem, day, visit = words[:-2], _wide_day(words[-2], int(words[-1])), f"{_unit_word(words[-2])} {int(words[-1])}"
    elif len(words) >= 3 and words[1].isdigit() and words[0] in vocab.TIME_UNITS:
        stem, day, visit = words[2:], _wide_day(words[0], int(words[1])), f"{_unit_word(words[0])} {int(words[1])}"
    else:
        return None
    target = _measure(" ".join(stem))
    return WideColumn(name, target, day, visit) if target else None


def _wide_day(unit: str, number: int) -> int:
    return int(round(number * vocab.TIME_UNITS[unit]))


def _unit_word(unit: str) -> str:
    return {DAYS_PER_MONTH: "Month", 7: "Week", 1: "Day"}[vocab.TIME_UNITS[unit]]


def _measure(stem: str) -> str | None:
    for target in vocab.WIDE_MEASURES:
        if stem == vocab.normalised(target) or stem in vocab.SYNONYMS["visits"][target]:
            return target
    return None


# ---------------------------------------------------------------------------------------------
# Showing and editing a mapping (the Data page's table)


def mapping_rows(mapping: FileMapping, sheet: Sheet) -> pd.DataFrame:
    """One row per source column: example values, the canonical column(s) it becomes, confidence,
    why. Mapped columns come first, in the file's order; the others follow."""
    by_source: dict[str, list[tuple[str, ColumnRule]]] = {}
    for target, rule in mapping.columns.items():
        if rule.source:
            by_source.setdefault(rule.source, []).append((target, rule))
    wide = {w.source: w for w in mapping.wide}
    mapped, others = [], []
    for name in usable_names(sheet):
        examples = ", ".join(distinct_values(sheet.column(name), limit=4)[:4])
        if name in by_source:
            pairs = by_source[name]
            mapped.append(
                {
                    "column": name,
                    "examples": examples,
                    "becomes": JOINED.join(t for t, _ in pairs),
                    "how": "; ".join(_how(t, r) for t, r in pairs),
                    "confidence": min(r.confidence for _, r in pairs),
                    "why": "; ".join(r.reason for _, r in pairs if r.reason),
                }
            )
        elif name in wide:
            w = wide[name]
            mapped.append(
                {
                    "column": name,
                    "examples": examples,
                    "becomes": f"{w.target} at day {w.day}",
                    "how": "wide → long",
                    "confidence": 0.9,
                    "why": f"{w.visit}: one row per visit",
                }
            )
        else:
            kept = mapping.keep_other_columns and mapping.table == "courses" and name not in mapping.ignore
            others.append(
                {
                    "column": name,
                    "examples": examples,
                    "becomes": OWN_COLUMN if kept else NOT_USED,
                    "how": "",
                    "confidence": None,
                    "why": "",
                }
            )
    return pd.DataFrame(mapped + others, columns=["column", "examples", "becomes", "how", "confidence", "why"])


JOINED = " + "


def _how(target: str, rule: ColumnRule) -> str:
    how = vocab.TRANSFORMS.get(rule.transform, rule.transform)
    if rule.transform == vocab.DATE and target == "start_date":
        how = "calendar date"
    if rule.date_format:
        how += f" ({DATE_FORMAT_WORDS.get(rule.date_format, rule.date_format)})"
    if rule.when:
        how += " where " + " and ".join(f"{c} is {' or '.join(v)}" for c, v in rule.when.items())
    return how


OWN_COLUMN = "(keep as your own column)"
NOT_USED = "(not used)"


def target_choices(table: str) -> list[str]:
    """What a source column may become in a table, for the editor's drop-down."""
    if table == COURSE_EVENTS:
        return [NOT_USED, *COURSE_EVENT_COLUMNS]
    own = [OWN_COLUMN] if table == "courses" else []
    return [NOT_USED, *own, *(SPECS[table].names if table in SPECS else ())]


def with_edits(mapping: FileMapping, sheet: Sheet, choices: dict[str, str]) -> FileMapping:
    """The mapping with each source column's chosen target (from the editor) applied.

    A source newly given a target gets a fresh proposal for that target (transform, value map);
    columns unchanged keep their rules; wide columns and filters stay as they are.
    """
    current: dict[str, list[str]] = {}
    for target, rule in mapping.columns.items():
        if rule.source:
            current.setdefault(rule.source, []).append(target)
    columns = {t: r for t, r in mapping.columns.items() if not r.source}  # constants and conditions stay
    ignore = set(mapping.ignore)
    wide_sources = {w.source for w in mapping.wide}
    for source, chosen in choices.items():
        if source in wide_sources and chosen.startswith(tuple(vocab.WIDE_MEASURES)):
            continue
        if chosen in (NOT_USED, OWN_COLUMN, "", None):
            if chosen == NOT_USED:
                ignore.add(source)
            else:
                ignore.discard(source)
            continue
        ignore.discard(source)
        if chosen == JOINED.join(current.get(source, [])) or chosen in current.get(source, []):
            columns |= {
                t: mapping.columns[t] for t in current[source] if chosen == JOINED.join(current[source]) or t == chosen
            }
        else:
            columns[chosen] = _rule_for(sheet, mapping.table, source, chosen)
    for source, targets in current.items():
        if source not in choices:
            columns |= {t: mapping.columns[t] for t in targets if t not in columns}
    wide = [
        w
        for w in mapping.wide
        if choices.get(w.source, "").startswith(tuple(vocab.WIDE_MEASURES)) or w.source not in choices
    ]
    return replace(mapping, columns=columns, wide=wide, ignore=sorted(ignore))


def _rule_for(sheet: Sheet, table: str, source: str, target: str) -> ColumnRule:
    """A rule for a pairing the user chose: transform and values proposed for it."""
    if table in SPECS:
        proposed = propose_columns(sheet, table, [source])
        if target in proposed:
            return proposed[target]
        spec = SPECS[table].column(target)
        rule = ColumnRule(source=source, confidence=1.0, reason="chosen by you")
        if spec is not None and (target in SPECS[table].day_columns or spec.kind == "date"):
            fmt, _ = detect_date_format(sheet.column(source))
            looks = _value_profile(sheet.column(source))
            if fmt and looks.dates >= 0.5:
                rule.transform, rule.date_format = vocab.DATE, fmt
        rule.values, _ = propose_values(table, target, sheet.column(source))
        return rule
    return ColumnRule(source=source, confidence=1.0, reason="chosen by you")


def value_rows(mapping: FileMapping, sheet: Sheet) -> pd.DataFrame:
    """Per categorical column: each distinct value as written, how often, and what it becomes."""
    rows = []
    for target, rule in mapping.columns.items():
        spec = SPECS[mapping.table].column(target) if mapping.table in SPECS else None
        if (
            not rule.source
            or spec is None
            or (spec.kind not in ("category", "yesno") and target not in ("iga", "baseline_iga", "test"))
        ):
            continue
        column = sheet.column(rule.source)
        if column is None:
            continue
        counts = pc.value_counts(pc.drop_null(pc.utf8_trim_whitespace(column)))
        for item in counts.to_pylist()[:60]:
            value = item["values"]
            if value == "":
                continue
            rows.append(
                {
                    "column": target,
                    "value as written": value,
                    "rows": item["counts"],
                    "becomes": rule.values.get(value, value),
                }
            )
    return pd.DataFrame(rows, columns=["column", "value as written", "rows", "becomes"])


def with_value_edits(mapping: FileMapping, edited: pd.DataFrame) -> FileMapping:
    """The mapping with the value table's 'becomes' entries as value maps (identity entries dropped)."""
    columns = dict(mapping.columns)
    for target, rows in edited.groupby("column", sort=False):
        if target not in columns:
            continue
        values = {
            str(r["value as written"]): str(r["becomes"]).strip()
            for _, r in rows.iterrows()
            if pd.notna(r["becomes"])
            and str(r["becomes"]).strip()
            and str(r["becomes"]).strip() != str(r["value as written"])
        }
        rule = columns[target]
        columns[target] = ColumnRule(
            rule.source,
            rule.transform,
            values,
            rule.when,
            rule.constant,
            rule.date_format,
            rule.confidence,
            rule.reason,
        )
    return replace(mapping, columns=columns)
