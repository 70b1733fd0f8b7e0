"""CDISC ADaM (ADSL, ADAE, ADLB*, ADTTE) and SDTM (DM, AE, LB) datasets, mapped without asking.

Choices, each stated in the report and changeable in the saved mapping:
- One course per subject. ADSL gives the courses of the safety population (SAFFL = "Y"), with
  the planned arm (TRT01P) as the custom column `arm`; the start is TRTSDT and the last dose
  TRTEDT, so `end_day` = TRTEDT - TRTSDT and the course lasts TRTDUR days.
- CDISC study days count the first dose as day 1 and have no day 0; the dashboard's day 0 is the
  first dose, so positive study days (ASTDY, AENDY, ADY, --DY) are shifted down by one.
- ADAE: the events the study flags as treatment-emergent (TRTEMFL = "Y"), as the study's own
  tables count them; the term as written (AETERM), the study's body system (AEBODSYS) and the
  flag itself are kept.
- ADLB*: one row per result with PARAMCD as the test, AVAL in the unit named in PARAM's brackets,
  A1LO/A1HI as limits and AVISIT (padding stripped; "." = outside any analysis window) as the
  visit. Shift-category parameters (PARAMCD starting "_") are not results and are left out.
  End-of-treatment records repeat a scheduled result: they are kept so that results by visit
  match the study's tables (they count twice in results by month).
- ADTTE: one parameter (the first, or TTDE when present) becomes each course's event time:
  AVAL is the event day where CNSR = 0 (`relapse_day`) and the censoring day otherwise
  (`followup_end_day`), counted as the study counts it. Where time starts is the file's origin
  date STARTDT: when it is the first dose (TRTSDT) the mapping declares `time_origin` "start", so
  that the relapse analysis counts from the first dose (from the last dose, TRTEDT: "end").
"""

from __future__ import annotations

import re

import pyarrow.compute as pc

from analysis.ingest import vocabulary as vocab
from analysis.ingest.mapping import COURSE_EVENTS, ColumnRule, FileMapping, RowFilter, distinct_values, propose_values
from analysis.ingest.readers import Sheet

SAFETY = RowFilter("SAFFL", keep=["Y"], reason="not in the safety population (SAFFL is not Y)")
TREATMENT_EMERGENT = RowFilter("TRTEMFL", keep=["Y"], reason="not treatment-emergent (TRTEMFL is not Y)")
SHIFT_PARAMETERS = RowFilter(
    "PARAMCD", drop_pattern=r"^_", reason="shift-category parameters (PARAMCD starting with _), not results"
)
NO_VALUE = RowFilter("AVAL", drop=[""], reason="no result value (AVAL empty)")
SCREEN_FAILURES = RowFilter(
    "ARM",
    drop=["Screen Failure", "Not Assigned", "Not Treated"],
    reason="screen failures and subjects not assigned or not treated (ARM)",
)
PREFERRED_EVENT = "TTDE"
YES_NO = {"Y": "yes", "N": "no"}


def recognise(sheets: list[Sheet]) -> dict[int, list[FileMapping]]:
    found = {}
    for index, sheet in enumerate(sheets):
        kind = dataset_kind(sheet)
        if kind:
            found[index] = [BUILDERS[kind](sheet)]
    return found


def dataset_kind(sheet: Sheet) -> str | None:
    """Which CDISC dataset a sheet is, from its name and its variables."""
    names = {n.upper() for n in sheet.names}
    stem = (
        re.sub(r"\.\w+$", "", re.split(r"[\\/]", sheet.file)[-1]).lower()
        if sheet.sheet is None
        else sheet.sheet.lower()
    )
    if "USUBJID" not in names:
        return None
    domain = _single_value(sheet, "DOMAIN")
    if domain in ("DM", "AE", "LB"):
        return f"sdtm_{domain.lower()}"
    if "CNSR" in names and {"PARAMCD", "AVAL"} <= names:
        return "adtte"
    if {"PARAMCD", "AVAL"} <= names and (stem.startswith("adlb") or {"ADY", "A1LO"} & names or "AVISIT" in names):
        return "adlb"
    if "AETERM" in names and ({"TRTEMFL", "ASTDY", "TRTA"} & names or stem.startswith("adae")):
        return "adae"
    if ({"TRT01P", "TRT01A"} & names or stem == "adsl") and "PARAMCD" not in names and "AETERM" not in names:
        return "adsl"
    return None


def _single_value(sheet: Sheet, column: str) -> str | None:
    values = sheet.column(column)
    if values is None:
        return None
    distinct = distinct_values(values.slice(0, 1000), limit=2)
    return distinct[0].upper() if len(distinct) == 1 else None


def _present(sheet: Sheet, *names: str) -> str | None:
    """The first of the variables the sheet has, as it spells it."""
    lowered = {n.upper(): n for n in sheet.names}
    return next((lowered[n] for n in names if n in lowered), None)


def _rules(sheet: Sheet, wanted: dict[str, tuple]) -> dict[str, ColumnRule]:
    """Canonical column -> rule, for the wanted (variables, transform) whose variable is present."""
    rules = {}
    for target, (variables, transform) in wanted.items():
        source = _present(sheet, *variables)
        if source:
            rules[target] = ColumnRule(
                source=source, transform=transform, confidence=1.0, reason=f"CDISC variable {source}"
            )
            if transform == vocab.DATE:
                rules[target].date_format = "%Y-%m-%d"
    return rules


def _with_values(rules: dict[str, ColumnRule], sheet: Sheet, table: str) -> dict[str, ColumnRule]:
    for target, rule in rules.items():
        if rule.source and not rule.values:
            rule.values, _ = propose_values(table, target, sheet.column(rule.source))
    return rules


def _filters(sheet: Sheet, *filters: RowFilter) -> list[RowFilter]:
    return [f for f in filters if _present(sheet, f.column)]


def _one_course() -> ColumnRule:
    return ColumnRule(constant="1", confidence=1.0, reason="one course per subject")


def adsl(sheet: Sheet) -> FileMapping:
    columns = {
        "patient_id": (("USUBJID",), ""),
        "sex": (("SEX",), ""),
        "age": (("AGE",), ""),
        "start_date": (("TRTSDT", "RFXSTDTC", "RFSTDTC"), vocab.DATE),
        "end_day": (("TRTEDT", "RFXENDTC"), vocab.DATE),
        "weight_kg": (("WEIGHTBL",), ""),
        "site": (("SITEID",), ""),
        "end_reason": (("DCDECOD", "DCREASCD"), ""),
        "arm": (("TRT01P", "ARM"), ""),
        "actual_arm": (("TRT01A", "ACTARM"), ""),
        "race": (("RACE",), ""),
        "ethnicity": (("ETHNIC",), ""),
        "age_group": (("AGEGR1",), ""),
    }
    return _subject_courses(
        sheet,
        columns,
        SAFETY,
        ("CDISC ADaM ADSL", "CDISC ADaM subject-level dataset (ADSL)", "ADSL"),
        "one course per subject of the safety population (SAFFL = Y); the arm "
        "(TRT01P) is the column 'arm'; start TRTSDT, last dose TRTEDT",
    )


def _subject_courses(
    sheet: Sheet, columns: dict, row_filter: RowFilter, named: tuple[str, str, str], note: str
) -> FileMapping:
    """A subject-level file (ADSL, DM) as the courses table: one course per subject; `named` is the
    format, the reason shown and the domain the note names."""
    rules = _rules(sheet, columns)
    rules["course_number"] = _one_course()
    _drop_same(rules, "actual_arm", "arm", sheet)
    file_format, reason, domain = named
    return FileMapping(
        sheet.file,
        sheet.sheet,
        "courses",
        _with_values(rules, sheet, "courses"),
        _filters(sheet, row_filter),
        keep_other_columns=False,
        format=file_format,
        reason=reason,
        notes=[_said(sheet, domain, note)],
    )


def _drop_same(rules: dict[str, ColumnRule], extra: str, main: str, sheet: Sheet) -> None:
    """An actual arm identical to the planned one adds nothing."""
    if extra in rules and main in rules:
        a, b = sheet.column(rules[extra].source), sheet.column(rules[main].source)
        if (
            a is not None
            and b is not None
            and pc.all(pc.equal(pc.fill_null(a, ""), pc.fill_null(b, ""))).as_py() is not False
        ):
            del rules[extra]


def adae(sheet: Sheet) -> FileMapping:
    rules = _rules(
        sheet,
        {
            "patient_id": (("USUBJID",), ""),
            "term": (("AETERM", "AEDECOD"), ""),
            "onset_day": (("ASTDY", "AESTDY"), vocab.STUDY_DAY),
            "resolved_day": (("AENDY", "AEENDY"), vocab.STUDY_DAY),
            "grade": (("ATOXGR", "AETOXGR"), ""),
            "serious": (("AESER",), ""),
            "action": (("AEACN",), ""),
            "body_system": (("AEBODSYS", "AESOC"), ""),
            "treatment_emergent": (("TRTEMFL",), ""),
        },
    )
    rules["course_number"] = _one_course()
    if "treatment_emergent" in rules:
        rules["treatment_emergent"].values = dict(YES_NO)
    return FileMapping(
        sheet.file,
        sheet.sheet,
        "adverse_events",
        _with_values(rules, sheet, "adverse_events"),
        _filters(sheet, SAFETY, TREATMENT_EMERGENT),
        keep_other_columns=False,
        format="CDISC ADaM ADAE",
        reason="CDISC ADaM adverse events dataset (ADAE)",
        notes=[
            _said(
                sheet,
                "ADAE",
                "treatment-emergent events (TRTEMFL = Y) of the safety population; term "
                "AETERM, body system AEBODSYS, onset ASTDY (study day 1 = the first dose, day 0 here)",
            )
        ],
    )


def adlb(sheet: Sheet) -> FileMapping:
    rules = _rules(
        sheet,
        {
            "patient_id": (("USUBJID",), ""),
            "day": (("ADY",), vocab.STUDY_DAY),
            "visit": (("AVISIT",), ""),
            "test": (("PARAMCD",), ""),
            "value": (("AVAL",), ""),
            "unit": (("PARAM",), vocab.UNIT_IN_PARENTHESES),
            "lower_limit": (("A1LO", "ANRLO"), ""),
            "upper_limit": (("A1HI", "ANRHI"), ""),
            "visit_number": (("AVISITN",), ""),
        },
    )
    rules["course_number"] = _one_course()
    if "visit" in rules:
        rules["visit"].values = {".": ""}
    unit = _present(sheet, "AVALU")
    if unit:
        rules["unit"] = ColumnRule(source=unit, confidence=1.0, reason=f"CDISC variable {unit}")
    return FileMapping(
        sheet.file,
        sheet.sheet,
        "labs",
        rules,
        _filters(sheet, SAFETY, SHIFT_PARAMETERS, NO_VALUE),
        keep_other_columns=False,
        format=f"CDISC ADaM {_dataset_name(sheet, 'ADLB')}",
        reason="CDISC ADaM laboratory dataset (ADLB)",
        notes=[
            _said(
                sheet,
                "ADLB",
                "test PARAMCD, value AVAL in the unit in PARAM's brackets, limits "
                "A1LO/A1HI, visit AVISIT, day ADY (study day 1 = day 0 here); End of Treatment records "
                "repeat a scheduled result and are kept for results by visit",
            )
        ],
    )


def _dataset_name(sheet: Sheet, default: str) -> str:
    stem = re.sub(r"\.\w+$", "", re.split(r"[\\/]", sheet.file)[-1]).upper()
    return stem if stem.startswith(default[:4]) else default


def adtte(sheet: Sheet) -> FileMapping:
    parameters = distinct_values(sheet.column(_present(sheet, "PARAMCD")), limit=50)
    chosen = PREFERRED_EVENT if PREFERRED_EVENT in parameters else (parameters[0] if parameters else "")
    censor = _present(sheet, "CNSR")
    censor_values = [v for v in distinct_values(sheet.column(censor), limit=20) if v != "0"] or ["1"]
    value = _present(sheet, "AVAL")
    rules = {
        "patient_id": ColumnRule(source=_present(sheet, "USUBJID"), confidence=1.0, reason="CDISC variable USUBJID"),
        "course_number": _one_course(),
        "relapse_day": ColumnRule(
            source=value,
            when={censor: ["0"]},
            confidence=1.0,
            reason=f"AVAL where CNSR = 0 (the event happened): {chosen}",
        ),
        "followup_end_day": ColumnRule(
            source=value, when={censor: censor_values}, confidence=1.0, reason="AVAL where CNSR is not 0 (censored)"
        ),
    }
    origin, origin_words = _time_origin(sheet)
    filters = _filters(sheet, SAFETY)
    if len(parameters) > 1:
        filters.append(
            RowFilter(_present(sheet, "PARAMCD"), keep=[chosen], reason=f"other time-to-event parameters than {chosen}")
        )
    return FileMapping(
        sheet.file,
        sheet.sheet,
        COURSE_EVENTS,
        rules,
        filters,
        keep_other_columns=False,
        format="CDISC ADaM ADTTE",
        reason="CDISC ADaM time-to-event dataset (ADTTE)",
        notes=[
            _said(
                sheet,
                "ADTTE",
                f"parameter {chosen}: AVAL is the event day where CNSR = 0 "
                f"(relapse_day) and the censoring day otherwise (followup_end_day); {origin_words}",
            )
        ],
        time_origin=origin,
    )


def _time_origin(sheet: Sheet) -> tuple[str, str]:
    """Where AVAL counts from, as the ADTTE says it: its origin date STARTDT, checked against the first
    (TRTSDT) and last (TRTEDT) dose dates where the file has them. Returns the origin ("start", "end",
    or "" when the file does not say) and how the report words it."""
    origin = _present(sheet, "STARTDT")
    if not origin:
        return "", "the file has no origin date (STARTDT): choose on the relapse page where time counts from"
    dates = sheet.column(origin)
    for name, (key, words) in {"TRTSDT": ("start", "the first dose"), "TRTEDT": ("end", "the last dose")}.items():
        dose = _present(sheet, name)
        if dose and _same_dates(dates, sheet.column(dose)):
            return key, f"time counts from STARTDT, the date of {words} ({name}), as the study counts it"
    if _present(sheet, "TRTSDT") or _present(sheet, "TRTEDT"):
        return "", (
            "time counts from STARTDT, which is neither the first (TRTSDT) nor the last dose (TRTEDT): "
            "choose on the relapse page where time counts from"
        )
    return "start", "time counts from STARTDT, taken as the start of treatment (the file has no TRTSDT to check it)"


def _same_dates(a, b) -> bool:
    """Whether two date columns (as text) hold the same date on every row where the first has one."""
    if a is None or b is None:
        return False
    given = pc.not_equal(pc.fill_null(a, ""), "")
    if not pc.any(given).as_py():
        return False
    same = pc.equal(pc.fill_null(a, ""), pc.fill_null(b, ""))
    return pc.all(pc.or_(same, pc.invert(given))).as_py() is not False


def sdtm_dm(sheet: Sheet) -> FileMapping:
    columns = {
        "patient_id": (("USUBJID",), ""),
        "sex": (("SEX",), ""),
        "age": (("AGE",), ""),
        "start_date": (("RFXSTDTC", "RFSTDTC"), vocab.DATE),
        "end_day": (("RFXENDTC", "RFENDTC"), vocab.DATE),
        "site": (("SITEID",), ""),
        "arm": (("ARM",), ""),
        "actual_arm": (("ACTARM",), ""),
        "race": (("RACE",), ""),
        "ethnicity": (("ETHNIC",), ""),
    }
    return _subject_courses(
        sheet,
        columns,
        SCREEN_FAILURES,
        ("CDISC SDTM DM", "CDISC SDTM demographics domain (DM)", "DM"),
        "one course per subject (screen failures left out); start RFXSTDTC, "
        "last dose RFXENDTC; the arm (ARM) is the column 'arm'",
    )


def sdtm_ae(sheet: Sheet) -> FileMapping:
    onset = ("AESTDY",) if _present(sheet, "AESTDY") else ("AESTDTC",)
    end = ("AEENDY",) if _present(sheet, "AEENDY") else ("AEENDTC",)
    rules = _rules(
        sheet,
        {
            "patient_id": (("USUBJID",), ""),
            "term": (("AETERM",), ""),
            "onset_day": (onset, vocab.STUDY_DAY if onset[0].endswith("DY") else vocab.DATE),
            "resolved_day": (end, vocab.STUDY_DAY if end[0].endswith("DY") else vocab.DATE),
            "grade": (("AETOXGR",), ""),
            "serious": (("AESER",), ""),
            "action": (("AEACN",), ""),
            "body_system": (("AEBODSYS",), ""),
        },
    )
    rules["course_number"] = _one_course()
    return FileMapping(
        sheet.file,
        sheet.sheet,
        "adverse_events",
        _with_values(rules, sheet, "adverse_events"),
        keep_other_columns=False,
        format="CDISC SDTM AE",
        reason="CDISC SDTM adverse events domain (AE)",
        notes=[_said(sheet, "AE", "every recorded event; term AETERM, onset AESTDY (study day 1 = day 0 here)")],
    )


def sdtm_lb(sheet: Sheet) -> FileMapping:
    rules = _rules(
        sheet,
        {
            "patient_id": (("USUBJID",), ""),
            "day": (("LBDY",), vocab.STUDY_DAY),
            "visit": (("VISIT",), ""),
            "test": (("LBTESTCD",), ""),
            "value": (("LBSTRESN",), ""),
            "unit": (("LBSTRESU",), ""),
            "lower_limit": (("LBSTNRLO",), ""),
            "upper_limit": (("LBSTNRHI",), ""),
        },
    )
    rules["course_number"] = _one_course()
    return FileMapping(
        sheet.file,
        sheet.sheet,
        "labs",
        rules,
        keep_other_columns=False,
        format="CDISC SDTM LB",
        reason="CDISC SDTM laboratory domain (LB)",
        notes=[_said(sheet, "LB", "test LBTESTCD, value LBSTRESN in LBSTRESU, day LBDY (study day 1 = day 0 here)")],
    )


def _said(sheet: Sheet, dataset: str, what: str) -> str:
    return f"recognised as CDISC {dataset}: {what}"


BUILDERS = {
    "adsl": adsl,
    "adae": adae,
    "adlb": adlb,
    "adtte": adtte,
    "sdtm_dm": sdtm_dm,
    "sdtm_ae": sdtm_ae,
    "sdtm_lb": sdtm_lb,
}
