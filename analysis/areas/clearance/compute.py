"""Clearance: how many courses were clear at each month, how far lesions fell, how fast acne cleared.

What "clear" means is chosen by the user (`ClearanceSettings.definition`):
- `iga01`: the assessment's IGA is 0 (clear) or 1 (almost clear).
- `iga_success`: IGA 0/1 and at least 2 grades below the course's baseline IGA.
- `lesion_reduction`: total lesions at least X% (default 80) below the baseline count.
Definitions that need a baseline cannot judge a course without one (no assessment on or before
day 0, or zero lesions at baseline for the % reduction): such courses are left out of every
denominator and counted as "no baseline".

An assessment is a visit of the course window (day 1 after the first dose to 14 days after the
last dose; to the last visit when `end_day` is unknown) that records what the definition needs;
a visit with lesion counts but no IGA is an assessment for the lesion definition only. Within a
month, a course's last assessment counts. Each course is followed from month 1 to its "last
month": the month of its last dose or of its last visit in the window, whichever is later.
Visits after the window are post-course follow-up: they belong to the relapse area.

Missed visits (`ClearanceSettings.missing`), with the denominator n of month m:
- `observed`: n = courses with an assessment in month m.
- `locf`: n = courses with an assessment in month m or earlier, and m not after their last month;
  a month without an assessment takes the course's latest earlier assessment.
- `nri`: n = every judgeable course whose last month is m or later; a month without an
  assessment counts as not clear. Courses with no visit and no end day have no last month.

End of course: the end-of-course assessment is the course's last assessment from day 1 to 14 days
after its last dose. With observed cases it must fall no earlier than 30 days before the last
dose (else the course was not assessed at the end); with LOCF any earlier assessment carries
forward; with NRI a course without one counts as not clear. Courses without an end day are not
judged at the end and are counted.

Initial flare: total lesions at least X% (default 10) above baseline at any visit on days 1-42;
denominator = courses with a baseline count and a visit in that window (observed cases).

Time to clearance: Kaplan-Meier over months of course, the event being the first assessment
that is clear; courses that never clear are censored at the month of their last assessment.
"By month 6" counts clearances at assessments in month 6 or earlier (day <= 197).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import confint_proportions_2indep

from analysis.areas.base import SummaryOptions
from analysis.cohort.grouping import course_groups, group_values
from analysis.cohort.model import Cohort, Lineage
from analysis.cohort.visits import visit_arrays
from analysis.schema import END_WINDOW_AFTER_DAYS
from analysis.stats.intervals import Estimate, proportion
from analysis.stats.survival import KaplanMeier, fit_km

# Choices as the page offers them (the labels also appear in shared URLs).
DEFINITIONS = {
    "iga01": "IGA 0/1 (clear or almost clear)",
    "iga_success": "IGA success (0/1 and 2+ grades better)",
    "lesion_reduction": "Fewer total lesions than at baseline",
}
MISSING_RULES = {
    "observed": "Observed cases only",
    "locf": "Last observation carried forward",
    "nri": "Counted as not clear",
}
LESION_MEASURES = {
    "inflammatory_lesions": "Inflammatory lesions",
    "noninflammatory_lesions": "Non-inflammatory lesions (comedones)",
    "nodules": "Nodules and cysts",
    "total_lesions": "Total lesions",
}
END_WINDOW_BEFORE_DAYS = 30
FLOAT_TOLERANCE = 1e-9  # % changes like (2 - 10) / 10 * 100 are -80.00000000000001: ties count


@dataclass(frozen=True)
class ClearanceSettings:
    """The user's choices for this area; `from_settings` reads them from the CLI's `--set` pairs."""

    definition: str = "iga01"
    reduction_percent: float = 80.0
    missing: str = "observed"
    flare_percent: float = 10.0
    flare_window_days: tuple[int, int] = (1, 42)

    def __post_init__(self) -> None:
        if self.definition not in DEFINITIONS:
            raise ValueError(
                f"Unknown clearance definition '{self.definition}': choose one of {', '.join(DEFINITIONS)}."
            )
        if self.missing not in MISSING_RULES:
            raise ValueError(f"Unknown missing-visit rule '{self.missing}': choose one of {', '.join(MISSING_RULES)}.")
        if not 0 < self.reduction_percent <= 100:
            raise ValueError(
                f"The lesion reduction must be above 0% and at most 100% (got {self.reduction_percent:g})."
            )
        if not 0 <= self.flare_percent <= 1000:
            raise ValueError(f"The flare threshold must be between 0% and 1000% (got {self.flare_percent:g}).")
        low, high = self.flare_window_days
        if not 1 <= low <= high:
            raise ValueError(f"The flare window must run forward from day 1 (got days {low}-{high}).")

    @classmethod
    def from_settings(cls, settings: dict | None) -> ClearanceSettings:
        settings = settings or {}
        return cls(
            definition=str(settings.get("clearance.definition", cls.definition)).strip(),
            reduction_percent=_number(settings, "clearance.reduction_percent", cls.reduction_percent),
            missing=str(settings.get("clearance.missing", cls.missing)).strip(),
            flare_percent=_number(settings, "clearance.flare_percent", cls.flare_percent),
        )

    @property
    def needs_baseline(self) -> bool:
        return self.definition != "iga01"

    def definition_text(self) -> str:
        if self.definition == "lesion_reduction":
            return f"at least {self.reduction_percent:g}% fewer total lesions than at baseline"
        return {"iga01": "IGA 0/1", "iga_success": "IGA 0/1 and at least 2 grades better than baseline"}[
            self.definition
        ]

    def missing_text(self) -> str:
        return MISSING_RULES[self.missing].lower()

    def describe(self) -> str:
        """One sentence for chart subtitles, e.g. 'Clear = IGA 0/1; missed visits: last observation carried forward'."""
        return f"Clear = {self.definition_text()}; missed visits: {self.missing_text()}"

    def as_dict(self) -> dict:
        return {
            "definition": self.definition,
            "reduction_percent": self.reduction_percent,
            "missing": self.missing,
            "flare_percent": self.flare_percent,
            "flare_window_days": list(self.flare_window_days),
        }


def _number(settings: dict, key: str, default: float) -> float:
    raw = settings.get(key, default)
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"Setting {key} must be a number (got '{raw}').") from None


@dataclass(frozen=True)
class TestedEstimate(Estimate):
    """An estimate that also carries a hypothesis test (its name, statistic and p-value)."""

    test: str = ""
    statistic: float | None = None
    p_value: float | None = None


# ---------------------------------------------------------------------------------------------
# Building blocks: the visits as arrays, per-visit clear status, vectorised


def _floats(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float", na_value=np.nan)


def course_window(cohort: Cohort) -> np.ndarray:
    """Per visit of `visit_arrays(cohort)`: inside the course window (day 1 to 14 days after the last dose)?"""
    visits = visit_arrays(cohort)
    if visits.window is None:
        end_day = _course_lookup(cohort, _floats(cohort.courses["end_day"]), visits.size)[visits.course]
        visits.window = (visits.day >= 1) & ~(visits.day > end_day + END_WINDOW_AFTER_DAYS)
    return visits.window


def _course_index(cohort: Cohort) -> np.ndarray:
    return cohort.courses["course_idx"].to_numpy(dtype="int64")


def _course_lookup(cohort: Cohort, values: np.ndarray, size: int) -> np.ndarray:
    """Array indexed by course_idx holding one value per course (NaN for courses not in the cohort)."""
    table = np.full(size, np.nan)
    table[_course_index(cohort)] = values
    return table


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by `key`: each row's run of equal keys (0, 1, ...) and the first row of each run."""
    if key.size == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    starts = np.flatnonzero(np.append(True, key[1:] != key[:-1]))
    run = np.zeros(key.size, dtype="int64")
    run[starts[1:]] = 1
    return np.cumsum(run), starts


def _last_of_runs(*keys: np.ndarray) -> np.ndarray:
    """True at the last row of each run of equal keys (rows already sorted by them)."""
    if keys[0].size == 0:
        return np.zeros(0, dtype=bool)
    last = np.ones(keys[0].size, dtype=bool)
    changed = np.zeros(keys[0].size - 1, dtype=bool)
    for key in keys:
        changed |= key[1:] != key[:-1]
    last[:-1] = changed
    return last


def baseline_lesions(cohort: Cohort, measure: str = "total_lesions") -> np.ndarray:
    """Per course (row order): the baseline lesion count, NaN when there is none."""
    visits = visit_arrays(cohort)
    return visits.per_course(visits.values(f"baseline_{measure}"))[_course_index(cohort)]


def judgeable(cohort: Cohort, settings: ClearanceSettings) -> np.ndarray:
    """Per course (row order): can the definition judge it at all (has the baseline it needs)?"""
    courses = cohort.courses
    if settings.definition == "iga01":
        return np.ones(len(courses), dtype=bool)
    if settings.definition == "iga_success":
        return courses["baseline_iga"].notna().to_numpy()
    return baseline_lesions(cohort) > 0


def visit_clear_status(cohort: Cohort, settings: ClearanceSettings) -> np.ndarray:
    """Per visit of `visit_arrays(cohort)`: 1.0 clear, 0.0 not clear, NaN when it cannot be judged."""
    visits = visit_arrays(cohort)
    if settings.definition == "lesion_reduction":
        change = visits.values("pct_change_total_lesions")
        return np.where(
            np.isnan(change), np.nan, (change <= -settings.reduction_percent + FLOAT_TOLERANCE).astype(float)
        )
    iga = visits.values("iga")
    clear = iga <= 1
    if settings.definition == "iga_success":
        base = _course_lookup(cohort, _floats(cohort.courses["baseline_iga"]), visits.size)[visits.course]
        clear = clear & (base - iga >= 2)
        iga = np.where(np.isnan(base), np.nan, iga)
    return np.where(np.isnan(iga), np.nan, clear.astype(float))


def assessments(cohort: Cohort, settings: ClearanceSettings) -> pd.DataFrame:
    """One row per course and month with an assessment after the first dose: the month's last one.

    Columns: course_idx, day, month, clear (bool). Sorted by course and month.
    """
    return cohort.derived(
        ("clearance.assessments", settings), lambda: _assessments(cohort, settings), _rows_of_kept_courses
    )


def _rows_of_kept_courses(table: pd.DataFrame, lineage: Lineage, cohort: Cohort) -> pd.DataFrame:
    """A per-course table of the whole cohort cut to a subset's courses (each row depends only on its course)."""
    return lineage.rows_of(table)


def _assessments(cohort: Cohort, settings: ClearanceSettings) -> pd.DataFrame:
    visits = visit_arrays(cohort)
    status = visit_clear_status(cohort, settings)
    keep = ~np.isnan(status) & course_window(cohort)
    course, day, month = visits.course[keep], visits.day[keep], visits.month[keep].astype("int64")
    last = _last_of_runs(course, month)
    return pd.DataFrame(
        {"course_idx": course[last], "day": day[last], "month": month[last], "clear": status[keep][last] == 1}
    )


def last_month(cohort: Cohort) -> np.ndarray:
    """Per course (row order): month of the later of its last dose and its last visit in the window; NaN if
    neither (the cohort's `last_month`, derived when it was built)."""
    return _floats(cohort.courses["last_month"])


# ---------------------------------------------------------------------------------------------
# Clearance by month


def clearance_by_month(cohort: Cohort, settings: ClearanceSettings | None = None) -> pd.DataFrame:
    """Per month of course from 1: n (the denominator under the missing-visit rule), cleared, rate and 95% CI."""
    settings = settings or ClearanceSettings()
    counts = _monthly_counts(cohort, settings)
    counts = counts[(counts["month"] >= 1) & (counts["n"] > 0)].reset_index(drop=True)
    return _with_intervals(counts)


def _monthly_counts(cohort: Cohort, settings: ClearanceSettings) -> pd.DataFrame:
    rows = assessments(cohort, settings)
    horizon = last_month(cohort)
    if settings.missing == "observed":
        return _counts_frame(rows["month"].to_numpy(), np.ones(len(rows)), rows["clear"].to_numpy(dtype=float))
    if settings.missing == "nri":
        return _nri_counts(rows, horizon[judgeable(cohort, settings)])
    return _locf_counts(cohort, rows, horizon)


def _counts_frame(month: np.ndarray, weight: np.ndarray, cleared: np.ndarray) -> pd.DataFrame:
    if month.size == 0:
        return pd.DataFrame(
            {"month": pd.Series(dtype="int64"), "n": pd.Series(dtype="int64"), "cleared": pd.Series(dtype="int64")}
        )
    offset = min(int(month.min()), 0)
    n = np.bincount(month - offset, weights=weight)
    k = np.bincount(month - offset, weights=cleared, minlength=n.size)
    return pd.DataFrame({"month": np.arange(n.size) + offset, "n": n.astype("int64"), "cleared": k.astype("int64")})


def _nri_counts(rows: pd.DataFrame, horizon: np.ndarray) -> pd.DataFrame:
    """Denominator: judgeable courses followed to each month; numerator: clear assessments that month."""
    horizon = horizon[~np.isnan(horizon)].astype("int64")
    top = int(max(horizon.max() if horizon.size else 0, rows["month"].max() if len(rows) else 0))
    reached = np.bincount(horizon.clip(min=0), minlength=top + 1)[::-1].cumsum()[::-1]
    observed = _counts_frame(rows["month"].to_numpy(), np.ones(len(rows)), rows["clear"].to_numpy(dtype=float))
    cleared = np.zeros(top + 1, dtype="int64")
    valid = observed[(observed["month"] >= 0)]
    cleared[valid["month"].to_numpy()] = valid["cleared"].to_numpy()
    return pd.DataFrame({"month": np.arange(top + 1), "n": reached.astype("int64"), "cleared": cleared})


def _locf_counts(cohort: Cohort, rows: pd.DataFrame, horizon: np.ndarray) -> pd.DataFrame:
    """Each assessment holds from its month until the next assessment, or the course's last month."""
    if rows.empty:
        return _counts_frame(np.zeros(0, dtype="int64"), np.zeros(0), np.zeros(0))
    course = rows["course_idx"].to_numpy()
    month = rows["month"].to_numpy()
    by_course = _course_lookup(cohort, horizon, visit_arrays(cohort).size)[course]
    following = np.append(month[1:], 0)
    last = _last_of_runs(course)
    stop = np.where(last, np.fmax(by_course, month), following - 1).astype("int64")  # inclusive
    size = int(stop.max()) + 2
    start_at = np.bincount(month.clip(min=0), minlength=size)[:size]
    stop_at = np.bincount(stop.clip(min=0) + 1, minlength=size)[:size]
    clear = rows["clear"].to_numpy(dtype=float)
    clear_start = np.bincount(month.clip(min=0), weights=clear, minlength=size)[:size]
    clear_stop = np.bincount(stop.clip(min=0) + 1, weights=clear, minlength=size)[:size]
    n = np.cumsum(start_at - stop_at)
    k = np.cumsum(clear_start - clear_stop)
    return pd.DataFrame({"month": np.arange(size), "n": n.astype("int64"), "cleared": np.rint(k).astype("int64")})


def _with_intervals(counts: pd.DataFrame) -> pd.DataFrame:
    estimates = [proportion(k, n) for k, n in zip(counts["cleared"], counts["n"])]
    counts = counts.copy()
    counts["rate"] = [e.estimate for e in estimates]
    counts["ci_low"] = [e.ci_low for e in estimates]
    counts["ci_high"] = [e.ci_high for e in estimates]
    counts["method"] = [e.method for e in estimates]
    return counts


# ---------------------------------------------------------------------------------------------
# End of course


def end_of_course_table(cohort: Cohort, settings: ClearanceSettings | None = None) -> pd.DataFrame:
    """Per course (row order): whether it counts at the end of course, and whether it was clear.

    Columns: course_idx, end_day, assessment_day, counted (bool), clear (bool), reason (why not counted).
    """
    settings = settings or ClearanceSettings()
    return cohort.derived(
        ("clearance.end_of_course", settings), lambda: _end_of_course_table(cohort, settings), _rows_of_kept_courses
    )


def _end_of_course_table(cohort: Cohort, settings: ClearanceSettings) -> pd.DataFrame:
    courses = cohort.courses
    index = courses["course_idx"].to_numpy(dtype="int64")
    end_day = _floats(courses["end_day"])
    day, clear = _last_assessment_by_end(cohort, settings, index, end_day)
    in_window = day >= end_day - END_WINDOW_BEFORE_DAYS
    ok = judgeable(cohort, settings)
    has_end = ~np.isnan(end_day)
    if settings.missing == "observed":
        counted, is_clear = ok & has_end & in_window, clear & in_window
    elif settings.missing == "locf":
        counted, is_clear = ok & has_end & ~np.isnan(day), clear
    else:
        counted, is_clear = ok & has_end, clear & in_window
    unassessed = (
        "never assessed before the end of course"
        if settings.missing == "locf"
        else "not assessed near the end of course"
    )
    reason = np.select([~ok, ~has_end, ~counted], ["no baseline", "end of course unknown", unassessed], "")
    return pd.DataFrame(
        {
            "course_idx": index,
            "end_day": end_day,
            "assessment_day": day,
            "counted": counted,
            "clear": counted & is_clear,
            "reason": reason,
        }
    )


def _last_assessment_by_end(cohort: Cohort, settings: ClearanceSettings, index: np.ndarray, end_day: np.ndarray):
    """Per course: day and clear status of the last assessment from day 1 to end_day + 14."""
    visits = visit_arrays(cohort)
    status = visit_clear_status(cohort, settings)
    limit = _course_lookup(cohort, end_day, visits.size)[visits.course] + END_WINDOW_AFTER_DAYS
    keep = ~np.isnan(status) & (visits.day >= 1) & (visits.day <= limit)
    course, day, status = visits.course[keep], visits.day[keep], status[keep]
    last = _last_of_runs(course)
    by_day = np.full(visits.size, np.nan)
    by_clear = np.zeros(visits.size, dtype=bool)
    by_day[course[last]] = day[last]
    by_clear[course[last]] = status[last] == 1
    return by_day[index], by_clear[index]


def end_of_course_clearance(cohort: Cohort, settings: ClearanceSettings | None = None) -> Estimate:
    """Share of courses clear at the end-of-course assessment (rules in the module docstring)."""
    return _cleared_share(end_of_course_table(cohort, settings))


def _cleared_share(table: pd.DataFrame) -> Estimate:
    return proportion(int(table["clear"].sum()), int(table["counted"].sum()))


def share_reduction_at_end(cohort: Cohort, percent: float = 80.0, missing: str = "observed") -> Estimate:
    """C01: share of courses with at least `percent`% fewer total lesions at the end of course than at baseline."""
    return end_of_course_clearance(
        cohort, ClearanceSettings(definition="lesion_reduction", reduction_percent=percent, missing=missing)
    )


def first_course_iga01_at_end(cohort: Cohort, missing: str = "observed", completed_only: bool = False) -> Estimate:
    """C02 (and C15, C16 on a filtered cohort): share of first courses ending at IGA 0/1."""
    return end_of_course_clearance(
        first_courses(cohort, completed_only), ClearanceSettings(definition="iga01", missing=missing)
    )


def first_courses(cohort: Cohort, completed_only: bool = False) -> Cohort:
    """First courses (a missing course number counts as 1), optionally only those completed."""
    return cohort.memo(("clearance.first_courses", completed_only), lambda: _first_courses(cohort, completed_only))


def _first_courses(cohort: Cohort, completed_only: bool) -> Cohort:
    parent = cohort.parent()
    if parent is not None:  # the parent's first courses that are in this subset: results are cut from theirs
        return first_courses(parent, completed_only).subset(cohort.courses["course_idx"])
    courses = cohort.courses
    return cohort.subset(courses.loc[first_course_rows(courses, completed_only), "course_idx"])


def first_course_rows(courses: pd.DataFrame, completed_only: bool = False) -> np.ndarray:
    """Per course (row order): is it a first course (and completed, with `completed_only`)?"""
    keep = courses["course_number"].fillna(1).astype("int64") == 1
    if completed_only:
        keep &= (courses["end_reason"] == "completed").fillna(False).astype(bool)
    return keep.to_numpy()


def first_course_ends(cohort: Cohort, settings: ClearanceSettings, completed_only: bool = False) -> pd.DataFrame:
    """`end_of_course_table` of the cohort's first courses. A subset (a filter) cuts the whole
    cohort's table to its courses instead of cutting a cohort of its first courses."""
    return cohort.derived_from_whole(
        ("clearance.first_course_ends", settings, completed_only),
        lambda c: end_of_course_table(first_courses(c, completed_only), settings),
        _rows_of_kept_courses,
    )


def first_course_clearance(cohort: Cohort, settings: ClearanceSettings, completed_only: bool = False) -> Estimate:
    """`end_of_course_clearance` of the cohort's first courses (see `first_course_ends`)."""
    return _cleared_share(first_course_ends(cohort, settings, completed_only))


# ---------------------------------------------------------------------------------------------
# Early improvement (C03) and initial flare (C04)


def improvement_by_month_2_3(cohort: Cohort) -> TestedEstimate:
    """C03: share with fewer inflammatory lesions at month 2-3 than at baseline, with a paired test.

    Per course the latest inflammatory count in months 2-3 is compared with the baseline count;
    an equal count is not an improvement. The Wilcoxon signed-rank test (two-sided, zero
    differences dropped) asks whether counts changed at all.
    """
    baseline, later = _paired_inflammatory(cohort, months=(2, 3))
    share = proportion(int((later < baseline).sum()), int(baseline.size))
    differences = later - baseline
    if np.count_nonzero(differences) == 0:
        return TestedEstimate(
            **share.__dict__, test="Wilcoxon signed-rank test: no course changed", statistic=None, p_value=None
        )
    result = scipy_stats.wilcoxon(baseline, later, zero_method="wilcox")
    return TestedEstimate(
        **share.__dict__,
        test="Wilcoxon signed-rank test (paired, two-sided)",
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
    )


def _paired_inflammatory(cohort: Cohort, months: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per course with both (in course order): the baseline and the latest inflammatory count in `months`."""
    _, baseline, later = cohort.derived(
        ("clearance.paired_inflammatory", months), lambda: _course_pairs(cohort, months), _kept_courses
    )
    return baseline, later


def _course_pairs(cohort: Cohort, months: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    visits = visit_arrays(cohort)
    count = visits.values("inflammatory_lesions")
    baseline = visits.values("baseline_inflammatory_lesions")
    in_months = course_window(cohort) & (visits.month >= months[0]) & (visits.month <= months[1])
    keep = ~np.isnan(count) & ~np.isnan(baseline) & in_months
    last = _last_of_runs(visits.course[keep])
    return visits.course[keep][last], baseline[keep][last], count[keep][last]


def _kept_courses(arrays: tuple[np.ndarray, ...], lineage: Lineage, cohort: Cohort) -> tuple[np.ndarray, ...]:
    """Per-course arrays of the whole cohort (the first holds course_idx) cut to a subset's courses
    (each value depends only on its course)."""
    kept = lineage.keeps(arrays[0])
    return tuple(values[kept] for values in arrays)


@dataclass(frozen=True)
class Flare:
    estimate: Estimate
    peak_change: pd.Series  # per course assessed in the window: highest % change of total lesions
    without_baseline: int
    without_early_visit: int
    settings: ClearanceSettings = field(default_factory=ClearanceSettings)


def flare(cohort: Cohort, settings: ClearanceSettings | None = None) -> Flare:
    """Initial flare: total lesions at least X% above baseline at any visit in days 1-42 (observed cases)."""
    settings = settings or ClearanceSettings()
    visits = visit_arrays(cohort)
    low, high = settings.flare_window_days
    change = visits.values("pct_change_total_lesions")
    keep = ~np.isnan(change) & (visits.day >= low) & (visits.day <= high)
    peak = pd.Series(change[keep]).groupby(visits.course[keep]).max()
    flared = int((peak >= settings.flare_percent - FLOAT_TOLERANCE).sum())
    with_baseline = int((baseline_lesions(cohort) > 0).sum())
    return Flare(
        proportion(flared, len(peak)), peak, cohort.n_courses - with_baseline, with_baseline - len(peak), settings
    )


def flare_share(cohort: Cohort, settings: ClearanceSettings | None = None) -> Estimate:
    """C04: share of courses with an initial flare (see `flare`)."""
    return flare(cohort, settings).estimate


# ---------------------------------------------------------------------------------------------
# Time to clearance


def time_to_clearance(cohort: Cohort, settings: ClearanceSettings | None = None) -> KaplanMeier:
    """Kaplan-Meier over months (table column `day` holds months): first clear assessment or censoring."""
    settings = settings or ClearanceSettings()
    return cohort.memo(
        ("clearance.time_to_clearance", settings),
        lambda: fit_km(*clearance_durations(cohort, settings), label="time to clearance"),
    )


def clearance_durations(cohort: Cohort, settings: ClearanceSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per assessed course: month of the first clear assessment (event) or of the last assessment
    (censored); the events first, each part in course order."""
    _, month, event = cohort.derived(
        ("clearance.durations", settings), lambda: _course_durations(cohort, settings), _kept_courses
    )
    order = np.concatenate([np.flatnonzero(event), np.flatnonzero(~event)])
    return month[order].astype(float), event[order]


def _course_durations(cohort: Cohort, settings: ClearanceSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per assessed course (course order): course_idx, month of its first clear or last assessment, and whether it cleared."""
    rows = assessments(cohort, settings)
    course = rows["course_idx"].to_numpy()
    clear = rows["clear"].to_numpy()
    month = rows["month"].to_numpy()
    run, starts = _runs(course)
    clear_count = clear.astype("int64")
    clear_before = np.cumsum(clear_count) - clear_count  # clear rows before each row
    first_clear = clear & (clear_before == clear_before[starts][run])  # none of them in the same course
    ever_clear = np.add.reduceat(clear_count, starts) > 0 if starts.size else np.zeros(0, dtype=bool)
    censored = _last_of_runs(course) & ~ever_clear[run]
    chosen = first_clear | censored
    return course[chosen], month[chosen], first_clear[chosen]


def time_to_clearance_table(km: KaplanMeier) -> pd.DataFrame:
    """The Kaplan-Meier steps as shares cleared: month, still followed, cleared that month, censored, share cleared and 95% CI."""
    table = km.table
    return pd.DataFrame(
        {
            "month": table["day"].astype("int64"),
            "still_followed_not_clear": table["at_risk"],
            "cleared_that_month": table["events"],
            "censored": table["censored"],
            "share_cleared": 1 - table["survival"],
            "ci_low": 1 - table["ci_high"],
            "ci_high": 1 - table["ci_low"],
        }
    )


def cleared_by_month(cohort: Cohort, month: int = 6, settings: ClearanceSettings | None = None) -> Estimate:
    """C17: Kaplan-Meier probability of having been clear (default IGA 0/1) at an assessment by `month`."""
    settings = settings or ClearanceSettings(definition="iga01")
    return _km_by_month(time_to_clearance(cohort, settings), month)


def _km_by_month(km: KaplanMeier, month: int) -> Estimate:
    estimate = km.failure_at(month)
    method = estimate.method.replace("no course followed", "no course followed to month").replace(" days", "")
    return Estimate(estimate.estimate, estimate.ci_low, estimate.ci_high, estimate.n, method, estimate.numerator)


# ---------------------------------------------------------------------------------------------
# Lesions and IGA per month


def lesions_by_month(cohort: Cohort) -> pd.DataFrame:
    """Per measure and month (0 = baseline): n, median, quartiles of the count and of the % change from baseline.

    One value per course and month from month 1 (its last visit of the month in the course window
    that counted that measure); month 0 holds each course's baseline count.
    """
    parts = [_measure_by_month(cohort, measure) for measure in LESION_MEASURES if measure in cohort.visits]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(
            columns=[
                "measure",
                "label",
                "month",
                "n",
                "median",
                "q1",
                "q3",
                "n_change",
                "change_median",
                "change_q1",
                "change_q3",
            ]
        )
    return pd.concat(parts, ignore_index=True)


def _measure_by_month(cohort: Cohort, measure: str) -> pd.DataFrame:
    visits = visit_arrays(cohort)
    count, change = visits.values(measure), visits.values(f"pct_change_{measure}")
    keep = ~np.isnan(count) & course_window(cohort) & (visits.month >= 1)  # month 0 is the baseline
    month = visits.month[keep].astype("int64")
    last = _last_of_runs(visits.course[keep], month)
    baseline = baseline_lesions(cohort, measure)
    baseline = baseline[~np.isnan(baseline)]
    months = np.concatenate([np.zeros(baseline.size, "int64"), month[last]])
    if months.size == 0:
        return pd.DataFrame()
    counts = grouped_quartiles(months, np.concatenate([baseline, count[keep][last]]))
    changes = grouped_quartiles(month[last], change[keep][last])
    at_baseline = pd.DataFrame({"n": int((baseline > 0).sum()), "q1": 0.0, "median": 0.0, "q3": 0.0}, index=[0])
    changes = pd.concat([at_baseline, changes]).reindex(counts.index)
    return pd.DataFrame(
        {
            "measure": measure,
            "label": LESION_MEASURES[measure],
            "month": counts.index.to_numpy(),
            "n": counts["n"].to_numpy(),
            "median": counts["median"].to_numpy(),
            "q1": counts["q1"].to_numpy(),
            "q3": counts["q3"].to_numpy(),
            "n_change": changes["n"].fillna(0).astype("int64").to_numpy(),
            "change_median": changes["median"].to_numpy(),
            "change_q1": changes["q1"].to_numpy(),
            "change_q3": changes["q3"].to_numpy(),
        }
    )


QUARTILES = (0.25, 0.5, 0.75)
HISTOGRAM_CELLS_LIMIT = 5_000_000  # groups x (largest value + 1): above this, quartiles are found by sorting


def grouped_quartiles(groups: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Per group (index, sorted): n, q1, median, q3 of the non-missing values (linear interpolation, as pandas).

    Whole-number values such as lesion counts are counted into a histogram per group, which is
    exact and an order of magnitude faster than sorting at a million courses.
    """
    keep = ~np.isnan(values)
    groups, values = groups[keep], values[keep]
    if values.size == 0:
        return pd.DataFrame({"n": pd.Series(dtype="int64"), "q1": [], "median": [], "q3": []})
    span = (int(groups.max()) - int(groups.min()) + 1) * (values.max() + 1)
    if values.min() >= 0 and span <= HISTOGRAM_CELLS_LIMIT and np.all(values == np.floor(values)):
        return _histogram_quartiles(groups, values.astype("int64"))
    return _partitioned_quartiles(groups, values)


def _partitioned_quartiles(groups: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Quartiles per group: rows ordered by group (a stable radix sort), then numpy's quantile per slice."""
    small = np.iinfo(np.int16)
    key = groups.astype(np.int16) if groups.min() > small.min and groups.max() < small.max else groups
    order = np.argsort(key, kind="stable")
    groups, values = groups[order], values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    ends = np.r_[starts[1:], groups.size]
    quartiles = np.array([np.quantile(values[a:b], QUARTILES) for a, b in zip(starts, ends)])
    return pd.DataFrame(
        {"n": ends - starts, "q1": quartiles[:, 0], "median": quartiles[:, 1], "q3": quartiles[:, 2]},
        index=groups[starts],
    )


def _histogram_quartiles(groups: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Quartiles from one histogram per group (groups are small integers such as months)."""
    offset = int(groups.min())
    rows = int(groups.max()) - offset + 1
    width = int(values.max()) + 1
    cumulative = (
        np.bincount((groups - offset) * width + values, minlength=rows * width).reshape(rows, width).cumsum(axis=1)
    )
    present = cumulative[:, -1] > 0
    cumulative = cumulative[present]
    n = cumulative[:, -1]
    labels = np.flatnonzero(present) + offset
    result = {"n": n}
    for name, q in zip(("q1", "median", "q3"), QUARTILES):
        position = q * (n - 1)
        below = np.floor(position)
        # The k-th smallest value (0-based) is the number of histogram bins whose running count is <= k.
        lower = (cumulative <= below[:, None]).sum(axis=1)
        upper = (cumulative <= np.minimum(below + 1, n - 1)[:, None]).sum(axis=1)
        result[name] = lower + (upper - lower) * (position - below)
    return pd.DataFrame(result, index=labels)


def iga_by_month(cohort: Cohort) -> pd.DataFrame:
    """Per month (0 = baseline) and IGA grade: courses, share of the month's assessed courses, and n."""
    visits = visit_arrays(cohort)
    iga = visits.values("iga")
    keep = ~np.isnan(iga) & course_window(cohort) & (visits.month >= 1)  # month 0 is the baseline
    month = visits.month[keep].astype("int64")
    last = _last_of_runs(visits.course[keep], month)
    baseline = _floats(cohort.courses["baseline_iga"])
    baseline = baseline[~np.isnan(baseline)]
    frame = pd.DataFrame(
        {
            "month": np.concatenate([np.zeros(baseline.size, "int64"), month[last]]),
            "iga": np.concatenate([baseline, iga[keep][last]]).astype("int64"),
        }
    )
    counts = frame.groupby(["month", "iga"]).size().rename("courses").reset_index()
    counts["n"] = counts.groupby("month")["courses"].transform("sum")
    counts["share"] = counts["courses"] / counts["n"]
    return counts


# ---------------------------------------------------------------------------------------------
# Subgroups


@dataclass(frozen=True)
class GroupComparison:
    """End-of-course clearance per group, the difference (two groups) and a test."""

    column: str
    table: pd.DataFrame  # group, n, cleared, rate, ci_low, ci_high
    difference: Estimate | None
    test: str
    statistic: float | None
    p_value: float | None
    missing_group: int  # courses counted at the end of course whose group is unknown

    def as_dict(self) -> dict:
        return {
            "column": self.column,
            "groups": _records(self.table),
            "difference": self.difference.as_dict() if self.difference else None,
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "missing_group": self.missing_group,
        }


def compare_groups(cohort: Cohort, column: str, settings: ClearanceSettings | None = None) -> GroupComparison:
    """End-of-course clearance per group, with the difference (Newcombe CI) for two groups and a test.

    The test is chi-square when every expected count is at least 5, else Fisher's exact test
    (for more than two groups, Fisher-Freeman-Halton with a seeded Monte Carlo p-value).
    """
    return _compared(column, group_values(cohort, column), end_of_course_table(cohort, settings))


def compare_first_course_groups(
    cohort: Cohort, column: str, settings: ClearanceSettings, completed_only: bool = False
) -> GroupComparison:
    """`compare_groups` on the cohort's first courses (see `first_course_ends`)."""
    groups = course_groups(cohort.courses, column, first_course_rows(cohort.courses, completed_only))
    return _compared(column, groups, first_course_ends(cohort, settings, completed_only))


def _compared(column: str, groups: pd.Series | None, ends: pd.DataFrame) -> GroupComparison:
    if groups is None:
        raise ValueError(f"The data has no column '{column}' to compare groups by.")
    counted = ends["counted"].to_numpy()
    known = groups.notna().to_numpy()
    table = _group_table(groups[counted & known], ends.loc[counted & known, "clear"])
    difference = _difference(table) if len(table) == 2 else None
    test, statistic, p_value = _independence_test(table)
    return GroupComparison(column, table, difference, test, statistic, p_value, int((counted & ~known).sum()))


def _group_table(groups: pd.Series, clear: pd.Series) -> pd.DataFrame:
    codes, values = pd.factorize(groups)  # each distinct value labelled once
    labels = np.array([_label(value) for value in values], dtype=object)
    group, code = np.unique(labels, return_inverse=True)  # labels sorted; equal labels form one group
    course_group = code[codes]
    table = pd.DataFrame(
        {
            "group": group.astype(object),
            "n": np.bincount(course_group, minlength=group.size),
            "cleared": np.bincount(course_group, weights=clear.to_numpy(dtype=bool), minlength=group.size).astype(
                "int64"
            ),
        }
    )
    return _with_intervals(table)


def _label(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _difference(table: pd.DataFrame) -> Estimate:
    (k1, n1), (k2, n2) = table[["cleared", "n"]].to_numpy()
    low, high = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    name = f"difference {table['group'].iloc[0]} minus {table['group'].iloc[1]}, Newcombe hybrid score interval"
    return Estimate(float(k1 / n1 - k2 / n2), float(low), float(high), int(n1 + n2), name, None)


def _independence_test(table: pd.DataFrame) -> tuple[str, float | None, float | None]:
    observed = np.column_stack([table["cleared"], table["n"] - table["cleared"]]).astype("int64")
    if len(table) < 2 or (observed.sum(axis=0) == 0).any():
        return "no test: fewer than two groups, or every course had the same outcome", None, None
    expected = scipy_stats.contingency.expected_freq(observed)
    if (expected >= 5).all():
        result = scipy_stats.chi2_contingency(observed, correction=False)
        return f"chi-square test ({len(table) - 1} df)", float(result.statistic), float(result.pvalue)
    if len(table) == 2:
        result = scipy_stats.fisher_exact(observed)
        return "Fisher's exact test (two-sided)", None, float(result.pvalue)
    method = scipy_stats.MonteCarloMethod(n_resamples=9999, rng=np.random.default_rng(20240611))
    result = scipy_stats.fisher_exact(observed, method=method)
    return "Fisher-Freeman-Halton exact test (Monte Carlo p-value, 9,999 tables)", None, float(result.pvalue)


# ---------------------------------------------------------------------------------------------
# The whole area at once (page, report), and the counting rules in plain words


@dataclass(frozen=True)
class ClearanceAnalysis:
    settings: ClearanceSettings
    by_month: pd.DataFrame
    end_of_course: Estimate
    end_not_counted: dict[str, int]
    lesions: pd.DataFrame
    iga: pd.DataFrame
    flare: Flare
    time_to_clearance: KaplanMeier
    cleared_by_month_6: Estimate
    improvement: TestedEstimate
    quality: pd.DataFrame


def analyse(cohort: Cohort, settings: ClearanceSettings | None = None) -> ClearanceAnalysis:
    """Every summary of the area for one cohort and one set of choices."""
    settings = settings or ClearanceSettings()
    ends = end_of_course_table(cohort, settings)
    km = time_to_clearance(cohort, settings)
    return ClearanceAnalysis(
        settings=settings,
        by_month=clearance_by_month(cohort, settings),
        end_of_course=proportion(int(ends["clear"].sum()), int(ends["counted"].sum())),
        end_not_counted={str(k): int(v) for k, v in ends.loc[~ends["counted"], "reason"].value_counts().items()},
        lesions=lesions_by_month(cohort),
        iga=iga_by_month(cohort),
        flare=flare(cohort, settings),
        time_to_clearance=km,
        cleared_by_month_6=_km_by_month(km, 6),
        improvement=improvement_by_month_2_3(cohort),
        quality=data_quality(cohort, settings),
    )


def counting_rules(settings: ClearanceSettings) -> list[str]:
    """The rules behind the numbers, in plain words, for the page and the report."""
    missing = {
        "observed": "each month counts only the courses assessed in that month; courses not seen that month are left out of it.",
        "locf": (
            "a month without an assessment takes the course's latest earlier assessment, up to the month of its last dose "
            "(or of its end-of-course visit); courses not yet assessed are left out."
        ),
        "nri": (
            "every course counts in each month from month 1 to the month of its last dose (or of its end-of-course visit); "
            "a month without an assessment counts as not clear."
        ),
    }[settings.missing]
    end = {
        "observed": f"the last assessment from {END_WINDOW_BEFORE_DAYS} days before to {END_WINDOW_AFTER_DAYS} days after the last dose; courses without one are left out",
        "locf": f"the last assessment up to {END_WINDOW_AFTER_DAYS} days after the last dose, however early",
        "nri": f"the last assessment from {END_WINDOW_BEFORE_DAYS} days before to {END_WINDOW_AFTER_DAYS} days after the last dose; courses without one count as not clear",
    }[settings.missing]
    low, high = settings.flare_window_days
    return [
        f"**Clear** means {settings.definition_text()} at an assessment: a visit from day 1 after the first dose to "
        f"{END_WINDOW_AFTER_DAYS} days after the last dose. Later visits are post-course follow-up (see the Relapse page)."
        + (
            " Courses without a baseline (a visit on or before the first dose) cannot be judged and are counted below."
            if settings.needs_baseline
            else ""
        ),
        "A **month** of the course is the day divided by 30.4 and rounded (month 1 = days 16-45). When a course has several assessments in a month, the last one counts.",
        f"**Missed visits**: {missing}",
        f"**End of course**: {end}. Courses without a last-dose day are left out and counted.",
        f"**Initial flare**: total lesions {settings.flare_percent:g}% or more above baseline at any visit on days {low}-{high}, "
        "among courses with a baseline count and a visit in that window.",
        "**Time to clearance**: the month of the first clear assessment; courses that never clear count until their last assessment (censored), "
        "so courses that stop early do not pull the curve down.",
    ]


# ---------------------------------------------------------------------------------------------
# What was counted, and the JSON summary


def missing_for_definition(cohort: Cohort, settings: ClearanceSettings) -> str | None:
    """A plain sentence naming the column the chosen definition needs and the data lacks, else None."""
    visits = cohort.visits
    if settings.definition == "lesion_reduction":
        if visits["total_lesions"].isna().all():
            return (
                "The data has no lesion counts (total_lesions, or inflammatory_lesions with noninflammatory_lesions in visits): "
                "the lesion-reduction definition cannot be used. Choose an IGA definition."
            )
        return None
    if visits["iga"].isna().all():
        return "The data has no IGA grades (column iga in visits): choose the lesion-reduction definition instead."
    if settings.definition == "iga_success" and cohort.courses["baseline_iga"].isna().all():
        return (
            "No course has a baseline IGA (baseline_iga, or an IGA on or before day 0): IGA success cannot be judged."
        )
    return None


def data_quality(cohort: Cohort, settings: ClearanceSettings | None = None) -> pd.DataFrame:
    """Counts of courses and visits that could not be used, each with its reason (never silently dropped)."""
    settings = settings or ClearanceSettings()
    visits = cohort.visits
    with_visits = np.isin(_course_index(cohort), visit_arrays(cohort).course)
    assessed = np.isin(_course_index(cohort), assessments(cohort, settings)["course_idx"].to_numpy())
    has_lesions = visits[["inflammatory_lesions", "noninflammatory_lesions", "total_lesions"]].notna().any(axis=1)
    rows = [
        ("Courses", cohort.n_courses, "all courses in the current selection"),
        (
            "Courses without any visit",
            int((~with_visits).sum()),
            "left out, except under 'counted as not clear', where each month of treatment counts as not clear",
        ),
        (
            "Courses without a baseline for this definition",
            int((~judgeable(cohort, settings)).sum()),
            "needs a baseline (IGA, or a lesion count above 0, on or before day 0)"
            if settings.needs_baseline
            else "IGA 0/1 needs no baseline",
        ),
        (
            "Courses never assessed during the course",
            int((with_visits & ~assessed).sum()),
            f"no visit from day 1 to {END_WINDOW_AFTER_DAYS} days after the last dose records what '{settings.definition_text()}' needs",
        ),
        (
            "Courses without an end day",
            int(cohort.courses["end_day"].isna().sum()),
            "cannot be judged at the end of course",
        ),
        (
            "Visits that match no course",
            int(visits["course_idx"].isna().sum()),
            "patient and course number not found in the courses table",
        ),
        ("Visits without a day", int(visits["day"].isna().sum()), "cannot be placed in a month"),
        (
            "Visits with lesion counts but no IGA",
            int((visits["iga"].isna() & has_lesions).sum()),
            "used by the lesion definition only",
        ),
    ]
    return pd.DataFrame(rows, columns=["what", "count", "meaning"])


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    return value


def summary_section(cohort: Cohort, options: SummaryOptions) -> dict:
    """The `clearance` section of the JSON summary."""
    settings = ClearanceSettings.from_settings(getattr(options, "settings", {}) or {})
    by_month = clearance_by_month(cohort, settings)[["month", "n", "cleared", "rate", "ci_low", "ci_high"]]
    ends = end_of_course_table(cohort, settings)
    flare_result = flare(cohort, settings)
    section = {
        **settings.as_dict(),
        "description": settings.describe(),
        "by_month": _records(by_month),
        "end_of_course": {
            **end_of_course_clearance(cohort, settings).as_dict(),
            "not_counted": {k: int(v) for k, v in ends.loc[~ends["counted"], "reason"].value_counts().items()},
        },
        "flare": {
            **flare_result.estimate.as_dict(),
            "threshold_percent": settings.flare_percent,
            "window_days": list(settings.flare_window_days),
            "without_baseline": flare_result.without_baseline,
            "without_early_visit": flare_result.without_early_visit,
        },
        "reduction_80_at_end": share_reduction_at_end(cohort).as_dict(),
        "first_course_iga01_at_end": first_course_iga01_at_end(cohort).as_dict(),
        "improvement_month_2_3": improvement_by_month_2_3(cohort).as_dict(),
        "cleared_by_month_6": cleared_by_month(cohort, 6, settings).as_dict(),
        "data_quality": {row.what: int(row.count) for row in data_quality(cohort, settings).itertuples()},
    }
    if getattr(options, "group_by", None) and group_values(cohort, options.group_by) is not None:
        section["by_group"] = compare_groups(cohort, options.group_by, settings).as_dict()
    return section
