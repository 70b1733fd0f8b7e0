"""Words researchers' exports use for the canonical columns and values, for proposing a mapping.

Names are compared after `normalised()`: lower case, punctuation and underscores as spaces, and
letters split from digits ("iga_m3" -> "iga m 3"). Each synonym may carry a transform that turns
the column into the canonical one (a date becomes days from the course's start; a duration
becomes the last day).
"""
from __future__ import annotations

import re

from analysis.ingest.identifiers import normalised as _identifier_words
from analysis.schema import DAYS_PER_MONTH

# Transforms a rule may apply to its source column.
DATE = "date"                      # calendar date -> days from the course's start (or ISO date for start_date)
STUDY_DAY = "study_day"            # CDISC study day (day 1 = first dose, no day 0) -> day 0 = first dose
DURATION = "duration"              # days of treatment -> day of the last dose (duration - 1)
UNIT_IN_PARENTHESES = "unit_in_parentheses"  # "Alanine Aminotransferase (U/L)" -> "U/L"
TRANSFORMS = {
    "": "as written",
    DATE: "date → days from the course's start",
    STUDY_DAY: "study day (day 1 = first dose) → day 0 = first dose",
    DURATION: "duration in days → day of the last dose",
    UNIT_IN_PARENTHESES: "unit taken from the brackets at the end",
}

SHARED = {
    "patient_id": ["patient id", "patient", "pid", "subject", "subject id", "subjid", "usubjid", "record id", "participant",
                   "participant id", "id", "patient number", "patient no", "pat id", "patientid", "study id", "case id",
                   "pseudonym", "code", "patient code", "subject number", "individual"],
    "course_number": ["course", "course number", "course no", "course nr", "treatment course", "course id", "episode",
                      "course index", "line of treatment"],
}

SYNONYMS: dict[str, dict[str, list[str]]] = {
    "courses": {
        **SHARED,
        "sex": ["sex", "gender", "sexe", "geschlecht", "sex at birth", "biological sex", "sexo", "m f"],
        "age": ["age", "age years", "age yrs", "age at start", "age at treatment start", "age at baseline", "age y",
                "alter", "age at first dose", "patient age", "ageyrs"],
        "age_band": ["age band", "age group", "agegr1", "age category", "age class", "age range"],
        "weight_kg": ["weight", "weight kg", "body weight", "wt", "weightbl", "weight at baseline", "baseline weight",
                      "weight at start", "bw", "gewicht", "body weight kg"],
        "baseline_iga": ["baseline iga", "iga baseline", "iga at baseline", "iga bl", "bl iga", "initial iga",
                         "iga at start", "severity at baseline", "baseline severity"],
        "acne_type": ["acne type", "type of acne", "acne subtype", "diagnosis", "acne form", "clinical type"],
        "prior_treatments": ["prior treatments", "previous treatments", "prior therapy", "prior therapies",
                             "previous therapy", "treatment history", "prior treatment"],
        "site": ["site", "clinic", "centre", "center", "siteid", "site id", "hospital", "location", "practice", "study site"],
        "start_date": ["start date", "first dose date", "date of first dose", "treatment start", "treatment start date",
                       "trtsdt", "isotretinoin start", "start of treatment", "course start", "course start date",
                       "date started", "rfstdtc", "rfxstdtc", "startdate", "initiation date", "start", "started",
                       "first dose"],
        "end_day": ["end day", "last dose day", "day of last dose", "end of treatment day", "stop day", "course end day",
                    "end date", "last dose date", "date of last dose", "stop date", "treatment end date", "trtedt",
                    "course end date", "end of treatment", "enddate", "rfxendtc", "treatment duration", "duration",
                    "duration of treatment", "trtdur", "treatment days", "days on treatment"],
        "cumulative_dose_mg": ["cumulative dose", "cumulative dose mg", "total dose", "total dose mg", "cumdose",
                               "cum dose", "cumulative isotretinoin dose", "total isotretinoin"],
        "end_reason": ["end reason", "reason for ending", "reason for stopping", "discontinuation reason",
                       "reason for discontinuation", "dcreascd", "dcdecod", "stop reason", "outcome of course", "end of course reason"],
        "followup_end_day": ["followup end day", "follow up end day", "last follow up day", "follow up days",
                             "last seen day", "follow up end date", "last follow up date", "date last seen", "last contact date",
                             "followup end date", "last visit date"],
        "relapse_day": ["relapse day", "day of relapse", "relapse", "relapse date", "date of relapse", "recurrence date",
                        "recurrence day", "relapsed on"],
        "retreat_day": ["retreat day", "retreatment day", "retreatment date", "second course start", "date of retreatment",
                        "retreatment", "new course date"],
        "can_become_pregnant": ["can become pregnant", "childbearing potential", "of childbearing potential", "wocbp",
                                "woman of childbearing potential", "pregnancy potential", "child bearing potential",
                                "pregnancy prevention programme", "ppp"],
    },
    "visits": {
        **SHARED,
        "day": ["day", "study day", "visit day", "days from start", "days since start", "ady", "day from first dose",
                "treatment day", "days", "day number", "visit date", "date", "assessment date", "date of visit",
                "adt", "visit dt", "examination date", "svstdtc", "visitdate"],
        "visit": ["visit", "visit name", "avisit", "timepoint", "time point", "visit label", "redcap event name", "event",
                  "week", "visit number", "visitnum"],
        "iga": ["iga", "investigator global assessment", "investigator's global assessment", "iga score", "global assessment",
                "iga grade", "igascore", "investigator global", "severity", "acne severity", "gags"],
        "inflammatory_lesions": ["inflammatory lesions", "inflammatory", "inflammatory lesion count", "inflammatory count",
                                 "papules pustules", "inflamed lesions", "il", "inflammatory acne lesions"],
        "noninflammatory_lesions": ["noninflammatory lesions", "non inflammatory lesions", "noninflammatory",
                                    "non inflammatory", "comedones", "comedone count", "nil", "non inflammatory lesion count"],
        "nodules": ["nodules", "nodules cysts", "cysts", "nodule count", "nodular lesions", "nodules and cysts"],
        "total_lesions": ["total lesions", "lesions", "lesion count", "total lesion count", "total", "tlc", "lesion total"],
        "dose_mg_per_day": ["dose mg per day", "dose", "daily dose", "dose mg", "dose mg day", "mg day", "mg per day",
                            "isotretinoin dose", "dose per day", "daily dose mg", "dosage"],
        "phq9": ["phq9", "phq 9", "phq", "phq9 score", "phq 9 score", "depression score"],
    },
    "adverse_events": {
        **SHARED,
        "term": ["term", "adverse event", "ae", "event", "aeterm", "side effect", "ae term", "reported term",
                 "event term", "adverse event term", "side effects", "reaction", "ae description", "aedecod", "preferred term"],
        "onset_day": ["onset day", "astdy", "aestdy", "onset study day", "day of onset", "start day", "onset",
                      "onset date", "date of onset", "aestdtc", "astdt", "start date", "ae start date", "event date", "date"],
        "resolved_day": ["resolved day", "aendy", "aeendy", "end day", "resolution day", "day resolved",
                         "resolved date", "resolution date", "date resolved", "aeendtc", "aendt", "end date", "stop date",
                         "ae end date"],
        "grade": ["grade", "ctcae grade", "toxicity grade", "aetoxgr", "atoxgr", "ae grade", "ctcae"],
        "serious": ["serious", "sae", "aeser", "serious adverse event", "is serious", "seriousness"],
        "action": ["action", "action taken", "aeacn", "action with drug", "action taken with study treatment",
                   "drug action", "dose change"],
    },
    "labs": {
        **SHARED,
        "day": ["day", "study day", "ady", "lbdy", "days from start", "sample day", "day of test",
                "date", "lab date", "sample date", "lbdtc", "adt", "test date", "collection date", "date of test",
                "result date"],
        "visit": ["visit", "visit name", "avisit", "timepoint", "time point", "redcap event name"],
        "test": ["test", "test name", "lab test", "analyte", "parameter", "paramcd", "lbtestcd", "lbtest", "loinc",
                 "loinc code", "test code", "lab", "laboratory test", "param", "measurement"],
        "value": ["value", "result", "aval", "lbstresn", "result value", "lab value", "numeric result", "lborres",
                  "measurement value", "results"],
        "unit": ["unit", "units", "lbstresu", "uom", "unit of measure", "result unit", "lborresu", "avalu"],
        "lower_limit": ["lower limit", "low", "lln", "ref low", "a1lo", "lbstnrlo", "normal low", "reference low",
                        "lower reference limit", "range low", "lower normal limit", "anrlo"],
        "upper_limit": ["upper limit", "high", "uln", "ref high", "a1hi", "lbstnrhi", "normal high", "reference high",
                        "upper reference limit", "range high", "upper normal limit", "anrhi"],
    },
}

# Synonyms whose source needs a transform to become the canonical column.
DATE_WORDS = ("date", "dtc", "dt", "datum")
DURATION_SYNONYMS = {"treatment duration", "duration", "duration of treatment", "trtdur", "treatment days", "days on treatment"}

# How strongly each column says "this file is that table" (patient and course keys say nothing).
SIGNATURE = {
    "courses": {"sex": 3, "age": 2, "age_band": 2, "weight_kg": 1, "start_date": 1, "end_day": 1, "cumulative_dose_mg": 1,
                "end_reason": 1, "baseline_iga": 1, "relapse_day": 1, "can_become_pregnant": 1, "acne_type": 1,
                "prior_treatments": 1, "followup_end_day": 1, "retreat_day": 1},
    "visits": {"iga": 3, "inflammatory_lesions": 2, "noninflammatory_lesions": 2, "total_lesions": 2, "nodules": 1,
               "dose_mg_per_day": 1, "phq9": 1, "day": 0.5, "visit": 0.5},
    "adverse_events": {"term": 3, "onset_day": 2, "resolved_day": 1, "grade": 1, "serious": 1, "action": 1},
    "labs": {"test": 3, "value": 2, "unit": 2, "lower_limit": 1, "upper_limit": 1, "day": 0.5},
}
FILE_NAME_HINTS = {
    "courses": ("course", "patient", "demograph", "baseline", "subject", "adsl", "dm", "enrol", "treatment"),
    "visits": ("visit", "assessment", "efficacy", "lesion", "iga", "follow", "score"),
    "adverse_events": ("adverse", "ae", "side effect", "sideeffect", "safety", "event", "toxicit"),
    "labs": ("lab", "blood", "chemistry", "biochem", "adlb", "lb", "test result"),
}

# Values: spelling (normalised) -> canonical value.
SEX_VALUES = {
    "f": "F", "female": "F", "w": "F", "woman": "F", "women": "F", "frau": "F", "weiblich": "F", "femme": "F", "girl": "F",
    "femenino": "F", "femminile": "F", "vrouw": "F", "fem": "F",
    "m": "M", "male": "M", "man": "M", "men": "M", "mann": "M", "männlich": "M", "maennlich": "M", "homme": "M", "boy": "M",
    "masculino": "M", "maschile": "M", "h": "M", "masc": "M",
    "other": "other", "diverse": "other", "divers": "other", "x": "other", "non binary": "other", "nonbinary": "other",
    "intersex": "other", "d": "other",
    "unknown": "unknown", "u": "unknown", "not known": "unknown", "nk": "unknown", "unk": "unknown", "missing": "unknown",
    "not stated": "unknown", "prefer not to say": "unknown", "undifferentiated": "unknown",
}
# Numeric sex codes as ISO/IEC 5218 defines them; offered with low confidence for the user to check.
SEX_CODES_ISO_5218 = {"0": "unknown", "1": "M", "2": "F", "9": "other"}
YES_NO_VALUES = {
    "yes": "yes", "y": "yes", "true": "yes", "t": "yes", "1": "yes", "ja": "yes", "j": "yes", "oui": "yes", "si": "yes",
    "sí": "yes", "x": "yes", "checked": "yes", "positive": "yes", "pos": "yes",
    "no": "no", "n": "no", "false": "no", "0": "no", "nein": "no", "non": "no", "unchecked": "no", "negative": "no",
    "neg": "no", "none": "no",
}
IGA_VALUES = {
    "clear": "0", "0 clear": "0", "almost clear": "1", "nearly clear": "1", "minimal": "1", "1 almost clear": "1",
    "mild": "2", "2 mild": "2", "moderate": "3", "3 moderate": "3", "severe": "4", "4 severe": "4", "very severe": "4",
    "iga 0": "0", "iga 1": "1", "iga 2": "2", "iga 3": "3", "iga 4": "4",
}
END_REASON_VALUES = {
    "completed": "completed", "complete": "completed", "finished": "completed", "completed course": "completed",
    "adverse event": "adverse_event", "adverse events": "adverse_event", "ae": "adverse_event", "side effects": "adverse_event",
    "side effect": "adverse_event", "toxicity": "adverse_event", "intolerance": "adverse_event",
    "lost to follow up": "lost_to_follow_up", "lost to followup": "lost_to_follow_up", "ltfu": "lost_to_follow_up",
    "lost": "lost_to_follow_up", "lost to follow-up": "lost_to_follow_up",
    "pregnancy": "pregnancy", "pregnant": "pregnancy",
    "patient choice": "patient_choice", "patient decision": "patient_choice", "withdrawal by subject": "patient_choice",
    "withdrew": "patient_choice", "withdrew consent": "patient_choice", "patient request": "patient_choice",
    "patient s choice": "patient_choice", "patient wish": "patient_choice",
    "other": "other", "physician decision": "other", "lack of efficacy": "other", "death": "other",
    "protocol violation": "other", "study terminated by sponsor": "other", "sponsor decision": "other",
    "protocol deviation": "other", "screen failure": "other",
}
ACTION_VALUES = {
    "none": "none", "no action": "none", "dose not changed": "none", "not changed": "none", "no change": "none",
    "not applicable": "none", "unchanged": "none",
    "dose reduced": "dose_reduced", "reduced": "dose_reduced", "dose decreased": "dose_reduced", "decreased": "dose_reduced",
    "interrupted": "interrupted", "drug interrupted": "interrupted", "paused": "interrupted", "dose interrupted": "interrupted",
    "temporarily stopped": "interrupted",
    "discontinued": "discontinued", "drug withdrawn": "discontinued", "withdrawn": "discontinued", "stopped": "discontinued",
    "drug discontinued": "discontinued", "permanently discontinued": "discontinued",
}
AGE_BAND_VALUES = {"under 18": "<18", "below 18": "<18", "0 17": "<18", "12 17": "<18", "18 24": "18-24", "18 to 24": "18-24",
                   "25 34": "25-34", "25 to 34": "25-34", "35 and over": "35+", "35 or older": "35+", "35 plus": "35+",
                   "35 and above": "35+", "over 35": "35+"}
VALUE_VOCABULARIES = {"sex": SEX_VALUES, "yesno": YES_NO_VALUES, "iga": IGA_VALUES, "baseline_iga": IGA_VALUES,
                      "end_reason": END_REASON_VALUES, "action": ACTION_VALUES, "age_band": AGE_BAND_VALUES}

# Units a numeric cell may carry that equal the canonical column's own unit (the unit is dropped).
SAME_UNITS = {
    "weight_kg": {"kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"},
    "age": {"y", "yr", "yrs", "year", "years", "j", "jahre", "ans", "years old", "yo"},
    "cumulative_dose_mg": {"mg"},
    "dose_mg_per_day": {"mg", "mg d", "mg day", "mgd", "mg per day", "mg/d", "mg/day"},
    **{name: {"d", "day", "days"} for name in ("day", "end_day", "onset_day", "resolved_day", "followup_end_day",
                                                 "relapse_day", "retreat_day")},
    "inflammatory_lesions": {"lesions"}, "noninflammatory_lesions": {"lesions", "comedones"},
    "total_lesions": {"lesions"}, "nodules": {"nodules"},
}

# Time words of wide layouts: "iga_m3" (month 3), "lesions week 12", "iga_baseline".
TIME_UNITS = {"m": DAYS_PER_MONTH, "mo": DAYS_PER_MONTH, "mon": DAYS_PER_MONTH, "month": DAYS_PER_MONTH, "months": DAYS_PER_MONTH, "w": 7, "wk": 7,
              "week": 7, "weeks": 7, "d": 1, "day": 1, "days": 1}
BASELINE_WORDS = {"baseline", "bl", "base", "screening", "pre", "start"}
WIDE_MEASURES = ("iga", "inflammatory_lesions", "noninflammatory_lesions", "nodules", "total_lesions", "dose_mg_per_day", "phq9")


def normalised(name: str) -> str:
    """Lower-case words: 'Weight (kg)' -> 'weight kg', 'iga_m3' -> 'iga m 3'."""
    text = _identifier_words(name)
    return re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text)


def value_key(value: str) -> str:
    """A cell value for looking up in the vocabularies: lower case, punctuation as spaces."""
    return re.sub(r"[^\w%<>+]+", " ", str(value).lower()).strip().replace("_", " ")


# Per-course event times kept in a file of their own (e.g. a time-to-event dataset).
SYNONYMS["course_events"] = {name: SYNONYMS["courses"][name] for name in
                             ("patient_id", "course_number", "relapse_day", "followup_end_day", "retreat_day")}
