"""One course's whole story on one figure: dose, lesions, IGA, side effects, labs and milestones.

Clinicians open a single course when a number surprises them: the outlier on a lab chart, the
patient who relapsed early, the one who stopped for side effects. A single course is the
easiest thing to re-identify, so everything here shows only the pseudonymous id and day offsets
from the first dose, never calendar dates. The page is hidden in presenter mode and must never
be part of a shared report or export (`INCLUDE_IN_REPORTS`).

A course is named by `<patient_id>/<course_number>` (e.g. `P000123/1`); other pages link to it
with `timeline_link(patient_id, course_number)`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from analysis.areas.charts import PALETTE
from analysis.areas.labs.compute import ctcae_grade, lab_data
from analysis.cohort.model import Cohort
from analysis.ingest.lab_units import canonical_test, harmonise
from analysis.schema import DAYS_PER_MONTH

# A single course must never reach the HTML report, chart exports or presenter views.
INCLUDE_IN_REPORTS = False
PAGE_URL_PATH = "timeline"
COURSE_PARAM = "course"

CourseRef = int | str | tuple

EARLY_RELAPSE_DAYS = round(6 * DAYS_PER_MONTH)  # "within 6 months of the last dose": 183 days
CLEAR_IGA_MAX = 1  # IGA 0 (clear) or 1 (almost clear)
IGA_LABELS = ("0 clear", "1 almost clear", "2 mild", "3 moderate", "4 severe")
IGA_LABEL_OF = dict(enumerate(IGA_LABELS))
IGA_WORD_OF = {grade: label.split(" ", 1)[1] for grade, label in IGA_LABEL_OF.items()}
END_REASON_LABELS = {
    "completed": "completed",
    "adverse_event": "stopped for side effects",
    "lost_to_follow_up": "lost to follow-up",
    "pregnancy": "pregnancy",
    "patient_choice": "patient's choice",
    "other": "other",
}
GRADE_COLORS = {1: "#e8c547", 2: "#f0913a", 3: "#d64541", 4: "#8e1b1b", 5: "#2b2b2b"}
GRADE_NAMES = {1: "mild", 2: "moderate", 3: "severe", 4: "life-threatening", 5: "death"}
LAB_ORDER = ("ALT", "AST", "BILI", "TG", "TC", "LDL", "HDL", "CK", "GLU", "HCG")
# One colour per test on every course, so that two timelines read alike.
LAB_COLORS = dict(zip(LAB_ORDER, (*PALETTE, "#455a64", "#9e9e9e")))

SEVERE_LAB_GRADE = 3  # CTCAE v5, graded by analysis.areas.labs.compute (ALT, AST, CK, triglycerides, cholesterol)
ULN_GRADED_TESTS = ("ALT", "AST", "CK")  # graded by multiples of the upper limit
LEVEL_GRADED_TESTS = ("TG", "TC")  # graded by mg/dL
LAB_RESULT_COLUMNS = ("course_idx", "day", "test", "unit", "value", "upper_limit", "uln_multiple", "grade")

REASONS = {
    "early_relapse": "Relapse within 6 months of the last dose",
    "stopped_for_side_effects": "Stopped for side effects",
    "severe_lab": "Lab value of grade 3 or worse",
    "not_clear_at_end": "Not clear at the end of the course",
}
WORTH_A_LOOK_COLUMNS = ("course", "reason", "detail", "patient_id", "course_number", "course_idx", "reason_key")

ROWS = ("dose", "lesions", "iga", "adverse_events", "labs")
ROW_TITLES = {
    "dose": "Dose<br>(mg/day)",
    "lesions": "Lesions<br>(count)",
    "iga": "IGA",
    "adverse_events": "Side effects",
    "labs": "Labs<br>(× upper limit)",
}


class CourseNotFound(LookupError):
    """The requested course is not in the dataset; the message says so in plain words."""


# --- Course ids and links ----------------------------------------------------------------------


def course_id(patient_id, course_number) -> str:
    """The pseudonymous id shown on the page and carried in the URL: `<patient_id>/<course_number>`."""
    number = 1 if course_number is None or pd.isna(course_number) else int(course_number)
    return f"{patient_id}/{number}"


def course_ids(courses: pd.DataFrame) -> pd.Series:
    """Ids of many courses at once (a missing course number counts as the first course)."""
    numbers = courses["course_number"].astype("Int64").fillna(1).astype("int64").astype(str)
    return courses["patient_id"].astype(str) + "/" + numbers


def parse_course_id(text: str) -> tuple[str, int]:
    """(patient_id, course_number) from `P000123/2`; a bare patient id means the first course."""
    text = str(text).strip()
    patient, separator, number = text.rpartition("/")
    if separator and number.isdigit():
        return patient, int(number)
    return text, 1


def timeline_link(patient_id, course_number) -> str:
    """Relative URL of the timeline page opened on one course, for links from other pages."""
    return f"{PAGE_URL_PATH}?{urlencode({COURSE_PARAM: course_id(patient_id, course_number)})}"


def find_course(cohort: Cohort, course: CourseRef) -> int:
    """The course_idx of a course given as course_idx, `(patient_id, course_number)` or id text."""
    courses = cohort.courses
    if isinstance(course, (int, np.integer)):
        hits = courses.loc[courses["course_idx"] == int(course), "course_idx"]
        label = f"number {int(course)}"
    else:
        patient, number = parse_course_id(course) if isinstance(course, str) else (str(course[0]), int(course[1]))
        numbers = courses["course_number"].astype("Int64").fillna(1)
        same_patient = courses["patient_id"] == patient
        if not same_patient.any():
            same_patient = courses["patient_id"].astype(str) == patient
        hits = courses.loc[same_patient & (numbers == number), "course_idx"]
        label = f"'{course_id(patient, number)}'"
    if hits.empty:
        raise CourseNotFound(
            f"No course {label} in this dataset. A course is named by the patient's pseudonymous id and "
            "the course number, for example P000123/1."
        )
    return int(hits.iloc[0])


# --- One course's rows -------------------------------------------------------------------------


@dataclass(frozen=True)
class CourseRecord:
    """One course's row and its visits, side effects and lab results, each sorted by day."""

    course: pd.Series
    visits: pd.DataFrame
    adverse_events: pd.DataFrame
    labs: pd.DataFrame  # as recorded
    lab_results: (
        pd.DataFrame
    )  # harmonised, graded (analysis.areas.labs.compute): test, day, value, unit, uln_multiple, grade
    labs_not_drawn: tuple[str, ...]  # tests without an upper limit, or whose unit could not be converted

    @property
    def id(self) -> str:
        return course_id(self.course["patient_id"], self.course["course_number"])

    def day(self, column: str) -> float | None:
        value = self.course.get(column)
        return None if value is None or pd.isna(value) else float(value)

    @property
    def last_observed_day(self) -> float:
        """End of follow-up where recorded, else the latest day anything was seen."""
        followup = self.day("followup_end_day")
        if followup is not None:
            return followup
        return max(self._observed_days(), default=0.0)

    def _observed_days(self) -> list[float]:
        days = [self.day(c) for c in ("end_day", "relapse_day", "retreat_day")]
        for table, columns in (
            (self.visits, ("day",)),
            (self.labs, ("day",)),
            (self.adverse_events, ("onset_day", "resolved_day")),
        ):
            days += [table[c].astype("float").max() for c in columns if c in table and table[c].notna().any()]
        return [d for d in days if d is not None and not pd.isna(d)]

    @property
    def first_day(self) -> float:
        earliest = [self.visits["day"].min(), self.labs["day"].min(), self.adverse_events["onset_day"].min()]
        return min([0.0] + [float(d) for d in earliest if not pd.isna(d)])


def course_record(cohort: Cohort, course: CourseRef | CourseRecord) -> CourseRecord:
    """The course's row and rows of every table (a record passes through, so a page builds it once)."""
    if isinstance(course, CourseRecord):
        return course
    idx = find_course(cohort, course)
    row = cohort.courses.loc[cohort.courses["course_idx"] == idx]
    visits, events, labs = (
        _rows_of(cohort.visits, idx, "day"),
        _rows_of(cohort.adverse_events, idx, "onset_day"),
        _rows_of(cohort.labs, idx, "day"),
    )
    results, not_drawn = _graded_labs(replace(cohort, courses=row, visits=visits, adverse_events=events, labs=labs))
    return CourseRecord(
        course=row.iloc[0],
        visits=visits,
        adverse_events=events,
        labs=labs,
        lab_results=results,
        labs_not_drawn=not_drawn,
    )


def _graded_labs(course: Cohort) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """One course's lab results harmonised and graded as on the Labs page, and the tests not drawn."""
    if course.labs.empty:
        return pd.DataFrame(columns=LAB_RESULT_COLUMNS), ()
    graded = lab_data(course)
    results = with_uln_multiple(graded.labs).sort_values("day", kind="stable").reset_index(drop=True)
    no_limit = results.loc[~np.isfinite(results["uln_multiple"].to_numpy(dtype="float")), "test"].astype(str)
    return results, tuple(dict.fromkeys([*no_limit, *graded.excluded["test"].astype(str)]))


def with_uln_multiple(results: pd.DataFrame) -> pd.DataFrame:
    """Lab rows with `uln_multiple`: the value as a multiple of its upper limit (NaN where none is known)."""
    value, upper = results["value"].to_numpy(dtype="float"), results["upper_limit"].to_numpy(dtype="float")
    with np.errstate(divide="ignore", invalid="ignore"):
        return results.assign(uln_multiple=np.where(upper > 0, value / upper, np.nan))


def _rows_of(table: pd.DataFrame, idx: int, day_column: str) -> pd.DataFrame:
    mask = table["course_idx"].eq(idx).fillna(False).astype(bool)
    return table.loc[mask].sort_values(day_column, kind="stable").reset_index(drop=True)


# --- Header facts ------------------------------------------------------------------------------


def course_facts(cohort: Cohort, course: CourseRef | CourseRecord) -> dict[str, str]:
    """The short header above the figure; pseudonymous id and day offsets only, never dates."""
    record = course_record(cohort, course)
    row = record.course
    return {
        "Course": record.id,
        "Sex": _text(row.get("sex")),
        "Age band": _text(row.get("age_band")),
        "Weight": _number(row.get("weight_kg"), "{:.0f} kg"),
        "Course length": _number(row.get("duration_days"), "{:.0f} days"),
        "Cumulative dose": _cumulative_dose(row),
        "Daily dose": _number(row.get("daily_dose_mg_per_kg"), "{:.2f} mg/kg/day"),
        "End reason": END_REASON_LABELS.get(row.get("end_reason"), _text(row.get("end_reason"))),
        "Site": _text(row.get("site")),
        "Follow-up": _number(row.get("followup_end_day"), "to day {:.0f}"),
    }


def _text(value) -> str:
    return "not recorded" if value is None or pd.isna(value) or str(value) == "" else str(value)


def _number(value, pattern: str) -> str:
    return "not recorded" if value is None or pd.isna(value) else pattern.format(float(value))


def _cumulative_dose(row: pd.Series) -> str:
    per_kg = row.get("cumulative_dose_mg_per_kg")
    if per_kg is not None and not pd.isna(per_kg):
        return f"{float(per_kg):.0f} mg/kg"
    mg = row.get("cumulative_dose_mg")
    return _number(mg, "{:,.0f} mg (weight unknown)")


# --- Navigation --------------------------------------------------------------------------------


class Neighbours(NamedTuple):
    previous: str | None
    next: str | None
    position: int | None  # 1-based place of the course among the cohort's courses; None if outside
    total: int


def neighbours(cohort: Cohort, course: CourseRef, full: Cohort | None = None) -> Neighbours:
    """Previous and next course ids among `cohort`'s courses (e.g. those matching the filters).

    The course itself may lie outside `cohort` (opened by a link): give the cohort it belongs to
    as `full`, or pass its course_idx, and its neighbours are the filtered courses around it.
    """
    if isinstance(course, (int, np.integer)):
        idx = int(course)
    else:
        idx = find_course(full if full is not None else cohort, course)
    order = cohort.courses["course_idx"].to_numpy(dtype="int64")
    sorter = np.argsort(order, kind="stable")
    ordered = order[sorter]
    left, right = np.searchsorted(ordered, idx, "left"), np.searchsorted(ordered, idx, "right")
    ids = cohort.courses[["patient_id", "course_number"]]

    def id_at(position: int) -> str | None:
        if 0 <= position < len(ordered):
            row = ids.iloc[sorter[position]]
            return course_id(row["patient_id"], row["course_number"])
        return None

    inside = right > left
    return Neighbours(id_at(left - 1), id_at(right), int(left) + 1 if inside else None, len(ordered))


# --- Courses worth a look ----------------------------------------------------------------------


def courses_worth_a_look(cohort: Cohort) -> pd.DataFrame:
    """Courses a clinician may want to open, one row per course and reason, with a detail line.

    Reasons: relapse within 6 months of the last dose; stopped for side effects (end reason or a
    side effect that led to discontinuation); a lab value of CTCAE grade 3 or worse; not clear
    at the end (last IGA on treatment, after day 0, of 2 or more; courses without a recorded
    last dose are not judged).
    """
    found = [_early_relapse(cohort), _stopped_for_side_effects(cohort), _severe_labs(cohort), _not_clear_at_end(cohort)]
    flagged = (
        pd.concat([f for f in found if not f.empty], ignore_index=True) if any(not f.empty for f in found) else None
    )
    if flagged is None:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in WORTH_A_LOOK_COLUMNS})
    courses = cohort.courses.set_index("course_idx")[["patient_id", "course_number"]]
    flagged = flagged.join(courses, on="course_idx")
    flagged["course"] = course_ids(flagged)
    flagged["reason"] = flagged["reason_key"].map(REASONS)
    rank = {key: i for i, key in enumerate(REASONS)}
    flagged = flagged.sort_values(
        ["reason_key", "course_idx"], key=lambda s: s.map(rank) if s.name == "reason_key" else s
    )
    return flagged[list(WORTH_A_LOOK_COLUMNS)].reset_index(drop=True)


def _course_values(courses: pd.DataFrame, column: str, course_idx: np.ndarray) -> np.ndarray:
    """A course attribute for each row of another table, by array lookup (NaN for unknown courses)."""
    keys = courses["course_idx"].to_numpy(dtype="int64")
    size = int(max(np.nanmax(course_idx, initial=-1), keys.max(initial=-1))) + 1
    dense = np.full(size, np.nan)
    dense[keys] = courses[column].to_numpy(dtype="float", na_value=np.nan)
    known = np.isfinite(course_idx)
    values = np.full(course_idx.shape, np.nan)
    values[known] = dense[course_idx[known].astype("int64")]
    return values


def _flags(course_idx: pd.Series, reason: str, detail: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "course_idx": course_idx.astype("int64").to_numpy(),
            "reason_key": reason,
            "detail": detail.astype(str).to_numpy(),
        }
    )


def _early_relapse(cohort: Cohort) -> pd.DataFrame:
    courses = cohort.courses
    gap = courses["relapse_day"].astype("Float64") - courses["end_day"].astype("Float64")
    early = courses[gap.between(0, EARLY_RELAPSE_DAYS).fillna(False).astype(bool)]
    days = gap[early.index].astype("int64").astype(str)
    return _flags(early["course_idx"], "early_relapse", "relapse " + days + " days after the last dose")


def _stopped_for_side_effects(cohort: Cohort) -> pd.DataFrame:
    courses, events = cohort.courses, cohort.adverse_events
    stopping = events[(events["action"] == "discontinued") & events["course_idx"].notna()]
    stopping = stopping.sort_values(["course_idx", "onset_day"]).drop_duplicates("course_idx")
    grade = stopping["grade"].astype("Int64").astype(str).str.replace("<NA>", "not recorded")
    event_detail = (
        "stopped for "
        + stopping["term"].astype(str)
        + " (grade "
        + grade
        + ") starting day "
        + stopping["onset_day"].astype("Int64").astype(str)
    )
    detail = pd.Series(event_detail.to_numpy(), index=stopping["course_idx"].astype("int64").to_numpy())
    by_reason = courses.loc[courses["end_reason"] == "adverse_event", "course_idx"].astype("int64")
    idx = pd.Index(by_reason).union(detail.index)
    texts = pd.Series("course ended for side effects", index=idx)
    texts.update(detail)
    return _flags(pd.Series(idx), "stopped_for_side_effects", texts)


def _severe_labs(cohort: Cohort) -> pd.DataFrame:
    """Each course's worst lab result of CTCAE grade 3 or more (grades from analysis.areas.labs.compute)."""
    candidates = _courses_possibly_severe(cohort)
    if candidates.labs.empty:
        return pd.DataFrame(columns=["course_idx", "reason_key", "detail"])
    results = lab_data(candidates).labs
    severe = with_uln_multiple(results[results["grade"].to_numpy(dtype="float") >= SEVERE_LAB_GRADE])
    if severe.empty:
        return pd.DataFrame(columns=["course_idx", "reason_key", "detail"])
    worst = severe.sort_values(["course_idx", "grade", "uln_multiple", "value"], ascending=[True, False, False, False])
    worst = worst.drop_duplicates("course_idx")
    test = worst["test"].astype(str)
    by_multiple = worst["uln_multiple"].round(1).astype(str) + "× upper limit"
    by_level = worst["value"].round(0).astype("int64").astype(str) + " " + worst["unit"].astype(str)
    shown = by_multiple.where(test.isin(ULN_GRADED_TESTS), by_level)
    detail = (
        test
        + " "
        + shown
        + " on day "
        + worst["day"].astype("int64").astype(str)
        + " (grade "
        + worst["grade"].astype("int64").astype(str)
        + ")"
    )
    return _flags(worst["course_idx"], "severe_lab", detail)


def _courses_possibly_severe(cohort: Cohort) -> Cohort:
    """The courses that may hold a grade >= 3 result, with all their rows, so that grading stays exact.

    Grading every result of a large cohort is slow, and few courses reach grade 3. A grade >= 3
    value lies above its upper limit (5x for ALT, AST and CK, also when graded against an
    abnormal baseline, which itself lies above the limit; plausible triglyceride and cholesterol
    limits lie below 500 and 400 mg/dL), so only rows above their limit, or without one, are
    harmonised and graded on the limit; the courses they belong to are then graded in full.
    """
    labs = cohort.labs
    codes = {name: canonical_test(name) for name in labs["test"].dropna().unique()}
    by_multiple = labs["test"].isin([n for n, c in codes.items() if c in ULN_GRADED_TESTS]).to_numpy()
    by_level = labs["test"].isin([n for n, c in codes.items() if c in LEVEL_GRADED_TESTS]).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = labs["value"].to_numpy(dtype="float", na_value=np.nan) / labs["upper_limit"].to_numpy(
            dtype="float", na_value=np.nan
        )
    no_limit = ~np.isfinite(ratio)
    above = (by_multiple & ((ratio > 5) | no_limit)) | (by_level & ((ratio > 1) | no_limit))
    rows = labs[above & labs["course_idx"].notna().to_numpy()]
    if rows.empty:
        return replace(cohort, labs=labs.iloc[0:0])
    converted = rows if "harmonised" in rows else harmonise(rows)[0]
    test = converted["test"].astype(str).to_numpy()
    value, upper = converted["value"].to_numpy(dtype="float"), converted["upper_limit"].to_numpy(dtype="float")
    graded = np.full(len(converted), np.nan)
    for code in (*ULN_GRADED_TESTS, *LEVEL_GRADED_TESTS):
        mask = test == code
        graded[mask] = ctcae_grade(code, value[mask], upper[mask])
    keep = pd.Index(converted.loc[graded >= SEVERE_LAB_GRADE, "course_idx"].astype("int64").unique())
    return replace(
        cohort,
        courses=cohort.courses[cohort.courses["course_idx"].isin(keep)],
        labs=labs[labs["course_idx"].isin(keep).fillna(False).to_numpy(dtype=bool)],
    )


def _not_clear_at_end(cohort: Cohort) -> pd.DataFrame:
    visits = cohort.visits
    course_idx = visits["course_idx"].to_numpy(dtype="float", na_value=np.nan)
    day = visits["day"].to_numpy(dtype="float", na_value=np.nan)
    end = _course_values(cohort.courses, "end_day", course_idx)
    with np.errstate(invalid="ignore"):
        on_treatment = visits["iga"].notna().to_numpy() & (day > 0) & (day <= end)
    assessed = visits[on_treatment]
    last = assessed.loc[assessed["day"].astype("int64").groupby(assessed["course_idx"].astype("int64")).idxmax()]
    not_clear = last[last["iga"] > CLEAR_IGA_MAX]
    iga = not_clear["iga"].astype("int64")
    label = iga.astype(str) + iga.map(IGA_WORD_OF).map(" ({})".format, na_action="ignore").fillna("")
    detail = "last IGA on treatment " + label + " on day " + not_clear["day"].astype("Int64").astype(str)
    return _flags(not_clear["course_idx"], "not_clear_at_end", detail)
