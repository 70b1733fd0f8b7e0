"""Lab values during and after the course: trends, out-of-range shares, CTCAE grades, monitoring.

Definitions used throughout (all days are days from the first dose, day 0):
- Values are harmonised first (`analysis.ingest.lab_units.harmonise`): one unit per test; rows with a
  unit that cannot be converted are left out and counted.
- Baseline: a course's last result of the test in the `baseline_days` (default 90) up to and
  including day 0. On treatment: day 1 to the last dose (`end_day`; every later day when the last
  dose is unknown). After the course: later than the last dose.
- Above / below the normal range: above the row's upper limit, below its lower limit (limits of
  the data, else the default limits of `lab_units`).
- New abnormality (Zane 2006): among courses with a baseline within normal limits and at least one
  result on treatment, the share with any result on treatment above the upper limit.
- CTCAE v5 grades (LITERATURE.md): ALT/AST by multiples of the upper limit (of the baseline when the
  baseline was above the limit), creatine kinase by multiples of the upper limit, triglycerides
  and cholesterol by absolute mg/dL.
- Monitoring (EU label): liver tests (ALT or AST) and lipids (triglycerides or total cholesterol) at
  baseline, around month 1 (days 15-45) and then at least every 3 months (no gap over 106 days)
  up to the last dose.
- Pregnancy tests: a course's treatment months are its length in months, rounded (at least 1);
  month m holds the days whose month of course is m, and month 0 also takes tests in the 30 days
  before the first dose.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from analysis.areas.base import SummaryOptions
from analysis.areas.literature import reference
from analysis.cohort.grouping import group_values
from analysis.cohort.model import Cohort, Lineage, memo_items, memoised, rows_of_courses
from analysis.ingest.keys import is_member
from analysis.ingest.lab_units import (
    BY_CODE,
    LIPID_TESTS,
    LIVER_TESTS,
    empty_findings,
    exclusion_reasons,
    harmonisation_findings,
    harmonised_columns,
    pair_summary,
)
from analysis.schema import DAYS_PER_MONTH
from analysis.stats.intervals import EXACT_BELOW_N, Estimate, proportion

STATISTICS = {"median_iqr": "median and interquartile range", "mean_sd": "mean and standard deviation"}
GROUPINGS = {"month": "month of course", "visit": "nominal visit"}
RANGE_RULES = {
    "any": "a course counts as high if any value was above the upper limit, else low if any was below the lower limit",
    "most_extreme": "each course's single most extreme value (largest amount above 1.5 x upper limit or below "
    "0.5 x lower limit), the CDISC pilot's analysis flag",
}
GRADED_TESTS = ("ALT", "AST", "CK", "TG", "TC")
TREND_TESTS = ("ALT", "AST", "TG", "TC", "LDL", "HDL", "CK", "GLU", "BILI")
# Measures of "new abnormality": label -> tests, literature key (Zane 2006) when there is one.
NEW_ABNORMAL_MEASURES = {
    "Liver enzymes (ALT or AST)": (("ALT", "AST"), "new_abnormal_transaminases"),
    "Total cholesterol": (("TC",), "new_abnormal_tc"),
    "Triglycerides": (("TG",), "new_abnormal_tg"),
    "LDL cholesterol": (("LDL",), None),
    "Creatine kinase": (("CK",), None),
}
PERIODS = ("before", "baseline", "on_treatment", "after")
MISSING_GROUP = "(missing)"


@dataclass(frozen=True)
class LabSettings:
    """The user's choices for this area; `from_settings` reads `labs.*` keys of the CLI's `--set` pairs."""

    statistic: str = "median_iqr"
    group: str = "month"
    range_rule: str = "any"
    baseline_days: int = 90
    month1_window: tuple[int, int] = (15, 45)
    max_gap_days: int = 106  # "every 3 months" = no gap over 3 months and 2 weeks
    pregnancy_lookback_days: int = 30
    spaghetti_courses: int = 300

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise ValueError(f"Unknown lab statistic '{self.statistic}': choose one of {', '.join(STATISTICS)}.")
        if self.group not in GROUPINGS:
            raise ValueError(f"Unknown lab time axis '{self.group}': choose one of {', '.join(GROUPINGS)}.")
        if self.range_rule not in RANGE_RULES:
            raise ValueError(f"Unknown range rule '{self.range_rule}': choose one of {', '.join(RANGE_RULES)}.")
        if not 0 <= self.baseline_days <= 365:
            raise ValueError(f"The baseline window must be 0 to 365 days (got {self.baseline_days}).")
        if not 1 <= self.spaghetti_courses <= 5000:
            raise ValueError(f"Show 1 to 5,000 individual courses (got {self.spaghetti_courses}).")

    @classmethod
    def from_settings(cls, settings: dict | None) -> LabSettings:
        """Reads keys like `labs.statistic=mean_sd`; other keys are ignored."""
        settings = settings or {}
        values = {}
        for spec in fields(cls):
            key = f"labs.{spec.name}"
            if key in settings:
                values[spec.name] = _parse_setting(key, settings[key], getattr(cls, spec.name))
        return cls(**values)

    def describe(self) -> str:
        """One sentence for chart subtitles."""
        return (
            f"{STATISTICS[self.statistic].capitalize()} by {GROUPINGS[self.group]}; baseline = last result in the "
            f"{self.baseline_days} days up to the first dose"
        )

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _parse_setting(key: str, raw, default):
    if isinstance(default, tuple):
        parts = raw if isinstance(raw, (tuple, list)) else str(raw).replace("-", ",").split(",")
        try:
            return tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(f"Setting {key} must be two whole numbers like 15,45 (got '{raw}').") from None
    if isinstance(default, int):
        try:
            return int(float(raw))
        except (TypeError, ValueError):
            raise ValueError(f"Setting {key} must be a whole number (got '{raw}').") from None
    return str(raw).strip()


# ---------------------------------------------------------------------------------------------
# Prepared data: harmonised rows with period and baseline, computed once per cohort


class _Once:
    """A table computed on first use, then kept (shared by copies of a LabData under other settings)."""

    def __init__(self, compute: Callable | None = None, value=None):
        self._compute, self._value, self._lock = compute, value, threading.Lock()

    def get(self):
        with self._lock:
            if self._compute is not None:
                self._value, self._compute = self._compute(), None
            return self._value

    def __getstate__(self) -> dict:  # pickled as its value (a lock and a pending computation are not picklable)
        return {"value": self.get()}

    def __setstate__(self, state: dict) -> None:
        self.__init__(value=state["value"])


@dataclass(frozen=True)
class LabRows:
    """A whole cohort's lab rows in the compact form the analyses read, shared by the LabData of
    every subset of its courses (a filter change copies no lab row).

    `table`: course_idx (int32), day (int32 when whole days), month (int16), test, unit, period
    (categorical codes), value, lower_limit, upper_limit (float64: the loaded arrays themselves when
    every row is usable). `visit` is made categorical on first use: only the nominal-visit axis reads it.
    Each row's baseline, above-the-limit flag and CTCAE grade are computed for the rows asked for
    (`LabData.rows`) from `baseline_positions` and `baseline_at`, so no second full-width table is
    kept; the baselines themselves are rows of `table`, kept as their positions.
    """

    table: pd.DataFrame
    visit: _Once
    positions: dict  # test -> ascending row positions in `table`
    baseline_positions: np.ndarray  # one per course and test with a baseline: the row of `table` holding it
    baseline_at: np.ndarray  # by course_idx * (tests + 1) + test code: the index into `baseline_positions` (-1: none)
    baseline_tests: np.ndarray  # each baseline's test code in `table`
    course_slots: int  # 1 + the largest course_idx of the cohort

    def baselines(self) -> pd.DataFrame:
        """One row per course and test: course_idx, test, baseline, baseline_upper, baseline_lower,
        baseline_grade; made when asked for from the rows holding them (a table a baseline is not kept)."""
        rows, codes, categories = self.baseline_positions, self.baseline_tests, self.table["test"].cat.categories
        value, upper = (self.table[c].to_numpy()[rows] for c in ("value", "upper_limit"))
        return pd.DataFrame(
            {
                "course_idx": self.table["course_idx"].to_numpy()[rows].astype(np.int64),
                "test": np.asarray(categories, dtype=object)[codes],
                "baseline": value,
                "baseline_upper": upper,
                "baseline_lower": self.table["lower_limit"].to_numpy()[rows],
                "baseline_grade": grade_rows(
                    {"value": value, "upper_limit": upper}, _graded_rows(codes, categories), with_baseline=False
                ),
            }
        )

    def baseline_of(self, column: str, at: np.ndarray) -> np.ndarray:
        """Column `column` ("value", "upper_limit") of the baseline rows `at` (`baseline_rows`), NaN where -1 (no baseline)."""
        if self.baseline_positions.size == 0:
            return np.full(at.shape, np.nan)
        values = self.table[column].to_numpy(dtype="float")[self.baseline_positions[at]]
        values[at < 0] = np.nan
        return values

    def baseline_rows(self, course_idx: np.ndarray, test: pd.Categorical) -> np.ndarray:
        """Each row's position in `baselines`, -1 where its course has no baseline of its test."""
        width = len(test.categories) + 1
        return self.baseline_at[course_idx.astype(np.int64) * width + np.asarray(test.codes)]


DERIVED_COLUMNS = {
    "baseline": ("course_idx", "test"),
    "above_uln": ("value", "upper_limit"),
    "grade": ("course_idx", "test", "value", "upper_limit"),
}  # column -> stored columns it is computed from
LAB_COLUMNS = (
    "course_idx",
    "day",
    "month",
    "visit",
    "test",
    "unit",
    "value",
    "lower_limit",
    "upper_limit",
    "period",
    *DERIVED_COLUMNS,
)


@dataclass(frozen=True)
class LabData:
    """The lab rows an analysis uses (a whole cohort's, or those of a subset's courses), plus what
    harmonisation left out.

    `rows()` gives rows with any of LAB_COLUMNS: period, baseline, above_uln (1.0, 0.0, or NaN
    where the limit is unknown) and grade are derived; `labs` is every row with every column.
    `baselines`: one row per course and test (baseline, baseline_upper, baseline_lower, baseline_grade).
    """

    store: LabRows
    courses: pd.DataFrame
    findings: pd.DataFrame
    settings: LabSettings
    member: np.ndarray | None = field(
        default=None, repr=False
    )  # a subset's courses (bool by course_idx); None: every stored row
    parts: dict = field(default_factory=dict, repr=False)  # name -> _Once: excluded, conversions, a subset's baselines

    @property
    def excluded(self) -> pd.DataFrame:
        """Rows left out: test, reason, rows."""
        return self.parts["excluded"].get()

    @property
    def conversions(self) -> pd.DataFrame:
        """Rows per test and unit as given: the unit they were converted to, rows, excluded."""
        return self.parts["conversions"].get()

    @property
    def baselines(self) -> pd.DataFrame:
        return self.store.baselines() if self.member is None else self.parts["baselines"].get()

    @property
    def labs(self) -> pd.DataFrame:
        """Every row with every column, as a new frame (analyses read only what they need through
        `rows`); days and months as floats, as the loaded table has them."""
        rows = self.rows()
        return rows.assign(day=rows["day"].astype("float"), month=rows["month"].astype("float"))

    @property
    def n_rows(self) -> int:
        positions = self._positions()
        return len(self.store.table) if positions is None else int(positions.size)

    @property
    def tests(self) -> list[str]:
        present = [t for t in self.store.positions if self.has(t)]
        known = [t for t in BY_CODE if t in present]
        return known + sorted(set(present) - set(known), key=str)

    def has(self, test: str) -> bool:
        return test in self.store.positions and self._positions([test]).size > 0

    def unit(self, test: str) -> str:
        rows = self._positions([test])
        if rows.size == 0:
            return BY_CODE[test].unit if test in BY_CODE else ""
        return str(self.store.table["unit"].iloc[rows[0]])

    def rows(self, tests=None, periods=None, columns=None) -> pd.DataFrame:
        """Rows of the given tests (all when None) and periods, in their original order, with
        course_idx, test, period and the given columns (all of LAB_COLUMNS when None)."""
        names = (
            list(LAB_COLUMNS) if columns is None else list(dict.fromkeys(["course_idx", "test", "period", *columns]))
        )
        values = self.columns(names, tests, periods)
        values["course_idx"] = values["course_idx"].astype(
            np.int64
        )  # stored as int32; callers index and join with int64
        # A new frame sharing the stored columns' memory: adding a column to it leaves the store alone.
        return pd.DataFrame(values, copy=False)

    def columns(self, names, tests=None, periods=None) -> dict:
        """The named columns (of LAB_COLUMNS) of the rows of the given tests and periods, in row
        order, as arrays (categoricals for test, unit and period): what per-course results read."""
        positions = self._positions(tests, periods)
        needed = set(names).union(*(DERIVED_COLUMNS[c] for c in names if c in DERIVED_COLUMNS))
        table = self.store.table
        values = {c: _take(table[c], positions) for c in table.columns if c in needed}
        if "visit" in names:
            values["visit"] = _visit_labels(_take(self.store.visit.get(), positions))
        if "baseline" in names or "grade" in names:
            at = self.store.baseline_rows(values["course_idx"], values["test"])
            values["baseline"] = self.store.baseline_of("value", at)
        if "above_uln" in names:
            values["above_uln"] = _compare(values["value"], values["upper_limit"], np.greater)
        if "grade" in names:
            values["grade"] = grade_rows(
                {
                    "value": values["value"],
                    "upper_limit": values["upper_limit"],
                    "baseline": values["baseline"],
                    "baseline_upper": self.store.baseline_of("upper_limit", at),
                },
                _graded_rows(np.asarray(values["test"].codes), values["test"].categories),
            )
        return {c: values[c] for c in names}

    def _positions(self, tests=None, periods=None) -> np.ndarray | None:
        """Ascending positions in the stored table of the rows of the given tests and periods and
        of this data's courses; None for every stored row."""
        table, positions = self.store.table, None
        if tests is not None:
            chosen = [t for t in dict.fromkeys(tests) if t in self.store.positions]
            if len(chosen) == 1:
                positions = self.store.positions[chosen[0]]
            else:
                categories = table["test"].cat.categories
                wanted = np.zeros(len(categories) + 1, dtype=bool)  # the last entry answers code -1 (no test)
                wanted[categories.get_indexer(chosen)] = True
                positions = np.flatnonzero(wanted[table["test"].cat.codes.to_numpy()])
        if periods is not None:
            codes = table["period"].cat.codes.to_numpy()
            wanted = np.isin(np.arange(len(PERIODS)), [PERIODS.index(p) for p in periods])
            positions = np.flatnonzero(wanted[codes]) if positions is None else positions[wanted[codes[positions]]]
        if self.member is not None:
            course = table["course_idx"].to_numpy()
            positions = (
                np.flatnonzero(self.member[course]) if positions is None else positions[self.member[course[positions]]]
            )
        return positions


def _take(column, positions: np.ndarray | None):
    """A stored column's values at the given rows (all rows: the stored array itself)."""
    values = (
        (column.array if isinstance(column.dtype, pd.CategoricalDtype) else column.to_numpy())
        if isinstance(column, pd.Series)
        else column
    )
    if positions is None:
        return values
    if isinstance(values, pd.Categorical):
        return pd.Categorical.from_codes(values.codes[positions], dtype=values.dtype)
    return values[positions]


def _visit_labels(visit: pd.Categorical) -> np.ndarray:
    """Nominal visit labels as objects, None where there is none."""
    return np.append(np.asarray(visit.categories, dtype=object), None)[np.asarray(visit.codes)]


def lab_data(source: Cohort | LabData, settings: LabSettings | None = None) -> LabData:
    """Harmonise and derive once; every function here accepts the result or a cohort."""
    if isinstance(source, LabData):
        if settings is None or settings == source.settings:
            return source
        if settings.baseline_days == source.settings.baseline_days:  # the only setting the derived rows depend on
            return replace(source, settings=settings)
        return lab_data_from_cohort_parts(source, settings)
    settings = settings or LabSettings()
    # Derived rows depend only on the baseline window: one copy per cohort and window serves
    # the page, the JSON summary and the claims.
    derived = source.derived(
        ("labs.lab_data", settings.baseline_days), lambda: _lab_data_of_cohort(source, settings), _restricted_lab_data
    )
    return derived if derived.settings == settings else replace(derived, settings=settings)


# Per-course tables memoised on a LabData, which a subset's LabData takes by restriction.
PER_COURSE_RESULTS = ("monitoring_flags", "pregnancy_months", "new_abnormal_flags")


def _restricted_lab_data(data: LabData, lineage: Lineage, cohort: Cohort) -> LabData:
    """The lab data of a subset of courses: the whole cohort's rows seen through the subset's courses.

    Periods, baselines and grades are per course, so this equals deriving them again; no lab row
    is copied, and the subset's own lab table is never read. Its baselines, exclusions and unit
    conversions are cut from the whole cohort's on first use, and per-course results the whole
    cohort has already are cut by course.
    """
    if "given" not in data.parts:  # not harmonised by the loader: derived again from the subset's rows
        return _lab_data_of_cohort(cohort, data.settings)
    member = np.zeros(max(data.store.course_slots, lineage.member.size), dtype=bool)
    member[: lineage.member.size] = lineage.member
    store, left_out, given = data.store, data.parts["left_out"], data.parts["given"]
    restricted = LabData(
        store=data.store,
        courses=rows_of_courses(data.courses, member),
        findings=data.findings,
        settings=data.settings,
        member=member,
        parts={
            "baselines": _Once(lambda: rows_of_courses(store.baselines(), member)),
            "left_out": _Once(lambda: rows_of_courses(left_out.get(), member)),
            "excluded": _Once(lambda: _excluded_counts(rows_of_courses(left_out.get(), member))),
            "given": given,
            "conversions": _Once(lambda: _given_summary(given.get(), member)),
        },
    )
    for key, table in memo_items(data):
        if key[0] in PER_COURSE_RESULTS:
            part = rows_of_courses(table, member)
            memoised(restricted, key, lambda part=part: part)
    return restricted


def _lab_data_of_cohort(source: Cohort, settings: LabSettings) -> LabData:
    raw = source.labs
    course_known = raw["course_idx"].notna().to_numpy()
    if "harmonised" in raw.columns:  # already harmonised by the loader
        converted, findings = {c: raw[c] for c in HARMONISED_COLUMNS}, empty_findings()
    else:
        converted = harmonised_columns(raw)
        findings = harmonisation_findings(raw, converted)
    usable = np.asarray(converted["harmonised"], dtype=bool) & course_known
    left_out = _left_out_rows(raw, converted, course_known, usable)
    parts = {"left_out": _Once(value=left_out), "excluded": _Once(value=_excluded_counts(left_out))}
    if "harmonised" in raw.columns and "test_as_given" in raw and "unit_as_given" in raw:
        given = _Once(lambda: _given_pairs(raw, converted))
        parts.update(given=given, conversions=_Once(lambda: _given_summary(given.get())))
    else:
        parts["conversions"] = _Once(lambda: _conversions(raw, converted))
    return _derive(_lean_columns(raw, converted, usable), _course_frame(source.courses), findings, parts, settings)


HARMONISED_COLUMNS = ("test", "unit", "value", "lower_limit", "upper_limit", "exclusion", "harmonised")


def lab_data_from_cohort_parts(data: LabData, settings: LabSettings) -> LabData:
    """The same rows re-derived under other settings (e.g. another baseline window)."""
    rows = data.rows(columns=["day", "month", "unit", "value", "lower_limit", "upper_limit"])
    positions = data._positions()
    visits = data.store.visit
    columns = {
        "course_idx": rows["course_idx"].to_numpy(),
        "day": rows["day"].to_numpy(dtype="float"),
        "month": rows["month"].to_numpy(),
        "visit": _Once(lambda: _take(visits.get(), positions)),
        **{
            c: rows[c].array if c in ("test", "unit") else rows[c].to_numpy()
            for c in ("test", "unit", "value", "lower_limit", "upper_limit")
        },
    }
    return _derive(
        columns, data.courses, data.findings, {k: v for k, v in data.parts.items() if k != "baselines"}, settings
    )


def _conversions(raw: pd.DataFrame, converted: dict) -> pd.DataFrame:
    """Rows per test and unit as given, the unit they were converted to, and how many were left out."""
    if "_pairs" in converted:
        return pair_summary(converted)
    frame = pd.DataFrame(
        {
            "test": np.asarray(converted["test"], dtype=object),
            "unit_as_given": raw["unit_as_given"].astype(object).fillna("(none)"),
            "unit": np.asarray(converted["unit"], dtype=object),
            "excluded": ~np.asarray(converted["harmonised"], dtype=bool),
        }
    )
    return frame.groupby(["test", "unit_as_given"], as_index=False, dropna=False).agg(
        unit=("unit", "first"), rows=("excluded", "size"), excluded=("excluded", "sum")
    )


def _given_summary(given: tuple, member: np.ndarray | None = None) -> pd.DataFrame:
    """`_conversions` of the loader's rows (of the member courses only, when given)."""
    pair_ids, plan, harmonised, course = given
    if member is not None:
        keep = is_member(course, member)
        pair_ids, harmonised = pair_ids[keep], harmonised[keep]
    table = pair_summary({"_pairs": (pair_ids, plan), "harmonised": harmonised})
    return table[table["rows"] > 0].reset_index(drop=True)  # pairs of the whole cohort absent from a subset


def _given_pairs(raw: pd.DataFrame, converted: dict) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
    """Each row's distinct (test, unit) pair as given; per pair, the label and unit it was converted
    to (the plan `lab_units` made when the loader harmonised the rows); and each row's harmonised
    flag and course (-1: none), from which any subset's conversions are counted."""
    name_ids = pd.factorize(raw["test_as_given"], use_na_sentinel=True)[0].astype("int64")
    unit_ids, units = pd.factorize(raw["unit_as_given"], use_na_sentinel=True)
    pair_ids, _ = pd.factorize((name_ids + 1) * (len(units) + 1) + unit_ids + 1)
    first = np.flatnonzero(~pd.Series(pair_ids).duplicated().to_numpy())  # pair k first appears at first[k]
    plan = pd.DataFrame(
        {
            "label": pd.Series(converted["test"]).iloc[first].to_numpy(dtype=object),
            "unit": pd.Series(converted["unit"]).iloc[first].to_numpy(dtype=object),
            "unit_given": raw["unit_as_given"].iloc[first].to_numpy(dtype=object),
        }
    )
    return (
        pair_ids.astype(np.int32),
        plan,
        np.asarray(converted["harmonised"], dtype=bool),
        raw["course_idx"].to_numpy(dtype="int64", na_value=-1),
    )


def _left_out_rows(raw: pd.DataFrame, converted: dict, course_known: np.ndarray, usable: np.ndarray) -> pd.DataFrame:
    """The rows left out of the analysis (few): course (-1: not loaded), test and reason."""
    left_out = ~usable
    if not left_out.any():
        return pd.DataFrame(
            {
                "course_idx": pd.Series(dtype="int64"),
                "test": pd.Series(dtype="object"),
                "reason": pd.Series(dtype="object"),
            }
        )
    reasons = (
        exclusion_reasons(converted) if "_pairs" in converted else np.asarray(converted["exclusion"], dtype=object)
    )
    reason = pd.Series(reasons[left_out], dtype=object).fillna("course not loaded")
    reason[~course_known[left_out]] = "course not loaded"
    test = pd.Series(np.asarray(converted["test"], dtype=object)[left_out]).fillna("(none)").astype(str)
    return pd.DataFrame(
        {
            "course_idx": raw["course_idx"].to_numpy(dtype="int64", na_value=-1)[left_out],
            "test": test.to_numpy(),
            "reason": reason.to_numpy(),
        }
    )


def _excluded_counts(left_out: pd.DataFrame) -> pd.DataFrame:
    """Rows left out of the analysis, per test and reason."""
    if left_out.empty:
        return pd.DataFrame(
            {"test": pd.Series(dtype="object"), "reason": pd.Series(dtype="object"), "rows": pd.Series(dtype="int64")}
        )
    return left_out[["test", "reason"]].value_counts().rename("rows").reset_index()


def _course_frame(courses: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "course_idx": courses["course_idx"].to_numpy(dtype="int64"),
            "end_day": pd.to_numeric(courses["end_day"], errors="coerce").to_numpy(dtype="float", na_value=np.nan),
            "can_become_pregnant": courses["can_become_pregnant"].astype("object").to_numpy()
            if "can_become_pregnant" in courses
            else np.full(len(courses), None, dtype="object"),
            "patient_id": courses["patient_id"].array,
            "course_number": courses["course_number"].array,
        },
        copy=False,
    )


def course_labels(data: LabData, course_idx) -> np.ndarray:
    """The pseudonymous label ("patient · course n") of each given course, made for these courses only."""
    rows = data.courses.iloc[pd.Index(data.courses["course_idx"]).get_indexer(np.asarray(course_idx, dtype="int64"))]
    return (
        rows["patient_id"].astype(str) + " · course " + rows["course_number"].astype("Int64").astype(str)
    ).to_numpy()


def _lean_columns(raw: pd.DataFrame, converted: dict, usable: np.ndarray) -> dict:
    """The columns the analysis reads, for usable rows with a known day."""
    day = raw["day"] if pd.api.types.is_numeric_dtype(raw["day"].dtype) else pd.to_numeric(raw["day"], errors="coerce")
    day = day.to_numpy(dtype="float", na_value=np.nan)
    keep = usable & np.isfinite(day)
    everything = bool(keep.all())

    def kept(values):
        return values if everything else values[keep]

    visits = raw["visit"] if "visit" in raw else pd.Series(None, index=raw.index, dtype=object)
    return {
        "course_idx": kept(raw["course_idx"].to_numpy(dtype="int64", na_value=-1)),
        "day": kept(day),
        "month": kept(raw["month"].to_numpy(dtype="float", na_value=np.nan)),  # as the engine derived it
        "visit": _Once(lambda: _visit_categories(visits if everything else visits[keep])),
        "test": kept(_as_categorical(converted["test"])),
        "unit": kept(_as_categorical(converted["unit"])),
        **{c: kept(np.asarray(converted[c], dtype="float")) for c in ("value", "lower_limit", "upper_limit")},
    }


def _visit_categories(visits: pd.Series) -> pd.Categorical:
    """Nominal visit labels, trimmed (blank as none), as codes into the sorted labels."""
    codes, uniques = pd.factorize(visits, use_na_sentinel=True)
    labels = [str(v).strip() or None for v in uniques]
    categories = sorted({label for label in labels if label is not None})
    position = {label: i for i, label in enumerate(categories)}
    lookup = np.array([position.get(label, -1) for label in labels] + [-1], dtype=np.int64)  # the last answers code -1
    return pd.Categorical.from_codes(lookup[codes], categories)


def _as_categorical(values) -> pd.Categorical:
    values = pd.Series(values) if not isinstance(values, pd.Series) else values
    if isinstance(values.dtype, pd.CategoricalDtype):  # unused categories dropped, in one counting pass
        codes, categories = values.cat.codes.to_numpy(), values.cat.categories
        used = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
        if (
            used.all()
            and not values.cat.ordered
            and categories.dtype == object
            and all(isinstance(c, str) for c in categories)
        ):
            return values.array  # the loader's own codes, not copied
        codes = codes.astype("int64")
        if not used.all():
            codes = np.where(codes >= 0, (np.cumsum(used) - 1)[np.maximum(codes, 0)], -1)
            categories = categories[used]
        return pd.Categorical.from_codes(codes, categories.astype(str))
    return pd.Categorical(values.astype("object").fillna("").astype(str))


def _derive(
    columns: dict, courses: pd.DataFrame, findings: pd.DataFrame, parts: dict, settings: LabSettings
) -> LabData:
    """Period and baseline of every row, stored compactly (see LabRows)."""
    course_idx, day, test = columns["course_idx"], columns["day"], columns["test"]
    slots = int(max(course_idx.max(initial=-1), courses["course_idx"].max() if len(courses) else -1)) + 1
    period = _periods(day, _course_lookup(courses, "end_day", course_idx), settings.baseline_days)
    baseline_positions, baseline_at, baseline_tests = _baselines(course_idx, day, test, period, slots)
    day = _compact_whole(day, np.int32)
    table = pd.DataFrame(
        {
            "course_idx": course_idx.astype(np.int32),
            "day": day,
            "month": _compact_whole(columns["month"], np.int16),
            "test": test,
            "unit": columns["unit"],
            **{c: columns[c] for c in ("value", "lower_limit", "upper_limit")},
            "period": pd.Categorical.from_codes(period, PERIODS),
        },
        copy=False,
    )
    store = LabRows(
        table,
        columns["visit"],
        _positions(np.asarray(test.codes), test.categories),
        baseline_positions,
        baseline_at,
        baseline_tests,
        slots,
    )
    return LabData(store, courses, findings, settings, parts=parts)


def _compact_whole(values: np.ndarray, dtype) -> np.ndarray:
    """Whole numbers as the given integer type when they fit it (a quarter or half of float64's
    bytes at millions of rows); other values unchanged."""
    limit = np.iinfo(dtype).max // 2  # room for differences and small offsets without overflow
    if values.size == 0 or not (-limit <= values.min() and values.max() <= limit):  # NaN fails both
        return values
    whole = values.astype(dtype)
    return whole if values.dtype.kind in "iu" or (whole == values).all() else values


def _positions(codes: np.ndarray, categories) -> dict[str, np.ndarray]:
    """Ascending row positions of each category (one comparison of the codes per category when few)."""
    if len(categories) <= 64:  # positions as int32 where they fit: half the bytes at tens of millions of rows
        dtype = np.int32 if codes.size < 2**31 else np.int64
        return {str(test): np.flatnonzero(codes == i).astype(dtype) for i, test in enumerate(categories)}
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(categories) + 1))
    return {str(test): order[bounds[i] : bounds[i + 1]] for i, test in enumerate(categories)}


def _graded_rows(codes: np.ndarray, categories: pd.Index) -> dict[str, np.ndarray]:
    """Row positions of each graded test present (one comparison of codes per test)."""
    found = categories.get_indexer(list(GRADED_TESTS))
    return {test: np.flatnonzero(codes == code) for test, code in zip(GRADED_TESTS, found) if code >= 0}


def _course_lookup(courses: pd.DataFrame, column: str, course_idx: np.ndarray) -> np.ndarray:
    """A float course attribute for each row, by dense array indexing (fast at millions of rows)."""
    size = int(max(courses["course_idx"].max() if len(courses) else 0, course_idx.max() if course_idx.size else 0)) + 1
    dense = np.full(size, np.nan)
    dense[courses["course_idx"].to_numpy()] = courses[column].to_numpy(dtype="float")
    return dense[course_idx]


def _periods(day: np.ndarray, end_day: np.ndarray, baseline_days: int) -> np.ndarray:
    """Codes into PERIODS: before (0), baseline (1), on_treatment (2), after (3), added up from comparisons."""
    started = day > 0
    with np.errstate(invalid="ignore"):
        after = started & (day > end_day)  # false where the last dose is unknown
    return (day >= -baseline_days).view(np.int8) + started.view(np.int8) + after.view(np.int8)


def _compare(value: np.ndarray, limit: np.ndarray, op) -> np.ndarray:
    """1.0 / 0.0 where the limit is known, NaN where it is not (float, so sums and maxima are fast)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(limit) & np.isfinite(value), op(value, limit), np.nan)


def _kept(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return values if keep.all() else values[keep]


def _change(labs: pd.DataFrame) -> np.ndarray:
    """Change from the course's baseline, for results after the first dose (the `change` column
    when the rows have one)."""
    if "change" in labs:
        return labs["change"].to_numpy(dtype="float")
    baseline = labs["baseline"].to_numpy(dtype="float", copy=True)
    return _change_in_place(labs["day"].to_numpy(), labs["value"].to_numpy(dtype="float"), baseline)


def _change_in_place(day: np.ndarray, value: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """`_change`, written over `baseline` (float64): no further row-length array at tens of millions of rows."""
    np.subtract(value, baseline, out=baseline)
    baseline[~(day >= 1)] = np.nan
    return baseline


def _below(labs: pd.DataFrame) -> np.ndarray:
    return _compare(labs["value"].to_numpy(dtype="float"), labs["lower_limit"].to_numpy(dtype="float"), np.less)


def uln_multiple(labs: pd.DataFrame) -> np.ndarray:
    """Each result as a multiple of its upper limit (NaN where the limit is unknown or zero)."""
    value, upper = np.asarray(labs["value"], dtype="float"), np.asarray(labs["upper_limit"], dtype="float")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(upper > 0, value / upper, np.nan)


def _baselines(
    course_idx: np.ndarray, day: np.ndarray, test: pd.Categorical, period: np.ndarray, slots: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The row of each course's last result per test in the baseline window (the row read last on
    a tie of days), a dense lookup from (course, test) to its index among those rows, and each
    one's test code.

    Slots are indexed by course_idx * (tests + 1) + test code, so finding a row's baseline is array
    indexing: no sort or hash of millions of rows.
    """
    width = len(test.categories) + 1
    codes = np.asarray(test.codes).astype(np.int64)
    rows = np.flatnonzero(period == 1)
    pair, days = course_idx[rows].astype(np.int64) * width + codes[rows], day[rows]
    latest = np.full(slots * width, -np.inf)
    np.maximum.at(latest, pair, days)
    on_latest = days == latest[pair]
    last = np.full(slots * width, -1, dtype=np.int64)
    np.maximum.at(last, pair[on_latest], rows[on_latest])
    present = np.flatnonzero(last >= 0)
    last = last[present]
    baseline_at = np.full(slots * width, -1, dtype=np.int32)
    baseline_at[present] = np.arange(present.size, dtype=np.int32)
    return (
        _row_positions(last, course_idx.size),
        baseline_at,
        codes[last].astype(np.int8 if width < 2**7 else np.int64),
    )


# ---------------------------------------------------------------------------------------------
# CTCAE v5 grades


def ctcae_grade(test: str, values, uln=None, baseline=None, baseline_uln=None) -> np.ndarray:
    """CTCAE v5 grade (0 = not raised) of each value of one test in its canonical unit; NaN if not gradable.

    ALT/AST: >ULN-3x G1, >3-5x G2, >5-20x G3, >20x G4; when the baseline was above its ULN the
    multiples are of the baseline (1.5-3x G1, then as above). CK: >ULN-2.5x G1, >2.5-5x G2, >5-10x
    G3, >10x G4. Triglycerides (mg/dL): 150-300 G1, >300-500 G2, >500-1000 G3, >1000 G4.
    Total cholesterol (mg/dL): >ULN-300 G1, >300-400 G2, >400-500 G3, >500 G4.
    """
    v = np.asarray(values, dtype="float")
    uln = _broadcast(uln, v)
    if test in ("ALT", "AST"):
        grade = _multiples(v, uln, (1.0, 3.0, 5.0, 20.0))
        base, base_uln = _broadcast(baseline, v), _broadcast(baseline_uln, v)
        with np.errstate(invalid="ignore"):
            abnormal = np.isfinite(base) & np.isfinite(base_uln) & (base > base_uln)
        relative = _multiples(v, base, (1.5, 3.0, 5.0, 20.0), first_inclusive=True)
        return np.where(abnormal, relative, grade)
    if test == "CK":
        return _multiples(v, uln, (1.0, 2.5, 5.0, 10.0))
    if test == "TG":
        with np.errstate(invalid="ignore"):
            grade = np.select([v > 1000, v > 500, v > 300, v >= 150], [4, 3, 2, 1], 0).astype(float)
        return np.where(np.isfinite(v), grade, np.nan)
    if test == "TC":
        limit = np.where(np.isfinite(uln), uln, BY_CODE["TC"].upper)
        with np.errstate(invalid="ignore"):
            grade = np.select([v > 500, v > 400, v > 300, v > limit], [4, 3, 2, 1], 0).astype(float)
        return np.where(np.isfinite(v), grade, np.nan)
    return np.full(v.shape, np.nan)


def _broadcast(values, like: np.ndarray) -> np.ndarray:
    if values is None:
        return np.full(like.shape, np.nan)
    return np.broadcast_to(np.asarray(values, dtype="float"), like.shape)


MULTIPLE_DECIMALS = 9


def _multiples(
    v: np.ndarray, reference: np.ndarray, cuts: tuple[float, ...], first_inclusive: bool = False
) -> np.ndarray:
    """Grade by multiples of a reference: above cuts[0] x ref is G1 (or at it, if inclusive), ... above cuts[3] x ref G4.

    The multiple is rounded to 9 decimals, so that a value at exactly 3x a decimal limit (1.74 with
    a limit of 0.58, where 3 * 0.58 is 1.7399999999999998 in floating point) is at the cut, not above it.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        multiple = np.round(v / reference, MULTIPLE_DECIMALS)
        first = multiple >= cuts[0] if first_inclusive else multiple > cuts[0]
        grade = np.select([multiple > cuts[3], multiple > cuts[2], multiple > cuts[1], first], [4, 3, 2, 1], 0)
    return np.where(np.isfinite(v) & np.isfinite(reference) & (reference > 0), grade.astype(float), np.nan)


def grade_rows(labs, positions: dict | None = None, with_baseline: bool = True) -> np.ndarray:
    """CTCAE grade of every row of a frame (or dict of columns); NaN for tests without a CTCAE rule here."""
    value, upper = np.asarray(labs["value"], dtype="float"), np.asarray(labs["upper_limit"], dtype="float")
    grades = np.full(value.size, np.nan)
    baseline = np.asarray(labs["baseline"], dtype="float") if with_baseline and "baseline" in labs else None
    baseline_uln = (
        np.asarray(labs["baseline_upper"], dtype="float") if with_baseline and "baseline_upper" in labs else None
    )
    tests = None if positions is not None else np.asarray(labs["test"], dtype=object).astype(str)
    for test in GRADED_TESTS:
        rows = (
            positions.get(test, np.array([], dtype="int64")) if positions is not None else np.flatnonzero(tests == test)
        )
        if rows.size == 0:
            continue
        grades[rows] = ctcae_grade(
            test,
            value[rows],
            upper[rows],
            None if baseline is None else baseline[rows],
            None if baseline_uln is None else baseline_uln[rows],
        )
    return grades


# ---------------------------------------------------------------------------------------------
# Proportions and grouped statistics, vectorised


def proportion_intervals(successes, totals, alpha: float = 0.05) -> pd.DataFrame:
    """Share and 95% CI per row, by the same rule as `stats.proportion`: Wilson, or Clopper-Pearson
    (exact) below 30 observations or at 0/n and n/n. Rows with n = 0 get NaN."""
    k = np.asarray(successes, dtype="float")
    n = np.asarray(totals, dtype="float")
    safe_n = np.where(n > 0, n, 1)
    exact = (n < EXACT_BELOW_N) | (k == 0) | (k == n)
    wilson = proportion_confint(k, safe_n, alpha=alpha, method="wilson")
    beta = proportion_confint(k, safe_n, alpha=alpha, method="beta")
    low = np.where(exact, beta[0], wilson[0])
    high = np.where(exact, beta[1], wilson[1])
    empty = n <= 0
    return pd.DataFrame(
        {
            "share": np.where(empty, np.nan, k / safe_n),
            "ci_low": np.where(empty, np.nan, low),
            "ci_high": np.where(empty, np.nan, high),
        }
    )


def grouped_moments(values: np.ndarray, ids: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and sample SD (n - 1) of the finite values per integer group id, by bincount."""
    ok = np.isfinite(values)
    v, g = (values, ids) if ok.all() else (values[ok], ids[ok])
    n = np.bincount(g, minlength=groups).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(g, weights=v, minlength=groups) / n
        deviation = mean[g]  # squared in place: one row-length array
        np.subtract(v, deviation, out=deviation)
        squares = np.bincount(g, weights=np.square(deviation, out=deviation), minlength=groups)
        sd = np.where(n > 1, np.sqrt(squares / np.where(n > 1, n - 1, 1)), np.nan)
    return n, mean, sd


def grouped_quantiles(
    values: np.ndarray, ids: np.ndarray, groups: int, quantiles=(0.25, 0.5, 0.75)
) -> list[np.ndarray]:
    """Quantiles of the finite values per integer group id (0 .. groups-1), linear interpolation
    (R type 7, as pandas' groupby quantile; the median alone as pandas' groupby median, the mean
    of the two middle values); groups without values get NaN.

    The values are brought together by group with one stable sort of the ids, then only the order
    statistics needed are selected in each group, in linear time.
    """
    return _quantiles_in_group_order(values[group_order(ids, groups)], np.bincount(ids, minlength=groups), quantiles)


def _quantiles_in_group_order(
    v: np.ndarray, sizes: np.ndarray, quantiles=(0.25, 0.5, 0.75), counts: np.ndarray | None = None
) -> list[np.ndarray]:
    """`grouped_quantiles` of values already brought together by group (`sizes`: rows per group),
    rearranged in place; `counts`, when the caller has them, are the finite values per group.

    Values that are not finite stay where they are: as NaN they come after every number when a
    group's order statistics are selected, so no compacted copy is made.
    """
    infinite = np.isinf(v)
    if infinite.any():
        v[infinite] = np.nan
    ends = np.cumsum(sizes)
    starts = ends - sizes
    if counts is None:  # rows less NaN per group, counted from the NaN positions (no row-length integer array)
        counts = sizes - np.bincount(
            np.searchsorted(ends, np.flatnonzero(np.isnan(v)), side="right"), minlength=sizes.size
        )
    if not counts.any():
        return [np.full(sizes.size, np.nan) for _ in quantiles]
    last = np.maximum(counts - 1, 0)
    median_only = tuple(quantiles) == (0.5,)
    positions = [last // 2] if median_only else [q * last for q in quantiles]
    lows = [np.floor(p).astype(np.int64) for p in positions]
    highs = [counts // 2] if median_only else [np.minimum(low + 1, last) for low in lows]
    _select_in_groups(v, starts, sizes, counts, lows + highs)
    low_values = [v[np.minimum(starts + low, v.size - 1)] for low in lows]
    high_values = [v[np.minimum(starts + high, v.size - 1)] for high in highs]
    if median_only:
        a, b = low_values[0], high_values[0]
        results = [np.where(counts % 2 == 1, b, (a + b) / 2)]
    else:
        results = []
        for position, low, a, b in zip(positions, lows, low_values, high_values):
            fraction = position - low
            results.append(np.where(fraction == 0, a, a + (b - a) * fraction))
    return [np.where(counts > 0, result, np.nan) for result in results]


SORT_WHOLE_ABOVE_GROUPS = 2_000  # beyond this many groups one full sort beats selecting group by group


def group_order(ids: np.ndarray, groups: int) -> np.ndarray:
    """Row order that brings each group's rows together, rows of a group in their original order
    (a stable sort: a radix sort when the ids fit 16 bits)."""
    return np.argsort(ids.astype(np.int16 if groups < 2**15 else np.int64), kind="stable")


def _select_in_groups(
    values: np.ndarray, starts: np.ndarray, sizes: np.ndarray, counts: np.ndarray, ranks: list[np.ndarray]
) -> None:
    """Rearranges each group's values (contiguous from `starts`, NaN last) in place so that the
    given ranks within the group hold the values of those ranks in sorted order."""
    present = np.flatnonzero(counts)
    if present.size > SORT_WHOLE_ABOVE_GROUPS:
        group = np.repeat(np.arange(sizes.size), sizes)
        values[:] = values[np.lexsort((values, group))]
        return
    # A group of one value throughout (an upper limit, typically) is in order already.
    begins = starts[present]
    varies = (np.fmax.reduceat(values, begins) > np.fmin.reduceat(values, begins)) | (counts[present] < sizes[present])
    wanted = np.stack(ranks)
    for i in present[varies]:
        start = starts[i]
        values[start : start + sizes[i]].partition(np.unique(wanted[:, i]))


# ---------------------------------------------------------------------------------------------
# Trends per test and month (or nominal visit)


def course_groups(group_by: str | pd.Series, source: Cohort | pd.DataFrame | None) -> pd.Series:
    """Each course's group (index course_idx): a column of the courses, a grouping the clearance
    area derives (e.g. adult vs adolescent), or a ready Series indexed by course_idx."""
    if isinstance(group_by, pd.Series):
        return group_by
    if not isinstance(source, (Cohort, pd.DataFrame)):
        raise ValueError(f"Grouping by '{group_by}' needs the cohort")
    courses = source.courses if isinstance(source, Cohort) else source
    if group_by in courses:
        values = courses[group_by]
    else:
        values = group_values(source, group_by) if isinstance(source, Cohort) else None
        if values is None:
            raise ValueError(f"The courses have no field '{group_by}' to group by")
    return pd.Series(values.to_numpy(), index=courses["course_idx"].to_numpy())


def with_course_column(
    labs: pd.DataFrame,
    group_by: str | pd.Series,
    source: Cohort | pd.DataFrame | None = None,
    categorical: bool = False,
) -> pd.DataFrame:
    """Rows keyed by course_idx with the course's group as column `group` ('(missing)' when unknown),
    looked up per course rather than per row; as a categorical of the sorted labels when asked for."""
    groups = course_groups(group_by, source).astype("object")
    course = labs["course_idx"].to_numpy(dtype="int64")
    if _dense_course_index(groups.index) and (course.size == 0 or course.min() >= 0):
        group = _group_labels(groups, course, categorical)
    else:
        group = labs["course_idx"].map(groups).fillna(MISSING_GROUP).astype(str)
        group = group.astype("category") if categorical else group.to_numpy()
    out = labs.copy(deep=False)  # the rows' columns shared, not copied
    out["group"] = group
    return out


def _dense_course_index(index: pd.Index) -> bool:
    """Can the index (course_idx values) address a dense array?"""
    return index.dtype.kind in "iu" and index.is_unique and (len(index) == 0 or index.min() >= 0)


def _group_labels(groups: pd.Series, course: np.ndarray, categorical: bool):
    """The group label of each row's course, by dense lookup; MISSING_GROUP for unknown groups and courses."""
    index = groups.index.to_numpy()
    labels = groups.fillna(MISSING_GROUP).astype(str)
    categories = sorted(set(labels) | {MISSING_GROUP})
    course_codes = np.append(
        pd.Categorical(labels, categories=categories).codes.astype(np.int64), categories.index(MISSING_GROUP)
    )
    position = np.full(
        int(max(index.max(initial=-1), course.max(initial=-1))) + 1, -1, dtype=np.int64
    )  # -1: the MISSING_GROUP entry
    position[index] = np.arange(index.size)
    codes = course_codes[position[course]]
    return pd.Categorical.from_codes(codes, categories) if categorical else np.asarray(categories, dtype=object)[codes]


DENSE_KEY_SPACE = 1_000_000


def _key_codes(column: pd.Series) -> tuple[np.ndarray, object]:
    """Codes 0..k-1 (-1 where missing) and the k values they stand for, in sorted order: categories
    as they are, whole numbers over a short range by subtraction, anything else factorised."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories
    if column.dtype.kind in "iuf" and len(column):
        values = column.to_numpy()
        known = np.isfinite(values) if column.dtype.kind == "f" else None
        present_values = values if known is None or known.all() else values[known]
        if present_values.size:
            low, high = present_values.min(), present_values.max()
            whole = column.dtype.kind != "f" or (present_values == np.floor(present_values)).all()
            if whole and high - low <= 4 * len(values) + 1000:
                offset = (present_values - low).astype(np.int32 if high - low < 2**31 else np.int64)
                occurs = np.bincount(offset, minlength=int(high - low) + 1) > 0
                lookup = np.cumsum(occurs) - 1  # codes of the values that occur, in order
                uniques = (np.flatnonzero(occurs) + low).astype(values.dtype)
                if present_values is values:
                    return lookup[offset], uniques
                codes = np.full(len(values), -1, dtype=np.int64)
                codes[known] = lookup[offset]
                return codes, uniques
    return pd.factorize(column, sort=True, use_na_sentinel=True)


def group_ids(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """An integer group id per row (-1 where a key is missing) and the groups' key values, sorted.

    Each key is factorised once and the codes combined arithmetically: much faster than a
    multi-key groupby on millions of rows.
    """
    codes, uniques = [], []
    for key in keys:
        code, values = _key_codes(frame[key])
        codes.append(code)
        uniques.append(values)
    combined = np.zeros(len(frame), dtype="int64")
    missing = None
    space = 1
    for code, values in zip(codes, uniques):
        combined *= len(values) + 1
        combined += code
        if code.size and code.min() < 0:
            missing = code < 0 if missing is None else missing | (code < 0)
        space *= len(values) + 1
    valid = combined if missing is None else combined[~missing]
    if space <= max(DENSE_KEY_SPACE, 4 * len(frame)):  # every combination fits an array: count, no hashing or sorting
        present = np.flatnonzero(np.bincount(valid, minlength=space))
        lookup = np.full(
            space, -1, dtype=np.int32 if present.size < 2**31 else np.int64
        )  # ids of tens of millions of rows
        lookup[present] = np.arange(present.size)
        ids = lookup[valid]
    else:
        ids, present = pd.factorize(valid, sort=True)
    if missing is None:
        row_ids = ids
    else:
        row_ids = np.full(len(frame), -1, dtype=ids.dtype)
        row_ids[~missing] = ids
    table = {}
    for key, values in zip(reversed(keys), reversed(uniques)):
        table[key] = np.asarray(values)[present % (len(values) + 1)]
        present = present // (len(values) + 1)
    return row_ids, pd.DataFrame({key: table[key] for key in keys})


def summary_statistics(labs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """n, mean, SD, median, quartiles, change from baseline and share above the upper limit per group of rows.

    `labs`: value, upper_limit, change or (day, baseline), and above_uln (compared when absent).
    Row-length arrays are made one measure at a time and dropped once summarised, so that at tens
    of millions of rows only a few are alive at once.
    """
    ids, table = group_ids(labs, keys)
    size = len(table)
    keep = ids >= 0
    if not keep.all():
        ids = ids[keep]
    value, change = _kept(labs["value"].to_numpy(dtype="float"), keep), _kept(_change(labs), keep)
    n, mean, sd = grouped_moments(value, ids, size)
    change_n, change_mean, change_sd = grouped_moments(change, ids, size)
    above, limit_known = _above_counts(labs, keep, ids, size)
    order, sizes = (
        _row_positions(group_order(ids, size), ids.size),
        np.bincount(ids, minlength=size),
    )  # one sort serves every quantile
    del ids
    q1, median, q3 = _quantiles_in_group_order(value[order], sizes, counts=n.astype(np.int64))
    (change_median,) = _quantiles_in_group_order(change[order], sizes, (0.5,), counts=change_n.astype(np.int64))
    del change
    (upper,) = _quantiles_in_group_order(_kept(labs["upper_limit"].to_numpy(dtype="float"), keep)[order], sizes, (0.5,))
    del order
    table = table.assign(
        n=n.astype("int64"),
        mean=mean,
        sd=sd,
        median=median,
        q1=q1,
        q3=q3,
        upper_limit=upper,
        change_n=change_n.astype("int64"),
        change_mean=change_mean,
        change_sd=change_sd,
        change_median=change_median,
        above_uln_n=above.astype("int64"),
        limit_known_n=limit_known.astype("int64"),
    )
    shares = proportion_intervals(table["above_uln_n"], table["limit_known_n"])
    table["above_uln"], table["ci_low"], table["ci_high"] = (
        shares["share"].to_numpy(),
        shares["ci_low"].to_numpy(),
        shares["ci_high"].to_numpy(),
    )
    return table[table["n"] > 0].reset_index(drop=True)


def _row_positions(positions: np.ndarray, rows: int) -> np.ndarray:
    """Positions among `rows` rows as int32 where they fit (half of int64's bytes at tens of millions of rows)."""
    return positions.astype(np.int32) if rows < 2**31 else positions


def _above_counts(labs: pd.DataFrame, keep: np.ndarray, ids: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group: results above the upper limit, and results whose limit is known (from above_uln,
    or compared from value and upper limit when the rows have none: two flags a row, no float array)."""
    if "above_uln" in labs:
        above_uln = _kept(labs["above_uln"].to_numpy(dtype="float"), keep)
        known, above = np.isfinite(above_uln), above_uln == 1
    else:
        value, upper = (_kept(labs[c].to_numpy(dtype="float"), keep) for c in ("value", "upper_limit"))
        known = np.isfinite(value) & np.isfinite(upper)
        with np.errstate(invalid="ignore"):
            above = known & (value > upper)
    return np.bincount(ids[above], minlength=size), np.bincount(ids if known.all() else ids[known], minlength=size)


PHASES = {"course": "up to the last dose", "after": "after the last dose"}


def trend_table(
    source: Cohort | LabData,
    settings: LabSettings | None = None,
    group_by: str | pd.Series | None = None,
    tests: tuple[str, ...] | None = None,
    cohort: Cohort | None = None,
    by_phase: bool = False,
) -> pd.DataFrame:
    """Per test, unit, time point (month or visit) and group: the summary statistics of all results.

    With `group` "visit", rows without a nominal visit are left out; visits are ordered by
    `visit_order`. `by_phase` splits each time point into results up to and after the last dose
    (at month 5, some courses are still on treatment while shorter ones have ended). `group_by`: see `course_groups` (a name needs the cohort, as source or `cohort`).
    """
    data = lab_data(source, settings)
    settings = settings or data.settings
    time = settings.group
    labs = _trend_rows(data, tests, time, with_course=group_by is not None or time == "visit")
    known_time = labs[time].notna().to_numpy()
    if not known_time.all():
        labs = labs[known_time]
    keys = ["test", "unit"]
    if group_by is not None:
        labs = with_course_column(labs, group_by, cohort if cohort is not None else source, categorical=True)
        keys.append("group")
    if by_phase:
        after = (labs["period"] == "after").to_numpy().astype("int8")
        labs["phase"] = pd.Categorical.from_codes(after, [PHASES["course"], PHASES["after"]])
        keys.append("phase")
    table = summary_statistics(labs, keys + [time])
    table["test"] = table["test"].astype(str)
    table["unit"] = table["unit"].astype(str)
    if time == "visit":
        table["visit_order"] = table["visit"].map(visit_order(labs)).astype("int64")
        table = table.sort_values(["test", *keys[2:], "visit_order"]).reset_index(drop=True)
    else:
        table["month"] = table["month"].astype("int64")
    return table


def _trend_rows(data: LabData, tests, time: str, with_course: bool) -> pd.DataFrame:
    """The rows `trend_table` summarises: the stored columns themselves where every row is read,
    each row's change from baseline (made in place of its baseline), and course_idx only when asked
    for; above_uln is compared later, when the other row-length arrays are gone."""
    names = ["test", "unit", "period", time, "value", "upper_limit", "day", "baseline"] + (
        ["course_idx"] if with_course else []
    )
    values = data.columns(names, tests)
    change = _change_in_place(
        values["day"], values["value"], values.pop("baseline")
    )  # baselines looked up anew for these rows
    return pd.DataFrame({**values, "change": change}, copy=False)


def visit_order(labs: pd.DataFrame, max_courses: int = 20_000) -> pd.Series:
    """Rank of each nominal visit label: where it falls within a course's own visits, on average.

    A "Follow-up" visit comes after "Month 7" even though short courses reach follow-up sooner
    than long ones reach month 7. Estimated from at most `max_courses` courses.
    """
    rows = labs.loc[labs["visit"].notna(), ["course_idx", "visit", "day"]]
    courses = rows["course_idx"].unique()
    if courses.size > max_courses:
        rows = rows[rows["course_idx"].isin(np.random.default_rng(0).choice(courses, max_courses, replace=False))]
    rows = rows.groupby(["course_idx", "visit"], observed=True, sort=False)["day"].median().reset_index()
    rank = rows.groupby("course_idx")["day"].rank(method="dense")
    top = rank.groupby(rows["course_idx"]).transform("max")
    position = np.where(top > 1, (rank - 1) / (top - 1).where(top > 1, 1), 0.0)
    summary = pd.DataFrame({"visit": rows["visit"], "position": position, "day": rows["day"]}).groupby(
        "visit", observed=True
    )
    order = pd.DataFrame({"position": summary["position"].mean(), "day": summary["day"].median()}).sort_values(
        ["position", "day"]
    )
    return pd.Series(np.arange(1, len(order) + 1), index=order.index)


# ---------------------------------------------------------------------------------------------
# Out of range: new abnormalities, low/normal/high per course, grade shifts


def new_abnormal_flags(source: Cohort | LabData, tests: tuple[str, ...]) -> pd.DataFrame:
    """Courses with a normal baseline (every baseline of `tests` known and at or below its upper
    limit) and a result on treatment, and whether any result on treatment was above the limit."""
    data, tests = lab_data(source), tuple(tests)
    return memoised(data, ("new_abnormal_flags", tests), lambda: _new_abnormal_flags(data, [tests])[tests])


def _compute_new_abnormal_flags(data: LabData, measures: list[tuple[str, ...]]) -> None:
    """Memoises `new_abnormal_flags` of each set of tests not done yet, all from one pass over the
    baselines and the results on treatment."""
    done = {key for key, _ in memo_items(data)}
    pending = [tests for tests in dict.fromkeys(measures) if ("new_abnormal_flags", tests) not in done]
    if pending:
        for tests, flags in _new_abnormal_flags(data, pending).items():
            memoised(data, ("new_abnormal_flags", tests), lambda flags=flags: flags)


def _new_abnormal_flags(data: LabData, measures: list[tuple[str, ...]]) -> dict[tuple[str, ...], pd.DataFrame]:
    """Per course and test, by dense course x test arrays (no hashing or sorting at millions of
    rows): a baseline, an abnormal one, results on treatment with a known limit, and those above
    it; each measure then combines its tests' columns."""
    store, slots = data.store, data.store.course_slots
    categories = store.table["test"].cat.categories
    width = len(categories) + 1
    tests = [t for t in dict.fromkeys(t for m in measures for t in m) if t in store.positions]
    course, code, value, upper = _baseline_values(data, tests)
    with np.errstate(invalid="ignore"):
        normal = ~np.isnan(value) & ~np.isnan(upper) & (value <= upper)
    key = course * width + code
    has_baseline, abnormal_baseline = np.zeros(slots * width, dtype=bool), np.zeros(slots * width, dtype=bool)
    has_baseline[key] = True
    abnormal_baseline[key[~normal]] = True
    on = data.columns(["course_idx", "test", "above_uln"], tests, ["on_treatment"])
    known = ~np.isnan(on["above_uln"])
    key = on["course_idx"][known].astype(np.int64) * width + np.asarray(on["test"].codes)[known]
    results = np.bincount(key, minlength=slots * width).reshape(-1, width)
    raised = np.bincount(key, weights=on["above_uln"][known], minlength=slots * width).reshape(-1, width)
    has_baseline, abnormal_baseline = has_baseline.reshape(-1, width), abnormal_baseline.reshape(-1, width)
    flags = {}
    for measure in measures:
        columns = [categories.get_loc(t) for t in measure if t in tests]
        at_risk = has_baseline[:, columns].any(axis=1) & ~abnormal_baseline[:, columns].any(axis=1)
        courses = np.flatnonzero(at_risk & (results[:, columns].sum(axis=1) > 0))
        flags[measure] = pd.DataFrame(
            {"course_idx": courses.astype("int64"), "new_abnormal": raised[courses][:, columns].sum(axis=1) > 0}
        )
    return flags


def _baseline_values(data: LabData, tests: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Course (int64), test code, value and upper limit of the baselines of the given tests, for this data's courses."""
    store = data.store
    wanted = np.zeros(len(store.table["test"].cat.categories) + 1, dtype=bool)
    wanted[store.table["test"].cat.categories.get_indexer(tests)] = True
    keep = wanted[store.baseline_tests]
    rows = store.baseline_positions
    course = store.table["course_idx"].to_numpy()[rows].astype(np.int64)
    if data.member is not None:
        keep &= data.member[course]
    rows = rows[keep]
    return (
        course[keep],
        store.baseline_tests[keep].astype(np.int64),
        store.table["value"].to_numpy()[rows],
        store.table["upper_limit"].to_numpy()[rows],
    )


def new_abnormal(source: Cohort | LabData, tests: tuple[str, ...] = ("ALT", "AST")) -> Estimate:
    """Share of courses with a normal baseline reaching above the upper limit on treatment (C13, C14)."""
    flags = new_abnormal_flags(source, tuple(tests))
    return proportion(int(flags["new_abnormal"].sum()), len(flags))


def new_abnormal_table(
    source: Cohort | LabData, group_by: str | pd.Series | None = None, cohort: Cohort | None = None
) -> pd.DataFrame:
    """One row per measure (and group): courses at risk, with a new abnormality, share, CI, literature."""
    data = lab_data(source)
    measures = {
        label: (tests, key) for label, (tests, key) in NEW_ABNORMAL_MEASURES.items() if any(data.has(t) for t in tests)
    }
    _compute_new_abnormal_flags(data, [tests for tests, _ in measures.values()])
    rows = []
    for label, (tests, key) in measures.items():
        flags = new_abnormal_flags(data, tests)
        if group_by is not None:
            flags = with_course_column(flags, group_by, cohort if cohort is not None else source)
        else:
            flags = flags.assign(group="all courses")
        counts = flags.groupby("group")["new_abnormal"].agg(["sum", "size"])
        literature = reference(key) if key else None
        for group, (k, n) in counts.iterrows():
            rows.append(
                {
                    "measure": label,
                    "tests": "/".join(tests),
                    "group": group,
                    "courses": int(n),
                    "new_abnormal_n": int(k),
                    "literature": literature.value if literature else None,
                    "literature_source": literature.source if literature else "",
                }
            )
    table = pd.DataFrame(
        rows, columns=["measure", "tests", "group", "courses", "new_abnormal_n", "literature", "literature_source"]
    )
    shares = proportion_intervals(table["new_abnormal_n"], table["courses"])
    return pd.concat([table, shares.rename(columns={"share": "new_abnormal"})], axis=1)


CATEGORIES = np.array(["low", "normal", "high"], dtype=object)


def range_categories(labs: pd.DataFrame, keys: list[str], rule: str = "any") -> pd.DataFrame:
    """Each course's low / normal / high category per group of keys, from the given lab rows.

    Rules (RANGE_RULES): "any" counts a course high if any value was above the upper limit, else
    low if any was below the lower limit; "most_extreme" takes the single value lying furthest
    beyond 1.5 x upper limit or below 0.5 x lower limit (the first such value on ties), the rule of
    the CDISC pilot's analysis flag, and classifies it.
    """
    table, codes = _range_codes(labs, keys, rule)
    return table.assign(category=CATEGORIES[codes])


def _range_codes(labs: pd.DataFrame, keys: list[str], rule: str) -> tuple[pd.DataFrame, np.ndarray]:
    """`range_categories` as the keys and course of each group, and its category as a code into CATEGORIES."""
    known = labs["upper_limit"].notna().to_numpy() | labs["lower_limit"].notna().to_numpy()
    rows = labs if known.all() else labs[known]
    group_keys = [*keys, "course_idx"]
    if rule == "any":
        ids, table = group_ids(rows, group_keys)
        inside = ids >= 0
        high = np.bincount(ids[inside], weights=(rows["above_uln"].to_numpy() == 1)[inside], minlength=len(table)) > 0
        low = np.bincount(ids[inside], weights=(_below(rows) == 1)[inside], minlength=len(table)) > 0
        return table, np.where(high, 2, np.where(low, 0, 1))
    if rule != "most_extreme":
        raise ValueError(f"Unknown range rule '{rule}'")
    rows = rows.sort_values([*group_keys, "day"], kind="stable")
    beyond = np.fmax(rows["value"] - 1.5 * rows["upper_limit"], 0.5 * rows["lower_limit"] - rows["value"])
    pick = beyond.groupby([rows[k] for k in group_keys], sort=False, observed=True).idxmax().dropna()
    chosen = rows.loc[pick.to_numpy()]
    codes = np.where(chosen["above_uln"] == 1, 2, np.where(_below(chosen) == 1, 0, 1))
    return chosen[group_keys].reset_index(drop=True), codes


def range_category_counts(labs: pd.DataFrame, keys: list[str], rule: str = "any") -> pd.DataFrame:
    """Courses low / normal / high per group of keys (the CDISC 14-6.02 layout)."""
    table, codes = _range_codes(labs, keys, rule)
    ids, counts = group_ids(table, keys)
    inside = ids >= 0
    tally = np.bincount(ids[inside] * 3 + codes[inside], minlength=3 * len(counts)).reshape(-1, 3)
    counts = counts.assign(low=tally[:, 0], normal=tally[:, 1], high=tally[:, 2], courses=tally.sum(axis=1))
    for key in keys:  # a categorical key stays categorical, as in a groupby
        if isinstance(table[key].dtype, pd.CategoricalDtype):
            counts[key] = pd.Categorical(counts[key], dtype=table[key].dtype)
    return counts[counts["courses"] > 0].reset_index(drop=True)


def on_treatment_ranges(
    source: Cohort | LabData,
    tests: tuple[str, ...] | None = None,
    group_by: str | pd.Series | None = None,
    cohort: Cohort | None = None,
) -> pd.DataFrame:
    """Low / normal / high courses per test on treatment, by the settings' range rule."""
    data = lab_data(source)
    labs = data.rows(tests, ["on_treatment"], ["day", "value", "upper_limit", "lower_limit", "above_uln"])
    keys = ["test"]
    if group_by is not None:
        labs = with_course_column(labs, group_by, cohort if cohort is not None else source)
        keys.append("group")
    return range_category_counts(labs, keys, data.settings.range_rule)


GRADE_LABELS = {0: "0 (not raised)", 1: "1", 2: "2", 3: "3", 4: "4"}
NO_BASELINE_GRADE = "no graded baseline"


def shift_table(source: Cohort | LabData, test: str) -> pd.DataFrame:
    """Courses by baseline grade (rows, 'no baseline' included) and worst grade on treatment (columns).

    Only courses with a graded result on treatment are counted.
    """
    data = lab_data(source)
    worst = _worst_grades(data, test)
    baselines = data.baselines
    base = baselines[baselines["test"] == test].set_index("course_idx")["baseline_grade"]
    baseline = pd.Series(worst.index.map(base), dtype="float")
    frame = pd.DataFrame(
        {
            "baseline grade": baseline.map(GRADE_LABELS).fillna(NO_BASELINE_GRADE).to_numpy(),
            "worst grade on treatment": worst.map(GRADE_LABELS).to_numpy(),
        }
    )
    matrix = pd.crosstab(frame["baseline grade"], frame["worst grade on treatment"])
    order = [*GRADE_LABELS.values()]
    matrix = matrix.reindex(index=[*order, NO_BASELINE_GRADE], columns=order, fill_value=0)
    matrix["courses"] = matrix.sum(axis=1)
    return matrix.rename_axis(index="baseline grade", columns=None).reset_index()


def _worst_grades(data: LabData, test: str) -> pd.Series:
    """Each course's worst CTCAE grade of one test on treatment (courses with a graded result)."""
    return _worst_grades_of(data, [test])[test]


def _worst_grades_of(data: LabData, tests: list[str]) -> dict[str, pd.Series]:
    """`_worst_grades` of each of the tests, in one pass over their results on treatment (the
    worst grade per course and test gathered in a dense course x test array)."""
    on = data.columns(["course_idx", "test", "grade"], tests, ["on_treatment"])
    categories, width = on["test"].categories, len(on["test"].categories) + 1
    graded = ~np.isnan(on["grade"])
    worst = np.full(data.store.course_slots * width, -1.0)
    key = on["course_idx"][graded].astype(np.int64) * width + np.asarray(on["test"].codes)[graded]
    np.maximum.at(worst, key, on["grade"][graded])
    worst = worst.reshape(-1, width)
    result = {}
    for test in tests:
        column = worst[:, categories.get_loc(test)] if test in categories else np.empty(0)
        courses = np.flatnonzero(column >= 0)
        result[test] = pd.Series(column[courses], index=pd.Index(courses, name="course_idx"), name="grade")
    return result


def grade_at_least(source: Cohort | LabData, test: str, grade: int = 3) -> Estimate:
    """Share of courses with a graded result on treatment whose worst grade reached `grade`."""
    data = lab_data(source)
    worst = _worst_grades(data, test)
    return proportion(int((worst >= grade).sum()), len(worst))


def grade_summary(source: Cohort | LabData) -> pd.DataFrame:
    """Per graded test: courses graded on treatment and the share reaching grade >= 1, >= 2, >= 3."""
    data = lab_data(source)
    rows = []
    for test, grades in _worst_grades_of(data, [t for t in GRADED_TESTS if data.has(t)]).items():
        if grades.empty:
            continue
        row = {"test": test, "courses": len(grades)}
        for g in (1, 2, 3):
            row[f"grade_{g}_plus_n"] = int((grades >= g).sum())
        rows.append(row)
    table = pd.DataFrame(rows, columns=["test", "courses", "grade_1_plus_n", "grade_2_plus_n", "grade_3_plus_n"])
    for g in (1, 2, 3):
        shares = proportion_intervals(table[f"grade_{g}_plus_n"], table["courses"])
        table[f"grade_{g}_plus"] = shares["share"]
        if g == 3:
            table["grade_3_ci_low"], table["grade_3_ci_high"] = shares["ci_low"], shares["ci_high"]
    return table


# ---------------------------------------------------------------------------------------------
# After the course: how long values stay raised


def recovery_after_course(
    source: Cohort | LabData, tests: tuple[str, ...] = ("ALT", "AST", "TG", "TC")
) -> pd.DataFrame:
    """Courses still above the upper limit at their last result on treatment, and the days from the
    last dose until a later result was back within the limit (Kaplan-Meier; courses never seen
    back are censored at their last result)."""
    from analysis.stats.survival import fit_km

    data = lab_data(source)
    end_day = data.courses.set_index("course_idx")["end_day"]
    rows = []
    for test in [t for t in tests if data.has(t)]:
        labs = data.rows([test], columns=["day", "above_uln"])
        labs = labs[labs["above_uln"].notna().to_numpy()]
        on = labs[labs["period"] == "on_treatment"].sort_values(["course_idx", "day"])
        last_raised = on.drop_duplicates("course_idx", keep="last")
        raised = last_raised.loc[last_raised["above_uln"] == 1, "course_idx"]
        after = labs[(labs["period"] == "after") & labs["course_idx"].isin(raised)].copy()
        after["since_end"] = after["day"] - after["course_idx"].map(end_day)
        back = after[after["above_uln"] == 0].groupby("course_idx")["since_end"].min()
        last_seen = after.groupby("course_idx")["since_end"].max()
        durations = back.reindex(last_seen.index).fillna(last_seen)
        km = fit_km(durations.to_numpy(), back.reindex(last_seen.index).notna().to_numpy(), label=test)
        rows.append(
            {
                "test": test,
                "raised_at_end": len(raised),
                "followed_after": len(last_seen),
                "back_within_limit": int(back.size),
                "median_days": km.median_day,
                "median_ci_low": km.median_ci[0],
                "median_ci_high": km.median_ci[1],
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "test",
            "raised_at_end",
            "followed_after",
            "back_within_limit",
            "median_days",
            "median_ci_low",
            "median_ci_high",
        ],
    )


# ---------------------------------------------------------------------------------------------
# Liver injury (eDISH) and individual courses


def edish_points(source: Cohort | LabData) -> pd.DataFrame:
    """Per course with both on treatment: peak ALT and peak total bilirubin as multiples of the upper limit."""
    data = lab_data(source)
    on = data.columns(["course_idx", "test", "value", "upper_limit"], ["ALT", "BILI"], ["on_treatment"])
    multiple, course, test = uln_multiple(on), on["course_idx"], on["test"]
    peaks = {}
    for name in ("ALT", "BILI"):
        rows = (np.asarray(test.codes) == test.categories.get_indexer([name])[0]) & ~np.isnan(multiple)
        if not rows.any():
            return pd.DataFrame(columns=["course_idx", "alt_uln", "bili_uln", "label", "quadrant"])
        peaks[name] = np.full(data.store.course_slots, np.nan)
        np.fmax.at(peaks[name], course[rows], multiple[rows])
    courses = np.flatnonzero(~np.isnan(peaks["ALT"]) & ~np.isnan(peaks["BILI"]))
    points = pd.DataFrame(
        {"course_idx": courses.astype("int64"), "alt_uln": peaks["ALT"][courses], "bili_uln": peaks["BILI"][courses]}
    )
    points["label"] = course_labels(data, courses)
    points["quadrant"] = edish_quadrant(points["alt_uln"].to_numpy(), points["bili_uln"].to_numpy())
    return points


EDISH_QUADRANTS = {
    "hys_law": "Possible Hy's law: ALT >= 3x and bilirubin > 2x upper limit",
    "hyperbilirubinaemia": "Bilirubin > 2x upper limit, ALT < 3x (e.g. Gilbert's, cholestasis)",
    "temple": "ALT >= 3x upper limit, bilirubin <= 2x (Temple's corollary)",
    "normal": "ALT < 3x and bilirubin <= 2x upper limit",
}


def edish_quadrant(alt_uln: np.ndarray, bili_uln: np.ndarray) -> np.ndarray:
    """FDA DILI guidance 2009: lines at ALT 3x and bilirubin 2x the upper limit."""
    alt_high, bili_high = alt_uln >= 3, bili_uln > 2
    return np.select(
        [alt_high & bili_high, bili_high, alt_high], ["hys_law", "hyperbilirubinaemia", "temple"], "normal"
    )


def spaghetti_sample(
    source: Cohort | LabData, test: str, max_courses: int | None = None, seed: int = 0
) -> tuple[pd.DataFrame, int]:
    """Results of one test for at most `max_courses` courses drawn at random (seeded), and how many
    courses had the test. Rows sorted by course and day, with the course's pseudonymous label."""
    data = lab_data(source)
    limit = max_courses or data.settings.spaghetti_courses
    rows = data.rows([test], columns=["day", "month", "value", "unit", "upper_limit"])
    courses = np.sort(rows["course_idx"].unique())
    chosen = (
        courses if courses.size <= limit else np.sort(np.random.default_rng(seed).choice(courses, limit, replace=False))
    )
    sample = rows[rows["course_idx"].isin(chosen)].sort_values(["course_idx", "day"])
    sample = sample.assign(
        label=course_labels(data, sample["course_idx"]),
        day=sample["day"].astype("float"),
        month=sample["month"].astype("float"),
    )
    return sample[["course_idx", "label", "day", "month", "value", "unit", "upper_limit", "period"]], int(courses.size)


# ---------------------------------------------------------------------------------------------
# Monitoring compliance (C18) and pregnancy tests (C19)


def monitoring_flags(source: Cohort | LabData) -> pd.DataFrame:
    """Per course: liver and lipid tests at baseline, on treatment, around month 1, at least every 3 months."""
    data = lab_data(source)
    return memoised(data, ("monitoring_flags",), lambda: _monitoring_flags(data))


def _monitoring_flags(data: LabData) -> pd.DataFrame:
    settings = data.settings
    course, end = data.courses["course_idx"].to_numpy(), data.courses["end_day"].to_numpy()
    flags = pd.DataFrame({"course_idx": course, "end_day": end})
    for name, tests in (("liver", LIVER_TESTS), ("lipid", LIPID_TESTS)):
        rows = data.columns(["course_idx", "period", "day"], tests)
        row_course, period = rows["course_idx"], np.asarray(rows["period"].codes)
        for code, label in ((1, "baseline"), (2, "on_treatment")):
            done = np.zeros(data.store.course_slots, dtype=bool)
            done[row_course[period == code]] = True
            flags[f"{name}_{label}"] = done[course]
        flags[f"{name}_month1"], flags[f"{name}_every_3_months"] = _schedule(
            row_course, rows["day"], course, end, data, settings
        )
        flags[f"{name}_eu_schedule"] = (
            flags[f"{name}_baseline"] & flags[f"{name}_month1"] & flags[f"{name}_every_3_months"]
        )
    flags["baseline_and_on_treatment"] = (
        flags["liver_baseline"] & flags["liver_on_treatment"] & flags["lipid_baseline"] & flags["lipid_on_treatment"]
    )
    flags["eu_schedule"] = flags["liver_eu_schedule"] & flags["lipid_eu_schedule"]
    return flags


def _ascending(course: np.ndarray, day: np.ndarray) -> bool:
    """Are the rows in course order, and by day within a course?"""
    step = np.diff(course)
    return bool((step >= 0).all() and (np.diff(day)[step == 0] >= 0).all())


def _schedule(
    row_course: np.ndarray, day: np.ndarray, course: np.ndarray, end: np.ndarray, data: LabData, settings: LabSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Month-1 test and no gap over `max_gap_days` from the month-1 window to the last dose.

    Courses whose last dose came before the month-1 window ends need no month-1 test; courses
    without a known last dose cannot be judged and count as not on schedule. Per course by dense
    arrays indexed by course_idx, the test days in course and day order.
    """
    start, stop = settings.month1_window
    end_of = np.full(data.store.course_slots, np.nan)
    end_of[course] = end
    with np.errstate(invalid="ignore"):
        tested = (day >= start) & (day <= end_of[row_course])
    tested_course, tested_day = row_course[tested].astype(np.int64), day[tested].astype("float")
    if not _ascending(tested_course, tested_day):
        order = np.lexsort((tested_day, tested_course))
        tested_course, tested_day = tested_course[order], tested_day[order]
    first, last, largest_gap = (np.full(data.store.course_slots, np.nan) for _ in range(3))
    if tested_course.size:  # each course's tests are one run of rows
        starts = np.flatnonzero(np.r_[True, tested_course[1:] != tested_course[:-1]])
        course_of_run = tested_course[starts]
        first[course_of_run], last[course_of_run] = (
            tested_day[starts],
            tested_day[np.r_[starts[1:], tested_course.size] - 1],
        )
        gaps = np.diff(tested_day, prepend=np.nan)
        gaps[starts] = np.nan  # a course's first test has no gap before it
        largest_gap[course_of_run] = np.fmax.reduceat(gaps, starts)
    known_end = np.isfinite(end)
    short = known_end & (end < stop)
    month1 = short | (first[course] <= stop)
    largest_gap = np.fmax(largest_gap[course], end - last[course])
    regular = short | (np.nan_to_num(largest_gap, nan=np.inf) <= settings.max_gap_days)
    return month1 & known_end, regular & known_end & month1


COMPLIANCE_ROWS = {
    "baseline_and_on_treatment": "Liver and lipid tests both at baseline and on treatment",
    "liver_baseline": "Liver tests (ALT or AST) at baseline",
    "liver_on_treatment": "Liver tests during treatment",
    "liver_month1": "Liver tests around month 1 (days {start}-{stop})",
    "liver_every_3_months": "Liver tests at least every 3 months to the last dose",
    "lipid_baseline": "Lipids (triglycerides or cholesterol) at baseline",
    "lipid_on_treatment": "Lipids during treatment",
    "lipid_month1": "Lipids around month 1 (days {start}-{stop})",
    "lipid_every_3_months": "Lipids at least every 3 months to the last dose",
    "eu_schedule": "Full EU schedule for both (baseline, month 1, every 3 months)",
}


def monitoring_compliance(source: Cohort | LabData) -> Estimate:
    """C18: share of courses with liver and lipid tests both at baseline and on treatment.

    Every course counts in the denominator: a course with no lab result counts as not monitored.
    """
    flags = monitoring_flags(source)
    return proportion(int(flags["baseline_and_on_treatment"].sum()), len(flags))


def compliance_table(source: Cohort | LabData, flags: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per monitoring criterion: courses, courses meeting it, share and 95% CI."""
    data = lab_data(source)
    flags = monitoring_flags(data) if flags is None else flags
    start, stop = data.settings.month1_window
    table = pd.DataFrame(
        {
            "criterion": [label.format(start=start, stop=stop) for label in COMPLIANCE_ROWS.values()],
            "key": list(COMPLIANCE_ROWS),
            "courses": len(flags),
            "met": [int(flags[key].sum()) for key in COMPLIANCE_ROWS],
        }
    )
    return pd.concat([table, proportion_intervals(table["met"], table["courses"])], axis=1)


def pregnancy_months(source: Cohort | LabData) -> pd.DataFrame:
    """Per course that can become pregnant and has a known last dose: treatment months, months with a
    pregnancy test, a test before the first dose, after the last dose, and any positive test."""
    data = lab_data(source)
    return memoised(data, ("pregnancy_months",), lambda: _pregnancy_months(data))


def _pregnancy_months(data: LabData) -> pd.DataFrame:
    settings = data.settings
    courses = data.courses[_is_yes(data.courses["can_become_pregnant"])]
    courses = courses[np.isfinite(courses["end_day"].to_numpy(dtype="float"))]
    end = courses["end_day"].to_numpy(dtype="float")
    months = np.maximum(1, np.floor((end + 1) / DAYS_PER_MONTH + 0.5)).astype("int64")
    table = pd.DataFrame(
        {"course_idx": courses["course_idx"].to_numpy(), "end_day": courses["end_day"].to_numpy(), "months": months}
    )
    slots = data.store.course_slots
    course_months, course_end = np.zeros(slots, dtype=np.int64), np.full(slots, np.nan)
    course_months[table["course_idx"]], course_end[table["course_idx"]] = months, end
    tests = data.columns(["course_idx", "day", "month", "above_uln"], ["HCG"])
    eligible = course_months[tests["course_idx"]] > 0
    course, day, above = (
        tests["course_idx"][eligible].astype(np.int64),
        tests["day"][eligible],
        tests["above_uln"][eligible],
    )
    before_start = (day >= -settings.pregnancy_lookback_days) & (day <= 0)
    month = np.where(before_start, 0, tests["month"][eligible]).astype(np.int64)
    inside = (month >= 0) & (month < course_months[course])
    table["months_tested"] = _distinct_months(course[inside], month[inside], slots, int(course_months.max(initial=0)))[
        table["course_idx"]
    ]
    ended = course_end[course]
    for column, done in (
        ("tested_before_start", before_start),
        ("tested_after_end", (day > ended) & (day <= ended + 60)),
        ("positive_test", above == 1),
    ):
        flag = np.zeros(slots, dtype=bool)
        flag[course[done]] = True
        table[column] = flag[table["course_idx"]]
    return table


def _is_yes(values: pd.Series) -> np.ndarray:
    """Is each value "yes" (any case)? Judged once per distinct value."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    yes = np.array([str(u).lower() == "yes" for u in uniques] + [str(np.nan).lower() == "yes"], dtype=bool)
    return yes[codes]


def _distinct_months(course: np.ndarray, month: np.ndarray, slots: int, months: int) -> np.ndarray:
    """Per course_idx: how many distinct months (0 .. months-1) the rows cover."""
    if slots * months <= 50_000_000:  # a course x month grid: marking cells beats sorting the rows
        covered = np.zeros((slots, max(months, 1)), dtype=bool)
        covered[course, month] = True
        return covered.sum(axis=1)
    distinct = np.unique(course * months + month) // months
    return np.bincount(distinct, minlength=slots)


def pregnancy_test_compliance(source: Cohort | LabData, months: pd.DataFrame | None = None) -> Estimate:
    """C19: share of treatment months with a pregnancy test, courses with can_become_pregnant = yes.

    Months of one course are not independent: the interval is a guide, not exact.
    """
    table = pregnancy_months(source) if months is None else months
    return proportion(int(table["months_tested"].sum()), int(table["months"].sum()))


def positive_pregnancy_tests(source: Cohort | LabData) -> Estimate:
    """Share of courses (can_become_pregnant = yes) with any positive pregnancy test."""
    table = pregnancy_months(source)
    return proportion(int(table["positive_test"].sum()), len(table))


def pregnancy_table(source: Cohort | LabData, months: pd.DataFrame | None = None) -> pd.DataFrame:
    """The pregnancy-prevention measures as rows: what was counted, k, n, share and 95% CI."""
    table = pregnancy_months(source) if months is None else months
    rows = [
        (
            "Treatment months with a pregnancy test",
            int(table["months_tested"].sum()),
            int(table["months"].sum()),
            "months",
        ),
        (
            "Courses with every treatment month tested",
            int((table["months_tested"] >= table["months"]).sum()),
            len(table),
            "courses",
        ),
        (
            "Courses tested in the 30 days before the first dose",
            int(table["tested_before_start"].sum()),
            len(table),
            "courses",
        ),
        (
            "Courses tested within 60 days after the last dose",
            int(table["tested_after_end"].sum()),
            len(table),
            "courses",
        ),
        ("Courses with a positive pregnancy test", int(table["positive_test"].sum()), len(table), "courses"),
    ]
    frame = pd.DataFrame(rows, columns=["measure", "met", "total", "counted_in"])
    return pd.concat([frame, proportion_intervals(frame["met"], frame["total"])], axis=1)


# ---------------------------------------------------------------------------------------------
# The whole area at once: what the page, the report and the JSON summary show


@dataclass(frozen=True)
class LabAnalysis:
    data: LabData
    trend: pd.DataFrame
    new_abnormal: pd.DataFrame
    grades: pd.DataFrame
    ranges: pd.DataFrame
    recovery: pd.DataFrame
    edish: pd.DataFrame
    compliance: pd.DataFrame
    monitoring: Estimate
    pregnancy: pd.DataFrame
    pregnancy_months: Estimate
    group_by: str | None = None

    def new_abnormal_estimate(self, measure: str) -> Estimate:
        """A row of `new_abnormal` (all courses) as an Estimate; no observations when absent."""
        rows = self.new_abnormal[
            (self.new_abnormal["measure"] == measure) & (self.new_abnormal["group"] == "all courses")
        ]
        if rows.empty:
            return proportion(0, 0)
        row = rows.iloc[0]
        return proportion(int(row["new_abnormal_n"]), int(row["courses"]))


def analyse(
    source: Cohort | LabData,
    settings: LabSettings | None = None,
    group_by: str | pd.Series | None = None,
    cohort: Cohort | None = None,
    tests: tuple[str, ...] | None = None,
    with_page_tables: bool = True,
    by_phase: bool | None = None,
) -> LabAnalysis:
    """Every table of the area from one harmonised, derived copy of the lab rows.

    Trends are split into results up to and after the last dose unless groups are compared
    (`by_phase` None), so that each chart line stays readable. Without `with_page_tables` the
    tables only the page and the report show (ranges, recovery, eDISH points) are left empty."""
    data = lab_data(source, settings)
    cohort = cohort if cohort is not None else (source if isinstance(source, Cohort) else None)
    label = group_by if isinstance(group_by, str) else None
    new_abnormal = new_abnormal_table(data)
    if group_by is not None:
        new_abnormal = pd.concat([new_abnormal, new_abnormal_table(data, group_by, cohort)], ignore_index=True)
    flags, months = monitoring_flags(data), pregnancy_months(data)
    return LabAnalysis(
        data=data,
        trend=trend_table(
            data,
            data.settings,
            group_by=group_by,
            tests=tests,
            cohort=cohort,
            by_phase=group_by is None if by_phase is None else by_phase,
        ),
        new_abnormal=new_abnormal,
        grades=grade_summary(data),
        ranges=on_treatment_ranges(data) if with_page_tables else pd.DataFrame(),
        recovery=recovery_after_course(data) if with_page_tables else pd.DataFrame(),
        edish=edish_points(data) if with_page_tables else pd.DataFrame(),
        compliance=compliance_table(data, flags),
        monitoring=proportion(int(flags["baseline_and_on_treatment"].sum()), len(flags)),
        pregnancy=pregnancy_table(data, months),
        pregnancy_months=pregnancy_test_compliance(data, months),
        group_by=label,
    )


# ---------------------------------------------------------------------------------------------
# JSON summary


def summary_section(cohort: Cohort, options: SummaryOptions) -> dict:
    """The `labs` section of the JSON summary: trend rows (per group when grouped), new
    abnormalities, CTCAE grades, monitoring and pregnancy-test compliance, harmonisation counts."""
    settings = LabSettings.from_settings(getattr(options, "settings", None))
    group_by = getattr(options, "group_by", None)
    try:
        if group_by:
            course_groups(group_by, cohort)
    except ValueError:
        group_by = None
    result = analyse(cohort, settings, group_by=group_by or None, with_page_tables=False, by_phase=False)
    data, time = result.data, settings.group
    keep = [
        "test",
        "unit",
        *(["group"] if group_by else []),
        time,
        "n",
        "mean",
        "sd",
        "median",
        "q1",
        "q3",
        "above_uln",
        "ci_low",
        "ci_high",
        "above_uln_n",
        "limit_known_n",
    ]
    positive = result.pregnancy.iloc[-1]
    return {
        "settings": settings.as_dict(),
        "group_by": group_by or None,
        "rows": _records(result.trend[keep]),
        "new_abnormal": _records(result.new_abnormal),
        "ctcae": _records(result.grades),
        "compliance": {
            "monitoring": result.monitoring.as_dict(),
            "criteria": _records(result.compliance.drop(columns="criterion")),
            "pregnancy_tests": result.pregnancy_months.as_dict(),
            "positive_pregnancy_tests": proportion(int(positive["met"]), int(positive["total"])).as_dict(),
        },
        "harmonisation": {
            "rows_analysed": data.n_rows,
            "rows_excluded": int(data.excluded["rows"].sum()) if len(data.excluded) else 0,
            "excluded": _records(data.excluded),
        },
    }


def _records(table: pd.DataFrame) -> list[dict]:
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    return [{k: _plain(v) for k, v in row.items()} for row in records]


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else round(float(value), 6)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
