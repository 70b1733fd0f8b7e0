"""Relapse and second courses after isotretinoin: time-to-event analysis from the end of a course.

Tests the source document's "Minimal Relapse", results that last "for years" and "a few may need
a short second course" (claims C06, C07, C08) with Kaplan-Meier curves, log-rank tests and a
Cox model (analysis.stats.survival).

Censoring rules, applied the same way everywhere:
- Time runs from the last dose (or, for trial data, from the first dose) to the recorded relapse.
- A further course started without a recorded relapse counts as a relapse on the day it
  started (setting `relapse.retreatment_counts_as_relapse`); when it does not count, the course
  is censored on that day, since the new course changes what follows.
- Otherwise a course is censored at its follow-up end, the last day the patient was observed,
  whether follow-up ended as planned or the patient was lost to it.
- Courses that cannot enter (no last-dose day, no follow-up end) and courses whose dates
  contradict each other are listed with the reason and counted, never silently used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis.areas.base import SummaryOptions
from analysis.cohort.filters import COLUMN_LABELS, MISSING_LABEL
from analysis.cohort.grouping import grouping_options as course_grouping_options
from analysis.cohort.model import Cohort, Lineage, memoised
from analysis.schema import AGE_BAND_LABELS, CUMULATIVE_DOSE_BANDS, DAILY_DOSE_BANDS, DAYS_PER_MONTH
from analysis.stats.intervals import Estimate
from analysis.stats.survival import (
    DAYS_PER_YEAR,
    KM_METHOD,
    KaplanMeier,
    LogRank,
    cox_hazard_ratios,
    fit_km,
    fit_km_by_group,
    logrank,
)

ORIGINS = {"end": "the last dose", "start": "the first dose"}
RELAPSE = "relapse"
SECOND_COURSE = "second_course"
EVENT_NAMES = {RELAPSE: "relapse", SECOND_COURSE: "further course"}
# Axis and metric wording: the share still free of the event, and the share who had it.
FREE_OF = {RELAPSE: "Free of relapse", SECOND_COURSE: "No further course yet"}
HAD = {RELAPSE: "Relapsed", SECOND_COURSE: "Started a further course"}
GROUPINGS = {
    key: COLUMN_LABELS[key]
    for key in ("cumulative_dose_band", "daily_dose_band", "sex", "age_band", "site", "course_number")
}  # curves split by these
GROUP_ORDER = {
    "cumulative_dose_band": CUMULATIVE_DOSE_BANDS,
    "daily_dose_band": DAILY_DOSE_BANDS,
    "age_band": AGE_BAND_LABELS,
    "sex": ("F", "M", "other", "unknown"),
}
RISK_STEP_MONTHS = 6
SHORT_RISK_STEPS_MONTHS = (RISK_STEP_MONTHS, 3, 2, 1)  # the first leaving at least four marks on the axis
COX_DOSE_UNIT = 10  # mg/kg: hazard ratio per 10 mg/kg cumulative dose
MIN_EVENTS_PER_TERM = 10  # events per Cox covariate below which the model is not fitted
COX_TERMS = {"dose_per_10": "Cumulative dose, per 10 mg/kg more", "female": "Female vs male"}
COX_MISSING = {"dose_per_10": "cumulative dose unknown", "female": "sex other than female or male"}

# How each course ended up in (or out of) the estimate.
MISSING_END = "no last-dose day (end_day)"
MISSING_FOLLOWUP = "no follow-up end and no event recorded"
EVENT_BEFORE_ORIGIN = {"end": "event recorded before the last dose", "start": "event recorded before the first dose"}
CENSOR_BEFORE_ORIGIN = {
    "end": "further course or follow-up end before the last dose",
    "start": "further course or follow-up end before the first dose",
}
FOLLOWUP_BEFORE_END = "follow-up ends before the last dose"
FOLLOWUP_BEFORE_VISIT = "follow-up ends before the last recorded visit"
EVENT_AFTER_FOLLOWUP = "event recorded after follow-up ended"
MISSING_REASONS = (MISSING_END, MISSING_FOLLOWUP)


@dataclass(frozen=True)
class RelapseSettings:
    """The definitions a user can change; read from `relapse.*` settings by `from_settings`."""

    origin: str = "end"
    retreatment_counts_as_relapse: bool = True
    horizons: tuple[int, ...] = (1, 2, 3)  # years at which relapse-free shares are reported

    def __post_init__(self):
        if self.origin not in ORIGINS:
            raise ValueError(f"relapse.origin must be one of {', '.join(ORIGINS)}, not {self.origin!r}")

    @classmethod
    def from_settings(cls, settings: dict | None, cohort: Cohort | None = None) -> RelapseSettings:
        """From `relapse.origin`, `relapse.retreatment_counts_as_relapse`, `relapse.horizons` ("1,2,3").
        Without `relapse.origin`, time counts from where the cohort's data says its event times start
        (`Cohort.time_origin`, e.g. a trial's time-to-event table counting from the first dose), else
        from the last dose."""
        settings = settings or {}
        default = cls(origin=data_origin(cohort))
        horizons = settings.get("relapse.horizons", default.horizons)
        if isinstance(horizons, str):
            horizons = tuple(int(float(h)) for h in horizons.split(",") if h.strip())
        return cls(
            origin=str(settings.get("relapse.origin", default.origin)).strip().lower(),
            retreatment_counts_as_relapse=_truthy(
                settings.get("relapse.retreatment_counts_as_relapse", default.retreatment_counts_as_relapse)
            ),
            horizons=tuple(int(h) for h in horizons),
        )

    def describe(self, kind: str = RELAPSE) -> str:
        origin = f"time from {ORIGINS[self.origin]}"
        if kind == SECOND_COURSE:
            return f"{origin} to the start of a further course; censored at follow-up end"
        retreat = (
            "a further course without a recorded relapse counts as relapse"
            if self.retreatment_counts_as_relapse
            else "censored when a further course starts without a recorded relapse"
        )
        return f"{origin}; {retreat}; otherwise censored at follow-up end"


def data_origin(cohort: Cohort | None) -> str:
    """Where time counts from by default: where the data says its event times start, else the last dose."""
    declared = getattr(cohort, "time_origin", "")
    return declared if declared in ORIGINS else "end"


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    return bool(value)


@dataclass(frozen=True)
class EventTimes:
    """Per course: days from the origin to the event or censoring, and the courses left out."""

    kind: str
    settings: RelapseSettings
    times: pd.DataFrame  # course_idx, days, event (bool), outcome
    excluded: pd.DataFrame  # course_idx, patient_id, course_number, problem, reason, the day columns
    total: int
    # (course_idx, course_idx of the patient's next course) where the further course's start stands in
    # for a missing retreat_day: a subset keeping both courses of every pair can cut its times from these.
    retreat_links: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), "int64"), compare=False, repr=False)

    @property
    def entered(self) -> int:
        return len(self.times)

    def outcome_counts(self) -> pd.DataFrame:
        """Courses in the estimate by how their follow-up ended (relapse, further course, censored)."""
        return self.times["outcome"].value_counts().rename("courses").rename_axis("outcome").reset_index()

    def exclusion_counts(self) -> pd.DataFrame:
        counts = self.excluded.groupby(["problem", "reason"], sort=False).size().rename("courses").reset_index()
        return counts.sort_values(["problem", "courses"], ascending=[True, False], ignore_index=True)


def relapse_times(cohort: Cohort, settings: RelapseSettings | None = None) -> EventTimes:
    """Time to relapse per course under the censoring rules of this module (once per cohort and settings:
    the page, the claims and the JSON summary share it)."""
    settings = settings or RelapseSettings()
    return cohort.derived(
        ("relapse.times", RELAPSE, settings), lambda: _relapse_times(cohort, settings), _restricted_times
    )


def _relapse_times(cohort: Cohort, settings: RelapseSettings) -> EventTimes:
    courses = cohort.courses
    relapse = _days(courses["relapse_day"])
    retreat, links = _retreat_days(courses)
    without_relapse = relapse.isna() & retreat.notna()
    if settings.retreatment_counts_as_relapse:
        event_day = relapse.fillna(retreat)
        outcome = _labels(
            [relapse.notna(), without_relapse],
            ["relapse", "further course counted as relapse"],
            "censored at follow-up end",
        )
        censor_day = _days(courses["followup_end_day"])
    else:
        event_day = relapse
        outcome = _labels(
            [relapse.notna(), without_relapse], ["relapse", "censored at further course"], "censored at follow-up end"
        )
        censor_day = _days(courses["followup_end_day"]).where(~without_relapse, retreat)
    return _event_times(
        cohort, RELAPSE, settings, event_day, censor_day, pd.Series(outcome, index=courses.index), links
    )


def second_course_times(cohort: Cohort, settings: RelapseSettings | None = None) -> EventTimes:
    """Time to the start of a further course per course, censored at follow-up end."""
    settings = settings or RelapseSettings()
    return cohort.derived(
        ("relapse.times", SECOND_COURSE, settings), lambda: _second_course_times(cohort, settings), _restricted_times
    )


def _restricted_times(whole: EventTimes, lineage: Lineage, cohort: Cohort) -> EventTimes:
    """A subset's event times cut from the whole cohort's: each course's times depend on its own
    dates, except where its next course's start stands in for the retreatment day; when a subset
    drops such a next course, its times are computed again."""
    links = whole.retreat_links[lineage.keeps(whole.retreat_links[:, 0])]
    if not lineage.keeps(links[:, 1]).all():
        compute = _relapse_times if whole.kind == RELAPSE else _second_course_times
        return compute(cohort, whole.settings)
    return EventTimes(
        whole.kind,
        whole.settings,
        lineage.rows_of(whole.times),
        lineage.rows_of(whole.excluded),
        cohort.n_courses,
        links,
    )


def _second_course_times(cohort: Cohort, settings: RelapseSettings) -> EventTimes:
    courses = cohort.courses
    retreat, links = _retreat_days(courses)
    outcome = pd.Series(
        _labels([retreat.notna()], ["further course"], "censored at follow-up end"), index=courses.index
    )
    return _event_times(cohort, SECOND_COURSE, settings, retreat, _days(courses["followup_end_day"]), outcome, links)


def _labels(conditions: list, labels: list[str], default: str) -> np.ndarray:
    """The label of the first condition each row meets (else `default`), as objects pointing to one
    string per label: a course's label costs a pointer, not a string of its own."""
    choice = np.select([np.asarray(c, dtype=bool) for c in conditions], list(range(len(labels))), default=len(labels))
    return np.array([*labels, default], dtype=object)[choice]


def _days(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column, errors="coerce").astype("float")


def further_courses_recorded(cohort: Cohort) -> bool:
    """Whether the data records further courses at all: a retreat_day, or a patient's second course."""
    courses = cohort.courses
    return bool(courses["retreat_day"].notna().any() or courses["course_number"].gt(1).any())


def _retreat_days(courses: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
    """retreat_day as given, else the patient's next course's start, counted from this course's start;
    and the (course_idx, next course's course_idx) pairs where the next course was looked at."""
    given = _days(courses["retreat_day"])
    starts = courses["start_date"]
    if not pd.api.types.is_datetime64_any_dtype(starts):
        starts = pd.to_datetime(starts, errors="coerce")
    if starts.isna().all() or not courses["course_number"].gt(1).any():
        return given, np.zeros((0, 2), "int64")
    patient = pd.factorize(courses["patient_id"])[0]
    order = np.lexsort((courses["course_number"].to_numpy(dtype="float", na_value=np.nan), patient))
    start_days = (starts.to_numpy(dtype="datetime64[D]").astype("float"))[order]
    start_days[starts.isna().to_numpy()[order]] = np.nan
    same_patient = np.append(patient[order][1:] == patient[order][:-1], False)
    gap = np.where(same_patient, np.append(start_days[1:], np.nan) - start_days, np.nan)
    next_start = np.empty(len(courses))
    next_start[order] = gap
    index = courses["course_idx"].to_numpy(dtype="int64")[order]
    looked = same_patient & given.isna().to_numpy()[order]
    links = np.column_stack([index[looked], np.append(index[1:], -1)[looked]])
    return given.fillna(pd.Series(next_start, index=courses.index).where(lambda g: g >= 0)), links


def _event_times(
    cohort: Cohort,
    kind: str,
    settings: RelapseSettings,
    event_day: pd.Series,
    censor_day: pd.Series,
    outcome: pd.Series,
    retreat_links: np.ndarray,
) -> EventTimes:
    courses = cohort.courses
    end = _days(courses["end_day"])
    origin = end if settings.origin == "end" else pd.Series(0.0, index=courses.index)
    followup = _days(courses["followup_end_day"])
    last_visit = courses["course_idx"].map(_last_visit_day(cohort)).astype("float")
    problems = [
        (MISSING_END, origin.isna()),
        (MISSING_FOLLOWUP, event_day.isna() & censor_day.isna()),
        (EVENT_BEFORE_ORIGIN[settings.origin], event_day < origin),
        (FOLLOWUP_BEFORE_END, followup < end),
        (CENSOR_BEFORE_ORIGIN[settings.origin], event_day.isna() & (censor_day < origin)),
        (FOLLOWUP_BEFORE_VISIT, followup < last_visit),
        (EVENT_AFTER_FOLLOWUP, event_day > followup),
    ]
    reason = pd.Series(
        np.select([mask.to_numpy() for _, mask in problems], [name for name, _ in problems], default=""),
        index=courses.index,
    )
    usable = reason == ""
    is_event = event_day.notna()
    times = pd.DataFrame(
        {
            "course_idx": courses["course_idx"],
            "days": event_day.where(is_event, censor_day) - origin,
            "event": is_event,
            "outcome": outcome,
        }
    )[usable.to_numpy()].reset_index(drop=True)
    excluded = courses.loc[
        ~usable,
        ["course_idx", "patient_id", "course_number", "end_day", "followup_end_day", "relapse_day", "retreat_day"],
    ].copy()
    excluded.insert(3, "reason", reason[~usable])
    excluded.insert(
        3,
        "problem",
        np.where(reason[~usable].isin(MISSING_REASONS), "cannot enter (missing date)", "inconsistent dates"),
    )
    excluded["last_visit_day"] = last_visit[~usable]
    return EventTimes(kind, settings, times, excluded.reset_index(drop=True), len(courses), retreat_links)


def _last_visit_day(cohort: Cohort) -> pd.Series:
    """Day of each course's last visit (indexed by course_idx); a subset's is cut from the whole cohort's."""
    return cohort.derived(
        ("relapse.last_visit_day",),
        lambda: _last_visit_days(cohort.visits),
        lambda whole, lineage, _: whole[lineage.keeps(whole.index)],
    )


def _last_visit_days(visits: pd.DataFrame) -> pd.Series:
    if visits.empty:
        return pd.Series(dtype="float")
    return visits.groupby("course_idx")["day"].max().astype("float")


@dataclass(frozen=True)
class SurvivalAnalysis:
    """A fitted event curve, overall and per group, with the log-rank comparison when grouped."""

    times: EventTimes
    overall: KaplanMeier
    group_by: str | None = None
    groups: dict[str, KaplanMeier] = field(default_factory=dict)
    comparison: LogRank | None = None

    @property
    def kind(self) -> str:
        return self.times.kind

    @property
    def settings(self) -> RelapseSettings:
        return self.times.settings

    def curves(self) -> dict[str, KaplanMeier]:
        return self.groups or {"All courses": self.overall}


def relapse_analysis(
    cohort: Cohort,
    settings: RelapseSettings | None = None,
    group_by: str | None = None,
    times: EventTimes | None = None,
) -> SurvivalAnalysis:
    """Relapse-free curves; pass `times` from `relapse_times` to reuse them across groupings."""
    return analyse(times or relapse_times(cohort, settings), cohort, group_by)


def second_course_analysis(
    cohort: Cohort, settings: RelapseSettings | None = None, group_by: str | None = None
) -> SurvivalAnalysis:
    return analyse(second_course_times(cohort, settings), cohort, group_by)


def analyse(times: EventTimes, cohort: Cohort, group_by: str | None = None) -> SurvivalAnalysis:
    """Kaplan-Meier overall and, when `group_by` names a course column, per group with a log-rank test."""
    data = times.times
    overall = _fitted(times, "All courses")
    if not group_by:
        return SurvivalAnalysis(times, overall)
    values = group_values(cohort, data["course_idx"], group_by)
    groups = fit_km_by_group(
        data["days"],
        data["event"],
        values.where(values.notna(), MISSING_LABEL),
        order=list(GROUP_ORDER.get(group_by, ())),
    )
    return SurvivalAnalysis(times, overall, group_by, groups, logrank(data["days"], data["event"], values))


def group_values(cohort: Cohort, course_idx: pd.Series, column: str) -> pd.Series:
    """The grouping column's value for each course (missing values stay missing)."""
    if column not in cohort.courses:
        raise KeyError(f"no course column named {column!r} to group by")
    lookup = cohort.courses.set_index("course_idx")[column]
    values = course_idx.map(lookup).astype("object")
    return values.where(values.notna(), None).reset_index(drop=True)


def grouping_options(cohort: Cohort) -> dict[str, str]:
    """Course columns a curve can be split by (with at least two known values in this cohort): column -> label."""
    return course_grouping_options(cohort, tuple(GROUPINGS))


def horizon_table(analysis: SurvivalAnalysis, complement: bool = False) -> pd.DataFrame:
    """Event-free share (or, with `complement`, the share with the event) at each horizon, per curve."""
    rows = []
    for label, km in analysis.curves().items():
        for years in analysis.settings.horizons:
            day = years * DAYS_PER_YEAR
            estimate = km.failure_at(day) if complement else km.survival_at(day)
            rows.append(
                {
                    "group": label,
                    "years": years,
                    "estimate": estimate.estimate,
                    "ci_low": estimate.ci_low,
                    "ci_high": estimate.ci_high,
                    "courses": km.n,
                    "at_risk": int(km.at_risk_at([day])[0]),
                    "events_by_then": estimate.numerator,
                    "method": estimate.method,
                }
            )
    return pd.DataFrame(rows)


def median_table(analysis: SurvivalAnalysis) -> pd.DataFrame:
    """Median days to the event per curve, with its 95% CI (empty where not reached)."""
    rows = [
        {
            "group": label,
            "courses": km.n,
            "events": km.events,
            "median_days": km.median_day,
            "ci_low_days": km.median_ci[0],
            "ci_high_days": km.median_ci[1],
        }
        for label, km in analysis.curves().items()
    ]
    return pd.DataFrame(rows).astype({"median_days": "float", "ci_low_days": "float", "ci_high_days": "float"})


def risk_days(analysis: SurvivalAnalysis, step_days: float | None = None) -> np.ndarray:
    """Regular days up to the longest follow-up: every `step_days`, else every 6 months, or every 3, 2 or
    1 month when follow-up is too short for four 6-month marks (a trial followed for a few months)."""
    last = max((km.last_day for km in analysis.curves().values()), default=0.0)
    step = step_days or next(
        (months * DAYS_PER_MONTH for months in SHORT_RISK_STEPS_MONTHS if last // (months * DAYS_PER_MONTH) >= 3),
        SHORT_RISK_STEPS_MONTHS[-1] * DAYS_PER_MONTH,
    )
    return np.round(np.arange(0, last + step, step)[: int(last // step) + 1]).astype("int64")


def number_at_risk_table(
    analysis: SurvivalAnalysis, days: np.ndarray | None = None, in_months: bool = False
) -> pd.DataFrame:
    """Numbers at risk per curve at regular days: one row per curve, one column per day ("day 183",
    or "month 6" with `in_months`), as printed under a Kaplan-Meier plot."""
    days = risk_days(analysis) if days is None else np.asarray(days)
    rows = {label: km.at_risk_at(days) for label, km in analysis.curves().items()}
    names = [f"month {round(d / DAYS_PER_MONTH)}" if in_months else f"day {int(d)}" for d in days]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=names)
    return table.rename_axis("group").reset_index()


@dataclass(frozen=True)
class CoxResult:
    table: pd.DataFrame  # term, hazard_ratio, ci_low, ci_high, p_value, courses, events
    notes: tuple[str, ...]


def cox_model(cohort: Cohort, settings: RelapseSettings | None = None, times: EventTimes | None = None) -> CoxResult:
    """Hazard of relapse per 10 mg/kg cumulative dose and for women vs men, where the data allow."""
    times = (times or relapse_times(cohort, settings)).times
    courses = cohort.courses.set_index("course_idx")
    data = pd.DataFrame(
        {
            "days": times["days"].to_numpy(),
            "event": times["event"].to_numpy(),
            "dose_per_10": times["course_idx"].map(courses["cumulative_dose_mg_per_kg"]).astype("float").to_numpy()
            / COX_DOSE_UNIT,
            "female": times["course_idx"].map(courses["sex"].map({"F": 1.0, "M": 0.0})).astype("float").to_numpy(),
        }
    )
    terms, notes = _usable_terms(data)
    if not terms:
        return CoxResult(_empty_cox(), tuple(notes))
    complete = data.dropna(subset=terms)
    if complete["event"].sum() < MIN_EVENTS_PER_TERM * len(terms):
        notes.append(
            f"not fitted: {int(complete['event'].sum())} relapses among courses with {', '.join(COX_TERMS[t].lower() for t in terms)} known; "
            f"at least {MIN_EVENTS_PER_TERM} per term are needed"
        )
        return CoxResult(_empty_cox(), tuple(notes))
    try:
        table = cox_hazard_ratios(complete, "days", "event", {t: COX_TERMS[t] for t in terms})
    except (
        Exception
    ) as error:  # degenerate data: no maximum (ArithmeticError) or a singular information matrix (LinAlgError)
        notes.append(f"not fitted: the model did not converge ({type(error).__name__})")
        return CoxResult(_empty_cox(), tuple(notes))
    left_out = len(data) - len(complete)
    if left_out:
        notes.append(f"{left_out:,} courses left out of the model ({' or '.join(COX_MISSING[t] for t in terms)})")
    return CoxResult(table, tuple(notes))


def _usable_terms(data: pd.DataFrame) -> tuple[list[str], list[str]]:
    terms, notes = [], []
    dose = data["dose_per_10"].dropna()
    if dose.nunique() > 1:
        terms.append("dose_per_10")
    else:
        notes.append(
            "cumulative dose left out: no variation in known cumulative dose (needs cumulative_dose_mg and weight_kg)"
        )
    if data["female"].dropna().nunique() == 2:
        terms.append("female")
    else:
        notes.append("sex left out: the courses are not both female and male")
    return terms, notes


def _empty_cox() -> pd.DataFrame:
    return pd.DataFrame(columns=["term", "hazard_ratio", "ci_low", "ci_high", "p_value", "courses", "events"])


# Claim quantities (C06, C07, C08) for the claims engine.


def relapse_free_at(cohort: Cohort, years: float = 2, settings: RelapseSettings | None = None) -> Estimate:
    """C06: Kaplan-Meier relapse-free probability `years` after the course."""
    return fit_relapse(cohort, settings).survival_at(years * DAYS_PER_YEAR)


def relapse_probability_at(cohort: Cohort, years: float = 1, settings: RelapseSettings | None = None) -> Estimate:
    """C07: Kaplan-Meier probability of relapse by `years` after the course (1 - S, CI flipped)."""
    return fit_relapse(cohort, settings).failure_at(years * DAYS_PER_YEAR)


def second_course_probability_at(cohort: Cohort, years: float = 2, settings: RelapseSettings | None = None) -> Estimate:
    """C08: Kaplan-Meier probability of starting a further course within `years` (1 - S)."""
    return second_course_curve(cohort, settings).failure_at(years * DAYS_PER_YEAR)


def second_course_curve(cohort: Cohort, settings: RelapseSettings | None = None) -> KaplanMeier:
    """The Kaplan-Meier curve of time to a further course (the claims read it beyond its last day too)."""
    return _fitted(second_course_times(cohort, settings))


def fit_relapse(cohort: Cohort, settings: RelapseSettings | None = None) -> KaplanMeier:
    return _fitted(relapse_times(cohort, settings))


def _fitted(times: EventTimes, label: str = "all") -> KaplanMeier:
    """The Kaplan-Meier curve of all courses entered, fitted once per `EventTimes`."""
    fitted = memoised(times, ("relapse.km",), lambda: fit_km(times.times["days"], times.times["event"], label=label))
    return fitted if fitted.label == label else replace(fitted, label=label)


# JSON summary section "relapse".


def summary_section(cohort: Cohort, options: SummaryOptions) -> dict:
    settings = RelapseSettings.from_settings(options.settings, cohort)
    group_by = options.group_by if options.group_by in cohort.courses else None
    times = relapse_times(cohort, settings)
    relapse = relapse_analysis(cohort, settings, group_by, times)
    second = second_course_analysis(cohort, settings, group_by)
    cox = cox_model(cohort, settings, times)
    return {
        "origin": settings.origin,
        "definition": settings.describe(RELAPSE),
        "retreatment_counts_as_relapse": settings.retreatment_counts_as_relapse,
        **_analysis_json(relapse, "relapse_free"),
        "cox": {"terms": _records(cox.table), "notes": list(cox.notes)},
        "retreatment": {
            "definition": settings.describe(SECOND_COURSE),
            **_analysis_json(second, "without_further_course"),
            "further_course_by": _horizons_json(second.overall, settings, complement=True),
        },
    }


def _analysis_json(analysis: SurvivalAnalysis, horizon_key: str) -> dict:
    times = analysis.times
    section = {
        "method": KM_METHOD,
        "courses": times.total,
        "entered": times.entered,
        "excluded": _records(times.exclusion_counts()),
        **_curve_json(analysis.overall, analysis.settings, horizon_key),
    }
    if analysis.group_by:
        section["group_by"] = analysis.group_by
        section["groups"] = [
            {"group": label, **_curve_json(km, analysis.settings, horizon_key)} for label, km in analysis.groups.items()
        ]
        section["log_rank"] = analysis.comparison.as_dict() if analysis.comparison else None
    return section


def _curve_json(km: KaplanMeier, settings: RelapseSettings, horizon_key: str) -> dict:
    km_rows = km.table[["day", "at_risk", "events", "survival", "ci_low", "ci_high"]]
    return {
        "n": km.n,
        "events": km.events,
        "median_days": km.median_day,
        "median_ci_days": list(km.median_ci),
        horizon_key: _horizons_json(km, settings),
        "km": _records(km_rows),
    }


def _horizons_json(km: KaplanMeier, settings: RelapseSettings, complement: bool = False) -> list[dict]:
    """Event-free share (or, with `complement`, the share with the event) at each horizon."""
    rows = []
    for years in settings.horizons:
        day = years * DAYS_PER_YEAR
        estimate = km.failure_at(day) if complement else km.survival_at(day)
        rows.append(
            {
                "years": years,
                "estimate": estimate.estimate,
                "ci_low": estimate.ci_low,
                "ci_high": estimate.ci_high,
                "events_by_then": estimate.numerator,
            }
        )
    return rows


def _records(table: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: numpy scalars to Python, NaN to None."""
    cleaned = table.astype("object").where(table.notna(), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in cleaned.to_dict("records")]
