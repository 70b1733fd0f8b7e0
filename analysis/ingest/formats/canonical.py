"""The dashboard's own format: courses.csv, visits.csv, adverse_events.csv, labs.csv."""

from __future__ import annotations

from analysis.ingest.mapping import ColumnRule, FileMapping, propose_columns, usable_names
from analysis.ingest.readers import Sheet, table_named
from analysis.ingest.vocabulary import normalised
from analysis.schema import SPECS, TABLES

FORMAT = "canonical"


def recognise(sheets: list[Sheet]) -> dict[int, list[FileMapping]]:
    found = {}
    for index, sheet in enumerate(sheets):
        table = canonical_table(sheet)
        if table:
            found[index] = [canonical_mapping(sheet, table)]
    return found


def canonical_table(sheet: Sheet) -> str | None:
    """The table a file named like one of the four holds (courses.csv, Visits.CSV, ...)."""
    if sheet.sheet is not None:  # a workbook: its sheets are named like the tables
        stem = sheet.sheet.strip().lower()
        return stem if stem in TABLES else None
    return table_named(sheet.file)


def canonical_mapping(sheet: Sheet, table: str) -> FileMapping:
    """Columns named as the format names them map to themselves; a missing required or key column is
    looked for among the other names (e.g. 'Patient ID', 'course': a course number left at its default
    of 1 would merge a patient's courses); everything else passes on unchanged."""
    spec = SPECS[table]
    by_name = {normalised(c): c for c in spec.names}
    rules: dict[str, ColumnRule] = {}
    for name in usable_names(sheet):
        target = by_name.get(normalised(name))
        if target and target not in rules:
            rules[target] = ColumnRule(source=name, confidence=1.0, reason="same name")
    needed = [c.name for c in spec.columns if (c.required or c.name in spec.key) and c.name not in rules]
    if needed:
        others = [n for n in usable_names(sheet) if n not in {r.source for r in rules.values()}]
        proposed = propose_columns(sheet, table, others)
        rules |= {target: rule for target, rule in proposed.items() if target in needed and rule.confidence >= 0.6}
    return FileMapping(
        sheet.file, sheet.sheet, table, rules, format=FORMAT, confidence=1.0, reason=f"the file is named {table}"
    )
