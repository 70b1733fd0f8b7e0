"""The canonical data model: four tables, their columns, types and plausible ranges.

One declaration serves the validator, the loader's type conversion, the demo generator and the
data dictionary shown in the app, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

TABLES = ("courses", "visits", "adverse_events", "labs")
DAYS_PER_MONTH = 30.4375  # the average month: 365.25 / 12 days (the month rule: analysis.engine.derivations.month)
END_WINDOW_AFTER_DAYS = 14  # a course's window of visits: from day 1 to this many days after the last dose
LESION_COLUMNS = ("inflammatory_lesions", "noninflammatory_lesions", "nodules", "total_lesions")
AGE_BAND_LIMITS = ((0, 18, "<18"), (18, 25, "18-24"), (25, 35, "25-34"), (35, 200, "35+"))  # [low, high)
AGE_BAND_LABELS = tuple(label for _, _, label in AGE_BAND_LIMITS)
DAILY_DOSE_BANDS = ("<0.5", "0.5-1.0", ">1.0")  # mg/kg/day, Lai & Barbieri 2025
DAILY_DOSE_EDGES = (0.5, 1.0)  # the middle band holds both edges
CUMULATIVE_DOSE_BANDS = ("<120", "120-220", ">220")  # mg/kg, Lai & Barbieri 2025
CUMULATIVE_DOSE_EDGES = (120, 220)


# Fields the cohort computes for each course (analysis.cohort.model), which a custom column must not take.
DERIVED_COURSE_COLUMNS = frozenset(
    {
        "course_idx",
        "cumulative_dose_band",
        "cumulative_dose_mg_per_kg",
        "cumulative_dose_source",
        "daily_dose_band",
        "daily_dose_mg_per_kg",
        "duration_days",
        "last_month",
        "start_year",
    }
)
# Days before the first dose that still count as a baseline/screening assessment.
EARLIEST_PLAUSIBLE_DAY = -365
LATEST_PLAUSIBLE_DAY = 365 * 30


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # "text", "int", "float", "category", "date", "yesno"
    description: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] = ()
    default: object = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...] = ()
    # At least one column of each group must be present (e.g. age or age_band).
    one_of: tuple[tuple[str, ...], ...] = ()
    # Columns holding a day offset from the first dose.
    day_columns: tuple[str, ...] = field(default=())

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


SEX_VALUES = ("F", "M", "other", "unknown")
END_REASONS = ("completed", "adverse_event", "lost_to_follow_up", "pregnancy", "patient_choice", "other")
AE_ACTIONS = ("none", "dose_reduced", "interrupted", "discontinued")

COURSES = TableSpec(
    name="courses",
    description="One row per isotretinoin course.",
    key=("patient_id", "course_number"),
    one_of=(("age", "age_band"),),
    day_columns=("end_day", "followup_end_day", "relapse_day", "retreat_day"),
    columns=(
        ColumnSpec("patient_id", "text", "Pseudonymous patient identifier.", required=True),
        ColumnSpec(
            "course_number", "int", "1 for a first course, 2 for a second, ...", minimum=1, maximum=20, default=1
        ),
        ColumnSpec("sex", "category", "F, M, other or unknown.", required=True, allowed=SEX_VALUES),
        ColumnSpec("age", "float", "Age in years at the course's start.", minimum=8, maximum=100),
        ColumnSpec("age_band", "category", "Age band at start when exact age is not given.", allowed=AGE_BAND_LABELS),
        ColumnSpec("weight_kg", "float", "Body weight at start, kg.", minimum=20, maximum=300),
        ColumnSpec(
            "baseline_iga",
            "int",
            "Investigator's Global Assessment at baseline (0 clear - 4 severe).",
            minimum=0,
            maximum=4,
        ),
        ColumnSpec("acne_type", "text", "Clinical type, e.g. nodulocystic, inflammatory, comedonal."),
        ColumnSpec("prior_treatments", "text", "Semicolon list, e.g. oral_antibiotic;topical_retinoid."),
        ColumnSpec("site", "text", "Clinic or study site."),
        ColumnSpec(
            "start_date", "date", "Calendar date of the first dose (used only to convert dates and for the start year)."
        ),
        ColumnSpec("end_day", "int", "Day of the last dose.", minimum=0, maximum=LATEST_PLAUSIBLE_DAY),
        ColumnSpec(
            "cumulative_dose_mg",
            "float",
            "Total isotretinoin taken, mg (else integrated from visit doses).",
            minimum=0,
            maximum=200_000,
        ),
        ColumnSpec("end_reason", "category", "Why the course ended.", allowed=END_REASONS),
        ColumnSpec(
            "followup_end_day",
            "int",
            "Last day the patient was observed after the course.",
            minimum=0,
            maximum=LATEST_PLAUSIBLE_DAY,
        ),
        ColumnSpec(
            "relapse_day",
            "int",
            "Day relapse was recorded (empty: none observed).",
            minimum=0,
            maximum=LATEST_PLAUSIBLE_DAY,
        ),
        ColumnSpec(
            "retreat_day", "int", "Day a further course started (empty: none).", minimum=0, maximum=LATEST_PLAUSIBLE_DAY
        ),
        ColumnSpec("can_become_pregnant", "yesno", "Whether pregnancy prevention applies (yes/no)."),
    ),
)

VISITS = TableSpec(
    name="visits",
    description="One row per assessment during or after a course.",
    key=("patient_id", "course_number", "day"),
    day_columns=("day",),
    columns=(
        ColumnSpec("patient_id", "text", "Pseudonymous patient identifier.", required=True),
        ColumnSpec("course_number", "int", "Course the visit belongs to.", minimum=1, maximum=20, default=1),
        ColumnSpec(
            "day",
            "int",
            "Day from first dose (0 = first dose; negative = screening).",
            required=True,
            minimum=EARLIEST_PLAUSIBLE_DAY,
            maximum=LATEST_PLAUSIBLE_DAY,
        ),
        ColumnSpec("visit", "text", "Nominal visit label, e.g. 'Week 8'."),
        ColumnSpec("iga", "int", "Investigator's Global Assessment (0-4).", minimum=0, maximum=4),
        ColumnSpec("inflammatory_lesions", "int", "Papules, pustules and nodules counted.", minimum=0, maximum=2000),
        ColumnSpec("noninflammatory_lesions", "int", "Open and closed comedones counted.", minimum=0, maximum=2000),
        ColumnSpec("nodules", "int", "Nodules and cysts counted.", minimum=0, maximum=500),
        ColumnSpec(
            "total_lesions",
            "int",
            "All lesions (derived as inflammatory + non-inflammatory when absent).",
            minimum=0,
            maximum=4000,
        ),
        ColumnSpec(
            "dose_mg_per_day", "float", "Daily isotretinoin dose from this visit on, mg.", minimum=0, maximum=300
        ),
        ColumnSpec("phq9", "int", "PHQ-9 depression score (0-27).", minimum=0, maximum=27),
    ),
)

ADVERSE_EVENTS = TableSpec(
    name="adverse_events",
    description="One row per adverse event.",
    day_columns=("onset_day", "resolved_day"),
    columns=(
        ColumnSpec("patient_id", "text", "Pseudonymous patient identifier.", required=True),
        ColumnSpec("course_number", "int", "Course during which the event began.", minimum=1, maximum=20, default=1),
        ColumnSpec("term", "text", "The event as written; normalised to a preferred term.", required=True),
        ColumnSpec(
            "onset_day",
            "int",
            "Day of onset from first dose.",
            required=True,
            minimum=EARLIEST_PLAUSIBLE_DAY,
            maximum=LATEST_PLAUSIBLE_DAY,
        ),
        ColumnSpec(
            "resolved_day",
            "int",
            "Day it resolved (empty: not resolved or unknown).",
            minimum=EARLIEST_PLAUSIBLE_DAY,
            maximum=LATEST_PLAUSIBLE_DAY,
        ),
        ColumnSpec("grade", "int", "CTCAE grade 1-5.", minimum=1, maximum=5),
        ColumnSpec("serious", "yesno", "Serious adverse event (yes/no)."),
        ColumnSpec("action", "category", "Action taken with the drug.", allowed=AE_ACTIONS),
    ),
)

LABS = TableSpec(
    name="labs",
    description="One row per laboratory result.",
    day_columns=("day",),
    columns=(
        ColumnSpec("patient_id", "text", "Pseudonymous patient identifier.", required=True),
        ColumnSpec("course_number", "int", "Course the result belongs to.", minimum=1, maximum=20, default=1),
        ColumnSpec(
            "day",
            "int",
            "Day from first dose of the sample.",
            required=True,
            minimum=EARLIEST_PLAUSIBLE_DAY,
            maximum=LATEST_PLAUSIBLE_DAY,
        ),
        ColumnSpec("visit", "text", "Nominal visit label, e.g. 'Week 8'."),
        ColumnSpec(
            "test",
            "text",
            "Test name or LOINC code: ALT, AST, TG, TC, LDL, HDL, CK, GLU, BILI, HCG, ...",
            required=True,
        ),
        ColumnSpec("value", "float", "Result value.", required=True),
        ColumnSpec("unit", "text", "Unit of the value as reported, e.g. U/L, mg/dL, mmol/L."),
        ColumnSpec("lower_limit", "float", "Lower reference limit in the same unit."),
        ColumnSpec("upper_limit", "float", "Upper reference limit in the same unit."),
    ),
)

SPECS: dict[str, TableSpec] = {t.name: t for t in (COURSES, VISITS, ADVERSE_EVENTS, LABS)}
COURSE_KEY = ("patient_id", "course_number")


KIND_LABELS = {
    "text": "text",
    "int": "whole number",
    "float": "number",
    "category": "one of a list",
    "date": "date (YYYY-MM-DD)",
    "yesno": "yes / no",
}


def data_dictionary() -> pd.DataFrame:
    """The canonical format as a table: what a user's files may hold and what each column means."""
    rows = []
    for spec in SPECS.values():
        for column in spec.columns:
            bounds = "" if column.minimum is None else f"{column.minimum:g} to {column.maximum:g}"
            rows.append(
                {
                    "file": f"{spec.name}.csv",
                    "column": column.name,
                    "required": "yes" if column.required else "",
                    "type": KIND_LABELS[column.kind],
                    "allowed": ", ".join(column.allowed) or bounds,
                    "meaning": column.description,
                }
            )
    return pd.DataFrame(rows)
