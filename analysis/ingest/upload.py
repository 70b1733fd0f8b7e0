"""An upload from bytes to the validator's raw tables: read, keep identifiers out, map, apply.

`plan_upload` reads every file (zips expanded), drops direct identifiers, recognises standard
formats and proposes a mapping for the rest: the Data page shows this plan for the user to
confirm or change. `raw_tables` applies the confirmed mapping, turning each sheet into canonical
text columns (values mapped, dates made days from each course's start, wide layouts made long)
for the validator, which then types and checks every cell. Everything happens on bytes in
memory, and every row left out on the way is counted under its reason.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.ingest import vocabulary as vocab
from analysis.ingest.archives import Expansion, ExpansionRefused
from analysis.ingest.identifiers import IdentifierColumn, find_identifiers
from analysis.ingest.keys import CourseKeys
from analysis.ingest.mapping import (
    COURSE_EVENTS,
    DATE_FORMAT_WORDS,
    ColumnRule,
    FileMapping,
    Mapping,
    RowFilter,
    name_match,
    parse_dates,
    propose_file,
    rebased,
)
from analysis.ingest.progress import release_memory
from analysis.ingest.readers import ReadError, Sheet, as_text, expand_archives, read_file
from analysis.ingest.validation import (
    COLUMN_DROPPED,
    ERROR,
    FILE_IGNORED,
    NOTE,
    ROW_EXCLUDED,
    SET_MISSING,
    WARNING,
    RawTable,
    ReportBuilder,
    file_problem,
)
from analysis.schema import SPECS, TABLES
from analysis.stats.suppression import how_many

CANONICAL_FILES = {f"{name}.csv": name for name in TABLES}


@dataclass
class SheetPlan:
    """One sheet of the upload: what it holds, and how it maps (one entry per table it feeds)."""

    sheet: Sheet
    mappings: list[FileMapping]
    identifiers: list[IdentifierColumn] = field(default_factory=list)
    refused: str | None = None  # why the sheet cannot be used at all

    @property
    def label(self) -> str:
        return self.sheet.label


@dataclass
class UploadPlan:
    """Every sheet of an upload with its proposed (or saved) mapping, and the files that could not be read."""

    sheets: list[SheetPlan]
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) for unreadable files
    saved_unused: list[str] = field(default_factory=list)  # mapping-file entries matching no sheet
    refused: list[str] = field(default_factory=list)  # uploaded files refused for a decompression limit
    skipped_sheets: list[tuple[str, str]] = field(default_factory=list)  # (workbook sheet, why) not read

    @property
    def mapping(self) -> Mapping:
        return Mapping([m for plan in self.sheets for m in plan.mappings])

    def with_mapping(self, saved: Mapping) -> UploadPlan:
        """The plan with each sheet the mapping names mapped as it says (others keep their proposal)."""
        named = {id(plan): saved.named_for(plan.sheet) for plan in self.sheets}
        claimed = {id(entry) for entries in named.values() for entry in entries}
        unclaimed = [entry for entry in saved.files if id(entry) not in claimed]
        sheets, used = [], set(claimed)
        for plan in self.sheets:  # entries naming a sheet first; others by the columns they use
            entries = named[id(plan)] or saved.fitting(plan.sheet, unclaimed)
            used |= {id(entry) for entry in entries}
            if entries:
                mappings = [rebased(entry, plan.sheet) for entry in entries]
                plan = replace(plan, mappings=mappings, refused=plan.refused or _needs_dropped(mappings, plan))
            sheets.append(plan)
        unused = [entry.label for entry in saved.files if id(entry) not in used]
        return UploadPlan(sheets, self.problems, unused, self.refused, self.skipped_sheets)


def _needs_dropped(entries: list[FileMapping], plan: SheetPlan) -> str | None:
    dropped = {i.column: i for i in plan.identifiers}
    for entry in entries:
        key = entry.columns.get("patient_id")
        if key and key.source in dropped:
            return dropped[key.source].message(refused=True)
    return None


def plan_upload(files: dict[str, bytes], saved: Mapping | None = None) -> UploadPlan:
    """Reads every file and proposes how each sheet maps (a saved mapping, where given, wins)."""
    from analysis.ingest.formats import recognise

    expansion = Expansion()
    expanded, problems = expand_archives(files, expansion)
    sheets: list[Sheet] = []
    for name, data in expanded.items():
        try:
            sheets.extend(read_file(name, data, expansion))
        except ExpansionRefused as error:
            problems.append((name, str(error)))
            expansion.refused_files.append(name)
        except ReadError as error:
            problems.append((name, str(error)))
    if expansion.refused_files:
        release_memory()  # what a refused bomb expanded to before it was stopped goes back to the system
    skipped_sheets = [entry for sheet in sheets for entry in sheet.skipped_sheets]
    cleaned = [_without_identifiers(sheet) for sheet in sheets]
    recognised = recognise([sheet for sheet, _, _ in cleaned])
    plans = []
    for index, (sheet, found, refused) in enumerate(cleaned):
        mappings = recognised.get(index) or propose_file(sheet)
        plans.append(SheetPlan(sheet, mappings, found, refused))
    plan = UploadPlan(
        plans, problems, refused=_uploaded_names(expansion.refused_files, files), skipped_sheets=skipped_sheets
    )
    return plan.with_mapping(saved) if saved is not None else plan


def _uploaded_names(refused: list[str], files: dict[str, bytes]) -> list[str]:
    """The uploaded files a refusal came from (a gzip member is named as uploaded; a zip by its name)."""
    return [name for name in files if name in refused]


def _without_identifiers(sheet: Sheet) -> tuple[Sheet, list[IdentifierColumn], str | None]:
    """The sheet without identifier columns; refused when only an identifier could name the patients."""
    found = find_identifiers(sheet.names, sheet.columns)
    if not found:
        return sheet, [], None
    dropped = {i.column for i in found}
    keep = [i for i, name in enumerate(sheet.names) if name not in dropped]
    cleaned = replace(sheet, names=[sheet.names[i] for i in keep], columns=[sheet.columns[i] for i in keep])
    key_like = [i for i in found if _names_patients(i.column)]
    refused = None
    if key_like and not any(_names_patients(name) for name in cleaned.names):
        refused = key_like[0].message(refused=True)
    return cleaned, found, refused


def _names_patients(column: str) -> bool:
    match = name_match(column, "patient_id", vocab.SHARED["patient_id"])
    return match is not None and match[0] >= 0.75


# ---------------------------------------------------------------------------------------------
# From the plan to raw tables


@dataclass
class MappedPart:
    """One mapping applied: canonical text columns for one table, from one sheet."""

    table: str
    label: str
    raw: RawTable
    mapping: FileMapping
    sheet: Sheet


def raw_tables(plan: UploadPlan, builder: ReportBuilder) -> dict[str, list[RawTable]]:
    """Table -> the raw tables the validator checks; what could not be used is reported."""
    _report_plan(plan, builder)
    jobs = [
        (sheet_plan, mapping)
        for sheet_plan in plan.sheets
        if not sheet_plan.refused
        for mapping in sheet_plan.mappings
        if mapping.table
    ]
    labels = _labels(jobs)
    order = {"courses": 0, COURSE_EVENTS: 1}
    jobs.sort(key=lambda job: order.get(job[1].table, 2))
    parts: list[MappedPart] = []
    starts: CourseStarts | None = None
    first_of_sheet: set[int] = set()
    for sheet_plan, mapping in jobs:
        sheet = sheet_plan.sheet
        if mapping.table == "courses" and any(p.table == "courses" for p in parts):
            first = next(p for p in parts if p.table == "courses")
            builder.add(
                WARNING, labels[id(mapping)], f"a second courses table; only {first.label} is read", action=FILE_IGNORED
            )
            continue
        first = id(sheet) not in first_of_sheet
        first_of_sheet.add(id(sheet))
        applied = apply_mapping(sheet, mapping, labels[id(mapping)], builder, starts, with_reading_notes=first)
        if applied is None:
            continue
        if mapping.table == "courses":
            starts = CourseStarts.from_courses(applied.raw, applied.start_days)
        if mapping.table == COURSE_EVENTS:
            _merge_course_events(parts, applied, builder)
            continue
        parts.append(MappedPart(mapping.table, labels[id(mapping)], applied.raw, mapping, sheet))
    tables: dict[str, list[RawTable]] = {}
    for part in parts:
        tables.setdefault(part.table, []).append(part.raw)
    return tables


def _labels(jobs: list[tuple[SheetPlan, FileMapping]]) -> dict[int, str]:
    """How the report names each mapped part: the sheet, and the table when a sheet feeds several."""
    per_sheet = Counter(id(plan) for plan, _ in jobs)
    labels, seen = {}, Counter()
    for plan, mapping in jobs:
        label = plan.label if per_sheet[id(plan)] == 1 else f"{plan.label} ({mapping.table})"
        seen[label] += 1
        labels[id(mapping)] = label if seen[label] == 1 else f"{label} {seen[label]}"
    return labels


def _report_plan(plan: UploadPlan, builder: ReportBuilder) -> None:
    for file, reason in plan.problems:
        table = CANONICAL_FILES.get(re.split(r"[\\/]", file)[-1].lower())
        if table == "courses":
            file_problem(builder, "courses", file, reason, empty=False)
        else:
            severity = WARNING if reason == "the file is empty" and table else ERROR
            builder.add(severity, file, reason, action=FILE_IGNORED if severity == ERROR else "none")
    for entry in plan.saved_unused:
        builder.add(WARNING, entry, "the mapping file has an entry for this file, but no uploaded file matches it")
    for sheet_label, reason in plan.skipped_sheets:
        builder.add(NOTE, sheet_label, reason)
    for sheet_plan in plan.sheets:
        for found in sheet_plan.identifiers:
            if not sheet_plan.refused:
                builder.add(WARNING, sheet_plan.label, found.message(), column=found.column, action=COLUMN_DROPPED)
        if sheet_plan.refused:
            builder.add(ERROR, sheet_plan.label, sheet_plan.refused, action=FILE_IGNORED)
            continue
        for mapping in sheet_plan.mappings:
            if not mapping.table and "dictionary" in mapping.format:
                builder.add(NOTE, sheet_plan.label, mapping.reason)
            elif not mapping.table:
                builder.add(
                    WARNING,
                    sheet_plan.label,
                    "could not tell which table this file holds "
                    f"({mapping.reason}); choose its table on the Data page or in a mapping file",
                    action=FILE_IGNORED,
                )
            for note in mapping.notes:
                builder.add(NOTE, sheet_plan.label, note)


# ---------------------------------------------------------------------------------------------
# Applying one mapping


@dataclass
class Applied:
    raw: RawTable
    start_days: np.ndarray | None = None  # courses: each kept row's start date (days since 1970)


class CourseStarts:
    """Each course's start date, to turn calendar dates of visits, events and labs into days.

    Worked out when first needed: most uploads give days, and then no date is ever parsed.
    """

    def __init__(self, raw: RawTable, start_days: np.ndarray | None):
        self._raw, self._start_days = raw, start_days  # start_days None: parsed from start_date as ISO dates

    @classmethod
    def from_courses(cls, raw: RawTable, start_days: np.ndarray | None) -> CourseStarts:
        return cls(raw, start_days)

    @cached_property
    def _courses(self) -> tuple[CourseKeys, np.ndarray]:
        """The courses' keys, and each course row's start (days since 1970)."""
        raw, start = self._raw, self._start_days
        if start is None:
            start_date = _text_of(raw, "start_date")
            start = parse_dates(start_date, None) if start_date is not None else np.full(len(raw.rows), np.nan)
        return CourseKeys(*_keys(raw)), np.asarray(start, dtype=float)

    def lookup(self, patient: pa.Array | None, course: pa.Array | None, size: int) -> np.ndarray:
        """Each row's course start (NaN where the row has no course)."""
        keys, start = self._courses
        course_row = keys.positions(_trimmed(patient, size), _course_numbers(course, size))
        return (
            np.where(course_row >= 0, start[np.maximum(course_row, 0)], np.nan) if len(start) else np.full(size, np.nan)
        )


def _text_of(raw: RawTable, name: str) -> pa.Array | None:
    names = [n.strip().lower() for n in raw.names]
    return as_text(raw.columns[names.index(name)]) if name in names else None


def _trimmed(values: pa.Array | None, size: int) -> pa.Array:
    """Text without surrounding spaces; all missing when the column is absent."""
    return pa.nulls(size, pa.string()) if values is None else pc.utf8_trim_whitespace(values)


def _course_numbers(values: pa.Array | None, size: int) -> np.ndarray:
    if values is None:
        return np.ones(size, dtype=np.int64)
    numbers = pd.to_numeric(pd.Series(values.to_pylist(), dtype="object"), errors="coerce")
    return numbers.fillna(1).round().astype("int64").to_numpy()


def apply_mapping(
    sheet: Sheet,
    mapping: FileMapping,
    label: str,
    builder: ReportBuilder,
    starts: CourseStarts | None = None,
    with_reading_notes: bool = True,
) -> Applied | None:
    """The sheet's rows and columns for one table, as the validator reads them."""
    if sheet.typed and not _keeps_cells(mapping):
        sheet = sheet.as_text()
    pre_excluded: Counter = Counter()
    keep = _filtered(sheet, mapping, label, builder, pre_excluded)
    selected = None if keep.all() else pa.array(keep)  # None: every row, no copy
    rows = sheet.rows[keep]
    missing = [
        rule.source for rule in mapping.columns.values() if rule.source and sheet.read_column(rule.source) is None
    ]
    for source in dict.fromkeys(missing):
        builder.add(
            ERROR if mapping.table == "courses" else WARNING,
            label,
            f"the mapping uses column {source}, which is not in the file",
            column=source,
        )
    outputs = {target: _rule_values(sheet, rule, selected, len(rows)) for target, rule in mapping.columns.items()}
    outputs = {target: values for target, values in outputs.items() if values is not None}
    context = _Context(mapping, label, builder, rows, outputs, pre_excluded)
    start_days = _apply_dates(context, starts)
    drop = context.drop
    names, columns = _ordered_output(sheet, mapping, outputs, selected)
    if mapping.wide:
        names, columns, rows = _long_from_wide(sheet, mapping, names, columns, rows, selected)
        drop = np.zeros(len(rows), dtype=bool)
    if drop.any():
        kept = pa.array(~drop)
        columns = [c.filter(kept) for c in columns]
        rows = rows[~drop]
        start_days = start_days[~drop] if start_days is not None else None
    if with_reading_notes:
        for info in sheet.info:
            builder.add(NOTE, label, info)
        for row, message in sheet.row_warnings:
            builder.add(WARNING, label, message, row=row)
        for severity, row, column, value, message, action in sheet.cell_findings:
            builder.add(severity, label, message, row=row, column=column, value=value, action=action)
    raw = RawTable(
        table=mapping.table if mapping.table in SPECS else "courses",
        file=label,
        names=names,
        columns=columns,
        rows=rows,
        malformed=sheet.malformed if with_reading_notes else [],
        notes=list(sheet.notes) if with_reading_notes else [],
        extra=mapping.extra_columns() if mapping.table != "courses" else (),
        pre_excluded=dict(pre_excluded),
    )
    return Applied(raw, start_days)


def _keeps_cells(mapping: FileMapping) -> bool:
    """Each column mapped to itself, every row kept: a file the reader typed passes on as it is."""
    plain = all(
        rule.source and rule.source.lower() == target and not (rule.transform or rule.values or rule.when)
        for target, rule in mapping.columns.items()
    )
    return plain and mapping.table in SPECS and not mapping.filters and not mapping.wide


@dataclass
class _Context:
    mapping: FileMapping
    label: str
    builder: ReportBuilder
    rows: np.ndarray
    outputs: dict[str, pa.Array]
    pre_excluded: Counter
    drop: np.ndarray = None

    def __post_init__(self):
        self.drop = np.zeros(len(self.rows), dtype=bool)


def _filtered(
    sheet: Sheet, mapping: FileMapping, label: str, builder: ReportBuilder, pre_excluded: Counter
) -> np.ndarray:
    keep = np.ones(sheet.n_rows, dtype=bool)
    for row_filter in mapping.filters:
        column = sheet.column(row_filter.column)
        if column is None:
            builder.add(
                WARNING,
                label,
                f"rows could not be chosen by column {row_filter.column}: it is not in the file; every row is used",
                column=row_filter.column,
            )
            continue
        passes = filter_mask(column, row_filter, keep)
        if row_filter.reason:
            pre_excluded[row_filter.reason] += int((keep & ~passes).sum())
        keep &= passes
    return keep


def filter_mask(column: pa.Array, row_filter: RowFilter, keep: np.ndarray) -> np.ndarray:
    """Rows passing one filter (values compared trimmed and in any letter case; empty cells as '')."""
    values = pc.fill_null(pc.utf8_lower(pc.utf8_trim_whitespace(column)), "")
    passes = np.ones(len(column), dtype=bool)
    if row_filter.keep:
        passes &= _mask(pc.is_in(values, value_set=pa.array([v.strip().lower() for v in row_filter.keep], pa.string())))
    if row_filter.drop:
        passes &= ~_mask(
            pc.is_in(values, value_set=pa.array([v.strip().lower() for v in row_filter.drop], pa.string()))
        )
    if row_filter.drop_pattern:
        passes &= ~_mask(
            pc.match_substring_regex(pc.utf8_trim_whitespace(pc.fill_null(column, "")), row_filter.drop_pattern)
        )
    if row_filter.first_per_record:
        candidates = keep & passes
        first = ~pd.Series(values.to_pylist()).where(candidates).duplicated(keep="first").to_numpy()
        passes &= first | ~candidates
    return passes


def _mask(values: pa.Array) -> np.ndarray:
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _rule_values(sheet: Sheet, rule: ColumnRule, selected: pa.Array, size: int) -> pa.Array | None:
    if rule.source:
        column = sheet.read_column(rule.source)
        if column is None:
            return None
        values = _rows(column, selected)
    elif rule.constant is not None:
        values = pa.repeat(pa.scalar(str(rule.constant), pa.string()), size)
    else:
        return None
    if rule.values:
        values = map_values(values, rule.values)
    if rule.transform == vocab.STUDY_DAY:
        values = _shifted(values, lambda x: np.where(x > 0, x - 1, x))
    elif rule.transform == vocab.DURATION:
        values = _shifted(values, lambda x: x - 1)
    elif rule.transform == vocab.UNIT_IN_PARENTHESES:
        values = pc.struct_field(pc.extract_regex(pc.fill_null(values, ""), r"\((?P<unit>[^()]*)\)\s*$"), "unit")
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    if rule.when:
        condition = np.ones(size, dtype=bool)
        for column_name, allowed in rule.when.items():
            column = sheet.column(column_name)
            if column is None:
                condition[:] = False
                continue
            text = pc.utf8_trim_whitespace(_rows(column, selected))
            condition &= _mask(pc.is_in(text, value_set=pa.array([str(a) for a in allowed], pa.string())))
        values = pc.if_else(pa.array(condition), values, pa.scalar(None, pa.string()))
    return values


def _rows(column: pa.Array, selected: pa.Array | None) -> pa.Array:
    return column if selected is None else column.filter(selected)


def map_values(values: pa.Array, mapping: dict[str, str]) -> pa.Array:
    """Cells replaced by their mapped value (matched trimmed, in any letter case); others unchanged."""
    keys = {str(k).strip().lower(): str(v) for k, v in mapping.items()}
    position = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(values)), value_set=pa.array(list(keys), pa.string()))
    mapped = pc.take(pa.array(list(keys.values()), pa.string()), position)
    return pc.if_else(pc.is_null(position), values, mapped)


def _numbers(values: pa.Array) -> np.ndarray:
    return pd.to_numeric(pd.Series(values.to_pylist(), dtype="object"), errors="coerce").to_numpy(dtype=float)


def numbers_as_text(numbers: np.ndarray, original: pa.Array) -> pa.Array:
    """Numbers back to cell text (whole numbers without '.0'); cells that were not numbers unchanged."""
    finite = np.isfinite(numbers)
    whole = finite & (np.floor(numbers) == numbers) & (np.abs(numbers) < 2**53)
    text = np.where(
        whole,
        np.char.mod("%d", np.where(whole, numbers, 0).astype(np.int64)),
        np.char.mod("%.10g", np.where(finite, numbers, 0)),
    )
    return pc.if_else(pa.array(finite), pa.array(text, pa.string()), original)


def _shifted(values: pa.Array, shift) -> pa.Array:
    numbers = _numbers(values)
    return numbers_as_text(shift(numbers), values)


# ---------------------------------------------------------------------------------------------
# Dates to days


def _apply_dates(context: _Context, starts: CourseStarts | None) -> np.ndarray | None:
    """Date columns become days from each course's start; returns the courses' start dates."""
    mapping, outputs = context.mapping, context.outputs
    rules = {t: r for t, r in mapping.columns.items() if r.transform == vocab.DATE and t in outputs}
    if mapping.table == "courses":
        start_rule = mapping.columns.get("start_date")
        start_days = None
        dated = start_rule is not None and start_rule.transform == vocab.DATE
        if "start_date" in outputs and (dated or rules):  # else parsed by CourseStarts if ever needed
            fmt = start_rule.date_format if dated else None
            start_days = parse_dates(outputs["start_date"], fmt)
            if start_rule and start_rule.transform == vocab.DATE:
                outputs["start_date"] = _iso_dates(start_days, outputs["start_date"])
        for target, rule in rules.items():
            if target != "start_date":
                _dates_to_days(context, target, rule, start_days, "start_date of the same row")
        return start_days
    if not rules:
        return None
    start = None
    if starts is not None:
        start = starts.lookup(outputs.get("patient_id"), outputs.get("course_number"), len(context.rows))
    for target, rule in rules.items():
        _dates_to_days(context, target, rule, start, "the course's start_date in courses")
    return None


def _iso_dates(days: np.ndarray, original: pa.Array) -> pa.Array:
    known = np.isfinite(days)
    text = pd.to_datetime(np.where(known, days, 0), unit="D", origin="unix").strftime("%Y-%m-%d").to_numpy(dtype=object)
    return pc.if_else(pa.array(known), pa.array(text, pa.string()), original)


def _dates_to_days(
    context: _Context, target: str, rule: ColumnRule, start: np.ndarray | None, start_words: str
) -> None:
    values = context.outputs[target]
    dates = parse_dates(values, rule.date_format)
    present = _mask(pc.is_valid(values)) & _mask(pc.not_equal(pc.utf8_trim_whitespace(pc.fill_null(values, "")), ""))
    spec = SPECS[context.mapping.table].column(target) if context.mapping.table in SPECS else None
    required = spec is not None and spec.required
    fmt = rule.date_format or "%Y-%m-%d"
    written = _format_words(fmt)
    not_date = present & ~np.isfinite(dates) & ~context.drop
    _date_findings(
        context,
        target,
        not_date,
        values,
        required,
        f"not a date in the column's format ({written}" + (")" if fmt == "%Y-%m-%d" else " or YYYY-MM-DD)"),
        "date not understood",
    )
    start = np.full(len(dates), np.nan) if start is None else start
    no_start = present & np.isfinite(dates) & ~np.isfinite(start) & ~context.drop
    _date_findings(
        context,
        target,
        no_start,
        values,
        required,
        f"the date cannot become a day from the first dose without {start_words}",
        "no course start date",
    )
    days = dates - start
    context.outputs[target] = pc.if_else(
        pa.array(np.isfinite(days)), numbers_as_text(days, values), pa.scalar(None, pa.string())
    )


def _format_words(fmt: str) -> str:
    return DATE_FORMAT_WORDS.get(fmt, fmt)


def _date_findings(
    context: _Context, target: str, mask: np.ndarray, values: pa.Array, required: bool, message: str, reason: str
) -> None:
    if not mask.any():
        return
    selected = pa.array(mask)
    action = ROW_EXCLUDED if required else SET_MISSING
    context.builder.add_many(
        ERROR if required else WARNING,
        context.label,
        context.rows[mask],
        values.filter(selected),
        message,
        column=target,
        action=action,
    )
    if required:
        context.drop |= mask
        context.pre_excluded[reason] += int(mask.sum())


# ---------------------------------------------------------------------------------------------
# Output columns


def _ordered_output(
    sheet: Sheet, mapping: FileMapping, outputs: dict[str, pa.Array], selected: pa.Array
) -> tuple[list[str], list[pa.Array]]:
    """Mapped columns where their source stands in the file, unmapped ones passed on, the rest after."""
    by_source: dict[str, list[str]] = {}
    for target, rule in mapping.columns.items():
        if rule.source and target in outputs:
            by_source.setdefault(rule.source, []).append(target)
    targets_lower = {t.lower() for t in outputs}
    used = {s.lower() for s in mapping.used_sources()}
    ignored = {s.lower() for s in mapping.ignore}
    names, columns, placed, seen = [], [], set(), set()
    for name, column in zip(sheet.names, sheet.columns):
        first = name not in seen
        seen.add(name)
        if first and name in by_source:
            for target in by_source[name]:
                names.append(target)
                columns.append(outputs[target])
                placed.add(target)
            continue
        lowered = name.strip().lower()
        passes = mapping.keep_other_columns and lowered not in ignored and (not first or lowered not in used)
        if passes and (lowered not in targets_lower or not first):
            names.append(name)
            columns.append(_rows(column, selected))
    for target, values in outputs.items():
        if target not in placed:
            names.append(target)
            columns.append(values)
    return names, columns


def _long_from_wide(
    sheet: Sheet, mapping: FileMapping, names: list[str], columns: list[pa.Array], rows: np.ndarray, selected: pa.Array
) -> tuple[list[str], list[pa.Array], np.ndarray]:
    """One record per row and time point of a wide layout; time points with no value are skipped."""
    days = sorted({w.day for w in mapping.wide})
    targets = list(dict.fromkeys(w.target for w in mapping.wide))
    id_names = [n for n in names if n not in targets and n not in ("day", "visit")]
    id_columns = [c for n, c in zip(names, columns) if n in id_names]
    parts_columns: list[list[pa.Array]] = []
    parts_rows = []
    for day in days:
        at_day = {w.target: w for w in mapping.wide if w.day == day}
        measures = []
        for target in targets:
            source = at_day.get(target)
            column = sheet.column(source.source) if source else None
            measures.append(_rows(column, selected) if column is not None else pa.nulls(len(rows), pa.string()))
        has_value = np.logical_or.reduce([_mask(pc.is_valid(m)) for m in measures])
        visit = next((w.visit for w in at_day.values() if w.visit), None)
        chosen = pa.array(has_value)
        size = int(has_value.sum())
        parts_columns.append(
            [c.filter(chosen) for c in id_columns]
            + [m.filter(chosen) for m in measures]
            + [pa.repeat(pa.scalar(str(day), pa.string()), size), pa.repeat(pa.scalar(visit, pa.string()), size)]
        )
        parts_rows.append(rows[has_value])
    out_names = id_names + targets + ["day", "visit"]
    out_columns = [pa.concat_arrays([part[i] for part in parts_columns]) for i in range(len(out_names))]
    return out_names, out_columns, np.concatenate(parts_rows) if parts_rows else rows[:0]


# ---------------------------------------------------------------------------------------------
# Course events (CDISC ADTTE): event days added to the courses table


def _merge_course_events(parts: list[MappedPart], applied: Applied, builder: ReportBuilder) -> None:
    events = applied.raw
    courses = next((p for p in parts if p.table == "courses"), None)
    label = events.file
    read = len(events.rows) + sum(events.pre_excluded.values())
    builder.rows_read[label] = read
    for reason, count in events.pre_excluded.items():
        builder.count_excluded(label, reason, count)
    if courses is None:
        builder.add(
            ERROR,
            label,
            "event times need the courses table (e.g. ADSL) in the same upload; not used",
            action=FILE_IGNORED,
        )
        builder.count_excluded(label, "no courses table", len(events.rows))
        builder.rows_kept[label] = 0
        return
    patients, numbers = _keys(events)
    event_keys = CourseKeys(patients, numbers)
    first = event_keys.positions(patients, numbers)  # the first events row of each row's course
    duplicated = (first >= 0) & (first != np.arange(len(first)))
    position = event_keys.positions(*_keys(courses.raw))  # each course's events row
    matched_events = np.zeros(len(events.rows), dtype=bool)
    matched_events[position[position >= 0]] = True
    value_names = [n for n in events.names if n.strip().lower() not in ("patient_id", "course_number")]
    raw = courses.raw
    for name in value_names:
        column = events.columns[events.names.index(name)]
        if len(column):
            taken = pc.take(column, pa.array(np.where(position >= 0, position, 0)))
            taken = pc.if_else(pa.array(position >= 0), taken, pa.scalar(None, pa.string()))
        else:  # an events sheet without rows: every course's value is missing
            taken = pa.nulls(len(position), pa.string())
        lowered = [n.strip().lower() for n in raw.names]
        if name.lower() in lowered:
            raw.columns[lowered.index(name.lower())] = taken
        else:
            raw.names.append(name)
            raw.columns.append(taken)
    raw.relaxed_day_order = True
    builder.count_excluded(label, "repeated course", int(duplicated.sum()))
    builder.count_excluded(label, "no such course in " + courses.label, int((~duplicated & ~matched_events).sum()))
    builder.rows_kept[label] = int(matched_events.sum())
    builder.add(
        NOTE,
        label,
        f"event and censoring days of {how_many(int(matched_events.sum()), 'course')} added to "
        f"{courses.label} as {', '.join(value_names)}",
    )


def _keys(raw: RawTable) -> tuple[pa.Array, np.ndarray]:
    """Each row's patient_id (trimmed) and course number (1 when missing) as read."""
    size = len(raw.rows)
    return _trimmed(_text_of(raw, "patient_id"), size), _course_numbers(_text_of(raw, "course_number"), size)
