"""REDCap exports: one flat file with `record_id`, `redcap_event_name` and, for repeating
instruments, `redcap_repeat_instrument` and `redcap_repeat_instance`.

The record id is the patient. Rows of no repeating instrument carry the course's fields (on the
event where they are filled) and the visit measures (one visit per event: the event name is the
visit, and its day comes from a date field or, failing that, from the event's name such as
"month_3_arm_1"). Each repeating instrument is a table of its own (adverse events, labs, ...),
recognised from its fields. A REDCap data dictionary uploaded alongside gives the meaning of
coded answers ("1, Female | 2, Male").
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis.ingest import vocabulary as vocab
from analysis.ingest.mapping import ColumnRule, FileMapping, RowFilter, distinct_values, guess_table, propose_columns
from analysis.ingest.readers import Sheet
from analysis.schema import SPECS

EVENT = "redcap_event_name"
INSTRUMENT = "redcap_repeat_instrument"
INSTANCE = "redcap_repeat_instance"
REDCAP_COLUMNS = (EVENT, INSTRUMENT, INSTANCE, "redcap_data_access_group", "redcap_survey_identifier")
DICTIONARY_HEADER = ("variable / field name", "form name", "field type")
FORMAT = "REDCap"


def recognise(sheets: list[Sheet]) -> dict[int, list[FileMapping]]:
    found = {}
    choices: dict[str, dict[str, str]] = {}
    for index, sheet in enumerate(sheets):
        if is_data_dictionary(sheet):
            choices |= dictionary_choices(sheet)
            found[index] = [
                FileMapping(
                    sheet.file,
                    sheet.sheet,
                    "",
                    format="REDCap data dictionary",
                    reason="a REDCap data dictionary: used for the meaning of coded answers",
                )
            ]
    for index, sheet in enumerate(sheets):
        if index not in found and is_export(sheet):
            found[index] = export_mappings(sheet, choices)
    return found


def is_export(sheet: Sheet) -> bool:
    lowered = {n.lower() for n in sheet.names}
    return bool({EVENT, INSTRUMENT} & lowered) and len(sheet.names) > 1


def is_data_dictionary(sheet: Sheet) -> bool:
    lowered = [n.lower() for n in sheet.names[:3]]
    return tuple(lowered) == DICTIONARY_HEADER


def dictionary_choices(sheet: Sheet) -> dict[str, dict[str, str]]:
    """Field -> {code: label} from the dictionary's choices column ('1, Female | 2, Male')."""
    field_column = sheet.column("Variable / Field Name")
    choice_column = next((sheet.column(n) for n in sheet.names if n.lower().startswith("choices")), None)
    if field_column is None or choice_column is None:
        return {}
    choices = {}
    for field_name, text in zip(field_column.to_pylist(), choice_column.to_pylist()):
        if not field_name or not text or "|" not in text and "," not in text:
            continue
        pairs = [part.split(",", 1) for part in text.split("|") if "," in part]
        choices[field_name.strip()] = {code.strip(): label.strip() for code, label in pairs}
    return choices


def export_mappings(sheet: Sheet, choices: dict[str, dict[str, str]]) -> list[FileMapping]:
    record = sheet.names[0]
    event = _named(sheet, EVENT)
    instrument = _named(sheet, INSTRUMENT)
    instruments = distinct_values(sheet.column(instrument), limit=50) if instrument else []
    main_mask = _instrument_mask(sheet, instrument, "")
    mappings = _main_mappings(sheet, record, event, instrument, main_mask, choices)
    for name in instruments:
        mapping = _instrument_mapping(sheet, record, event, instrument, name, choices)
        if mapping is not None:
            mappings.append(mapping)
    if not mappings:
        mappings = [
            FileMapping(
                sheet.file,
                sheet.sheet,
                "",
                format=FORMAT,
                confidence=0.0,
                reason="a REDCap export, but no field looks like the courses' sex and age, a visit's IGA "
                "or lesions, a side effect or a lab result",
            )
        ]
    return mappings


def _named(sheet: Sheet, name: str) -> str | None:
    return next((n for n in sheet.names if n.lower() == name), None)


def _instrument_mask(sheet: Sheet, instrument: str | None, value: str) -> np.ndarray:
    if instrument is None:
        return np.ones(sheet.n_rows, dtype=bool)
    text = pc.fill_null(pc.utf8_trim_whitespace(sheet.column(instrument)), "")
    return pc.equal(text, value).to_numpy(zero_copy_only=False)


def _filled_names(sheet: Sheet, mask: np.ndarray, skip: set[str]) -> list[str]:
    """Fields with at least one value among the chosen rows (REDCap leaves other forms' fields empty)."""
    chosen = pa.array(mask)
    names = []
    for name, column in zip(sheet.names, sheet.columns):
        if name in skip or name.lower() in REDCAP_COLUMNS or not name:
            continue
        values = pc.utf8_trim_whitespace(column.filter(chosen))
        if pc.any(pc.not_equal(pc.fill_null(values, ""), "")).as_py():
            names.append(name)
    return list(dict.fromkeys(names))


def _main_mappings(
    sheet: Sheet, record: str, event: str | None, instrument: str | None, mask: np.ndarray, choices: dict
) -> list[FileMapping]:
    if not mask.any():
        return []
    main = sheet.subset(mask)
    names = _filled_names(main, np.ones(main.n_rows, dtype=bool), {record})
    mappings = []
    course_rules = _coded(propose_columns(main, "courses", names), main, "courses", choices)
    needed = {"sex", "age", "age_band"}  # kept even when unsure: the user checks them on the Data page
    course_rules = {t: r for t, r in course_rules.items() if t != "patient_id" and (r.confidence >= 0.6 or t in needed)}
    used = {r.source for r in course_rules.values()}
    base_filters = [RowFilter(instrument, keep=[""])] if instrument else []
    if {"sex", "age", "age_band"} & set(course_rules):
        filters = list(base_filters)
        course_event = _event_with(main, event, course_rules)
        if course_event:
            filters.append(RowFilter(event, keep=[course_event]))
        filters.append(
            RowFilter(
                record,
                first_per_record=True,
                reason="further rows of the same record (a course's fields are read from its first)",
            )
        )
        rules = {"patient_id": _record_rule(record), **course_rules}
        rules.setdefault("course_number", ColumnRule(constant="1", confidence=0.9, reason="one course per record"))
        mappings.append(
            FileMapping(
                sheet.file,
                sheet.sheet,
                "courses",
                rules,
                filters,
                keep_other_columns=False,
                format=FORMAT,
                confidence=0.9,
                reason=f"REDCap fields {', '.join(sorted(course_rules))}"
                + (f" on event {course_event}" if course_event else ""),
                notes=["recognised as a REDCap export: record_id is the patient"],
            )
        )
    visit_rules = _coded(propose_columns(main, "visits", [n for n in names if n not in used]), main, "visits", choices)
    visit_rules = {t: r for t, r in visit_rules.items() if t not in ("patient_id",) and r.confidence >= 0.6}
    if set(visit_rules) & set(vocab.SIGNATURE["visits"]) - {"day", "visit"}:
        rules = {"patient_id": _record_rule(record), **visit_rules}
        rules.setdefault("course_number", ColumnRule(constant="1", confidence=0.9, reason="one course per record"))
        if event:
            rules.setdefault(
                "visit",
                ColumnRule(
                    source=event,
                    values=_event_labels(main, event),
                    confidence=0.9,
                    reason="the REDCap event is the visit",
                ),
            )
            if "day" not in rules:
                days = _event_days(main, event)
                rules["day"] = ColumnRule(
                    source=event,
                    values=days,
                    confidence=0.7 if days else 0.3,
                    reason="days read from the event names (e.g. month_3 = day 91)",
                )
        mappings.append(
            FileMapping(
                sheet.file,
                sheet.sheet,
                "visits",
                rules,
                list(base_filters),
                keep_other_columns=False,
                format=FORMAT,
                confidence=0.85,
                reason="REDCap events with visit measures",
            )
        )
    return mappings


def _instrument_mapping(
    sheet: Sheet, record: str, event: str | None, instrument: str, name: str, choices: dict
) -> FileMapping | None:
    mask = _instrument_mask(sheet, instrument, name)
    part = sheet.subset(mask, sheet=f"{sheet.sheet + ' ' if sheet.sheet else ''}{name}")
    names = _filled_names(part, np.ones(part.n_rows, dtype=bool), {record})
    part.file = name  # the instrument's name says what it holds
    table, confidence, reason = guess_table(part, names)
    part.file = sheet.file
    if table in ("", "courses"):
        return None
    rules = _coded(propose_columns(part, table, names), part, table, choices)
    rules = {t: r for t, r in rules.items() if t != "patient_id"}
    rules = {"patient_id": _record_rule(record), **rules}
    rules.setdefault("course_number", ColumnRule(constant="1", confidence=0.9, reason="one course per record"))
    return FileMapping(
        sheet.file,
        sheet.sheet,
        table,
        rules,
        [RowFilter(instrument, keep=[name])],
        keep_other_columns=False,
        format=FORMAT,
        confidence=confidence,
        reason=f"REDCap repeating instrument '{name}': {reason}",
    )


def _record_rule(record: str) -> ColumnRule:
    return ColumnRule(source=record, confidence=1.0, reason="the REDCap record id identifies the patient")


def _coded(rules: dict[str, ColumnRule], sheet: Sheet, table: str, choices: dict) -> dict[str, ColumnRule]:
    """Coded answers translated with the data dictionary's labels (then the usual vocabularies)."""
    for target, rule in rules.items():
        labels = choices.get(rule.source or "")
        if not labels:
            continue
        spec = SPECS[table].column(target)
        vocabulary = vocab.VALUE_VOCABULARIES.get("yesno" if spec is not None and spec.kind == "yesno" else target, {})
        rule.values = {code: vocabulary.get(vocab.value_key(label), label) for code, label in labels.items()}
        rule.reason += "; coded answers from the REDCap data dictionary"
        rule.confidence = max(rule.confidence, 0.9)
    return rules


def _event_with(sheet: Sheet, event: str | None, rules: dict[str, ColumnRule]) -> str | None:
    """The event on which the course's fields are filled in most often."""
    if event is None:
        return None
    key = next((r.source for t, r in rules.items() if t in ("sex", "age", "age_band") and r.source), None)
    if key is None:
        return None
    filled = pc.not_equal(pc.fill_null(pc.utf8_trim_whitespace(sheet.column(key)), ""), "")
    counts = pc.value_counts(sheet.column(event).filter(filled)).to_pylist()
    return max(counts, key=lambda item: item["counts"])["values"] if counts else None


def _event_labels(sheet: Sheet, event: str) -> dict[str, str]:
    """'month_3_arm_1' -> 'Month 3' (the arm suffix dropped, words capitalised)."""
    labels = {}
    for name in distinct_values(sheet.column(event), limit=200):
        words = re.sub(r"_arm_\d+$", "", name).replace("_", " ").strip()
        labels[name] = words[:1].upper() + words[1:]
    return labels


def _event_days(sheet: Sheet, event: str) -> dict[str, str]:
    days = {}
    for name in distinct_values(sheet.column(event), limit=200):
        words = vocab.normalised(re.sub(r"_arm_\d+$", "", name)).split()
        if set(words) & vocab.BASELINE_WORDS or "enrolment" in words or "enrollment" in words:
            days[name] = "0"
            continue
        for unit, number in zip(words, words[1:]):
            if unit in vocab.TIME_UNITS and number.isdigit():
                days[name] = str(int(round(int(number) * vocab.TIME_UNITS[unit])))
                break
    return days
