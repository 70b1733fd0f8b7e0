"""Lab values during and after the course: trends, out-of-range shares, CTCAE grades, monitoring.

Definitions used throughout (all days are days from the first dose, day 0):
- Values are harmonised first (`analysis.lab_units.harmonise`): one unit per test; rows with a
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

from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from .cohort import Cohort, Lineage, memo_items, memoised
from .lab_units import (
    BY_CODE, LIPID_TESTS, LIVER_TESTS, empty_findings, exclusion_reasons, harmonisation_findings, harmonised_columns, map_distinct,
    pair_summary,
)
from .literature import reference
from .schema import DAYS_PER_MONTH
from .stats import EXACT_BELOW_N, Estimate, proportion

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
ARTICLE_RARE = 1 / 1000  # the source document lists liver enzyme changes and cholesterol as "rare"
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
    def from_settings(cls, settings: dict | None) -> "LabSettings":
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
        return (f"{STATISTICS[self.statistic].capitalize()} by {GROUPINGS[self.group]}; baseline = last result in the "
                f"{self.baseline_days} days up to the first dose")

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
# Prepared data: harmonised rows with period, baseline, range flags and grades, computed once


@dataclass(frozen=True)
class LabData:
    """The lab rows an analysis uses, with derived columns, plus what harmonisation left out.

    `labs` columns: course_idx, day, month, visit, test, unit, value, lower_limit, upper_limit,
    period, baseline, above_uln (1.0, 0.0, or NaN where the limit is unknown), grade. Other
    per-row quantities (change from baseline, below the lower limit, multiple of the upper
    limit) are computed where needed, which keeps this table small at millions of rows.
    `baselines`: one row per course and test (baseline, baseline_upper, baseline_lower, baseline_grade).
    """

    labs: pd.DataFrame
    baselines: pd.DataFrame
    courses: pd.DataFrame
    findings: pd.DataFrame
    excluded: pd.DataFrame  # test, reason, rows
    settings: LabSettings
    positions: dict = field(default_factory=dict, repr=False)  # test -> row positions in `labs`
    conversions: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # test, unit as given, unit, rows, excluded

    @property
    def tests(self) -> list[str]:
        present = [t for t, rows in self.positions.items() if rows.size]
        known = [t for t in BY_CODE if t in present]
        return known + sorted(set(present) - set(known), key=str)

    def has(self, test: str) -> bool:
        return test in self.positions and self.positions[test].size > 0

    def unit(self, test: str) -> str:
        rows = self.positions.get(test)
        if rows is None or rows.size == 0:
            return BY_CODE[test].unit if test in BY_CODE else ""
        return str(self.labs["unit"].iloc[rows[0]])

    def rows(self, tests=None, periods=None, columns=None) -> pd.DataFrame:
        """Rows of the given tests (all when None) and periods, in their original order, with
        course_idx, test, period and the given columns (all when None); one take per column."""
        labs = self.labs
        if tests is None:
            positions = None
        else:
            chosen = [self.positions[t] for t in tests if t in self.positions]
            positions = np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype="int64")
        if periods is not None:
            codes = labs["period"].cat.codes.to_numpy()
            wanted = np.isin(codes if positions is None else codes[positions], [PERIODS.index(p) for p in periods])
            positions = np.flatnonzero(wanted) if positions is None else positions[wanted]
        names = labs.columns if columns is None else list(dict.fromkeys(["course_idx", "test", "period", *columns]))
        if positions is None:  # a new frame sharing the columns' memory: adding a column to it leaves `labs` alone
            return pd.DataFrame({c: labs[c].array for c in names}, copy=False)
        return pd.DataFrame({c: labs[c].array.take(positions) if isinstance(labs[c].dtype, pd.CategoricalDtype)
                             else labs[c].to_numpy()[positions] for c in names}, copy=False)


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
    derived = source.derived(("labs.lab_data", settings.baseline_days), lambda: _lab_data_of_cohort(source, settings),
                             _restricted_lab_data)
    return derived if derived.settings == settings else replace(derived, settings=settings)


# Per-course tables memoised on a LabData, which a subset's LabData takes by restriction.
PER_COURSE_RESULTS = ("monitoring_flags", "pregnancy_months", "new_abnormal_flags")


def _restricted_lab_data(data: LabData, lineage: Lineage, cohort: Cohort) -> LabData:
    """The lab data of a subset of courses, cut from the whole cohort's: periods, baselines and
    grades are per course, so this equals deriving them again, for a fraction of the time."""
    if "harmonised" not in cohort.labs.columns:
        return _lab_data_of_cohort(cohort, data.settings)
    keep = lineage.keeps(data.labs["course_idx"].to_numpy())
    labs = data.labs.take(np.flatnonzero(keep))
    labs.index = pd.RangeIndex(len(labs))
    labs["test"] = labs["test"].cat.remove_unused_categories()
    position = np.cumsum(keep) - 1  # a kept row's position in the subset
    positions = {test: position[rows[keep[rows]]] for test, rows in data.positions.items()}
    raw = cohort.labs
    converted = {c: raw[c] for c in HARMONISED_COLUMNS}
    course_known = raw["course_idx"].notna().to_numpy()
    usable = np.asarray(converted["harmonised"], dtype=bool) & course_known
    restricted = LabData(
        labs=labs,
        baselines=data.baselines[lineage.keeps(data.baselines["course_idx"].to_numpy())].reset_index(drop=True),
        courses=data.courses[lineage.keeps(data.courses["course_idx"].to_numpy())].reset_index(drop=True),
        findings=data.findings, excluded=_excluded_counts(converted, course_known, usable), settings=data.settings,
        positions={test: rows for test, rows in positions.items() if test in set(labs["test"].cat.categories)},
        conversions=_conversions(raw, converted, cohort))
    for key, table in memo_items(data):
        if key[0] in PER_COURSE_RESULTS:
            part = table[lineage.keeps(table["course_idx"].to_numpy())].reset_index(drop=True)
            memoised(restricted, key, lambda part=part: part)
    return restricted


def _lab_data_of_cohort(source: Cohort, settings: LabSettings) -> LabData:
    raw = source.labs
    if "harmonised" in raw.columns:  # already harmonised by the loader
        converted, findings = {c: raw[c] for c in HARMONISED_COLUMNS}, empty_findings()
    else:
        converted = harmonised_columns(raw)
        findings = harmonisation_findings(raw, converted)
    course_known = raw["course_idx"].notna().to_numpy()
    usable = np.asarray(converted["harmonised"], dtype=bool) & course_known
    courses = _course_frame(source.courses)
    data = _derive(_lean_columns(raw, converted, usable), courses, findings, _excluded_counts(converted, course_known, usable), settings)
    return replace(data, conversions=_conversions(raw, converted, source))


HARMONISED_COLUMNS = ("test", "unit", "value", "lower_limit", "upper_limit", "exclusion", "harmonised")


def lab_data_from_cohort_parts(data: LabData, settings: LabSettings) -> LabData:
    """The same rows re-derived under other settings (e.g. another baseline window)."""
    columns = ["course_idx", "day", "month", "visit", "test", "unit", "value", "lower_limit", "upper_limit"]
    derived = _derive({c: data.labs[c].array if c in ("test", "unit") else data.labs[c].to_numpy() for c in columns},
                      data.courses, data.findings, data.excluded, settings)
    return replace(derived, conversions=data.conversions)


def _conversions(raw: pd.DataFrame, converted: dict, cohort: Cohort | None = None) -> pd.DataFrame:
    """Rows per test and unit as given, the unit they were converted to, and how many were left out."""
    if "_pairs" in converted:
        return pair_summary(converted)
    if "test_as_given" in raw and "unit_as_given" in raw:  # harmonised by the loader
        pairs = _given_pairs(raw, converted) if cohort is None else cohort.derived(
            ("labs.given_pairs",), lambda: _given_pairs(raw, converted),
            lambda whole, lineage, _: (whole[0][lineage.rows["labs"]], whole[1]))
        table = pair_summary({"_pairs": pairs, "harmonised": np.asarray(converted["harmonised"], dtype=bool)})
        return table[table["rows"] > 0].reset_index(drop=True)  # pairs of the whole cohort absent from a subset
    frame = pd.DataFrame({"test": np.asarray(converted["test"], dtype=object), "unit_as_given": raw["unit_as_given"].astype(object).fillna("(none)"),
                          "unit": np.asarray(converted["unit"], dtype=object), "excluded": ~np.asarray(converted["harmonised"], dtype=bool)})
    return frame.groupby(["test", "unit_as_given"], as_index=False, dropna=False).agg(
        unit=("unit", "first"), rows=("excluded", "size"), excluded=("excluded", "sum"))


def _given_pairs(raw: pd.DataFrame, converted: dict) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's distinct (test, unit) pair as given and, per pair, the label and unit it was
    converted to: the plan `lab_units` made when the loader harmonised the rows."""
    name_ids = pd.factorize(raw["test_as_given"], use_na_sentinel=True)[0].astype("int64")
    unit_ids, units = pd.factorize(raw["unit_as_given"], use_na_sentinel=True)
    pair_ids, _ = pd.factorize((name_ids + 1) * (len(units) + 1) + unit_ids + 1)
    first = np.flatnonzero(~pd.Series(pair_ids).duplicated().to_numpy())  # pair k first appears at first[k]
    plan = pd.DataFrame({"label": pd.Series(converted["test"]).iloc[first].to_numpy(dtype=object),
                         "unit": pd.Series(converted["unit"]).iloc[first].to_numpy(dtype=object),
                         "unit_given": raw["unit_as_given"].iloc[first].to_numpy(dtype=object)})
    return pair_ids, plan


def _excluded_counts(converted: dict, course_known: np.ndarray, usable: np.ndarray) -> pd.DataFrame:
    """Rows left out of the analysis, per test and reason."""
    left_out = ~usable
    if not left_out.any():
        return pd.DataFrame({"test": pd.Series(dtype="object"), "reason": pd.Series(dtype="object"), "rows": pd.Series(dtype="int64")})
    reasons = exclusion_reasons(converted) if "_pairs" in converted else np.asarray(converted["exclusion"], dtype=object)
    reason = pd.Series(reasons[left_out], dtype=object).fillna("course not loaded")
    reason[~course_known[left_out]] = "course not loaded"
    test = pd.Series(np.asarray(converted["test"], dtype=object)[left_out]).fillna("(none)").astype(str)
    return pd.DataFrame({"test": test, "reason": reason}).value_counts().rename("rows").reset_index()


def _course_frame(courses: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({
        "course_idx": courses["course_idx"].to_numpy(dtype="int64"),
        "end_day": pd.to_numeric(courses["end_day"], errors="coerce").to_numpy(dtype="float", na_value=np.nan),
        "can_become_pregnant": courses["can_become_pregnant"].astype("object").to_numpy()
        if "can_become_pregnant" in courses else np.full(len(courses), None, dtype="object"),
    })
    frame["label"] = (courses["patient_id"].astype(str) + " · course " + courses["course_number"].astype("Int64").astype(str)).to_numpy()
    return frame


def _lean_columns(raw: pd.DataFrame, converted: dict, usable: np.ndarray) -> dict:
    """The columns the analysis reads, for usable rows with a known day."""
    day = pd.to_numeric(raw["day"], errors="coerce").to_numpy(dtype="float", na_value=np.nan)
    keep = usable & np.isfinite(day)
    everything = bool(keep.all())

    def kept(values):
        return values if everything else values[keep]

    visit = (map_distinct(raw["visit"] if everything else raw["visit"][keep], lambda v: (str(v).strip() or None) if v is not None else None)
             if "visit" in raw else np.full(int(keep.sum()), None, dtype=object))
    day = kept(day)
    month = day / DAYS_PER_MONTH
    return {
        "course_idx": kept(raw["course_idx"].to_numpy(dtype="float", na_value=np.nan)).astype("int64"),
        "day": day,
        "month": np.sign(month) * np.floor(np.abs(month) + 0.5) + 0.0,
        "visit": visit,
        "test": kept(_as_categorical(converted["test"])),
        "unit": kept(_as_categorical(converted["unit"])),
        **{c: kept(np.asarray(converted[c], dtype="float")) for c in ("value", "lower_limit", "upper_limit")},
    }


def _as_categorical(values) -> pd.Categorical:
    values = pd.Series(values) if not isinstance(values, pd.Series) else values
    if isinstance(values.dtype, pd.CategoricalDtype):  # unused categories dropped, in one counting pass
        codes, categories = values.cat.codes.to_numpy().astype("int64"), values.cat.categories
        used = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
        if not used.all():
            codes = np.where(codes >= 0, (np.cumsum(used) - 1)[np.maximum(codes, 0)], -1)
            categories = categories[used]
        return pd.Categorical.from_codes(codes, categories.astype(str))
    return pd.Categorical(values.astype("object").fillna("").astype(str))


def _derive(columns: dict, courses: pd.DataFrame, findings: pd.DataFrame, excluded: pd.DataFrame,
            settings: LabSettings) -> LabData:
    """Period, baseline, above the limit and CTCAE grade for every row, built into one frame."""
    columns = dict(columns)
    course_idx, day, value = columns["course_idx"], columns["day"], columns["value"]
    upper = columns["upper_limit"]
    period = _periods(day, _course_lookup(courses, "end_day", course_idx), settings.baseline_days)
    test = columns["test"]
    codes = np.asarray(test.codes)
    baselines, key = _baselines(course_idx, day, test, value, upper, columns["lower_limit"], period)
    found = key >= 0
    baseline = np.where(found, baselines["baseline"].to_numpy()[key], np.nan) if len(baselines) else np.full(day.size, np.nan)
    baseline_upper = np.where(found, baselines["baseline_upper"].to_numpy()[key], np.nan) if len(baselines) else np.full(day.size, np.nan)
    columns.update({
        "period": pd.Categorical.from_codes(period, PERIODS),
        "baseline": baseline,
        "above_uln": _compare(value, upper, np.greater),
    })
    positions = _positions(codes, test.categories)
    columns["grade"] = grade_rows({"value": value, "upper_limit": upper, "baseline": baseline, "baseline_upper": baseline_upper}, positions)
    return LabData(pd.DataFrame(columns, copy=False), baselines, courses, findings, excluded, settings, positions)


def _positions(codes: np.ndarray, categories) -> dict[str, np.ndarray]:
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(categories) + 1))
    return {str(test): order[bounds[i]:bounds[i + 1]] for i, test in enumerate(categories)}


def _course_lookup(courses: pd.DataFrame, column: str, course_idx: np.ndarray) -> np.ndarray:
    """A float course attribute for each row, by dense array indexing (fast at millions of rows)."""
    size = int(max(courses["course_idx"].max() if len(courses) else 0, course_idx.max() if course_idx.size else 0)) + 1
    dense = np.full(size, np.nan)
    dense[courses["course_idx"].to_numpy()] = courses[column].to_numpy(dtype="float")
    return dense[course_idx]


def _periods(day: np.ndarray, end_day: np.ndarray, baseline_days: int) -> np.ndarray:
    """Codes into PERIODS: before, baseline, on_treatment, after."""
    after = np.isfinite(end_day) & (day > end_day)
    return np.select([day < -baseline_days, day <= 0, after], [0, 1, 3], 2).astype("int8")


def _compare(value: np.ndarray, limit: np.ndarray, op) -> np.ndarray:
    """1.0 / 0.0 where the limit is known, NaN where it is not (float, so sums and maxima are fast)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(limit) & np.isfinite(value), op(value, limit).astype(float), np.nan)


def _change(labs: pd.DataFrame) -> np.ndarray:
    """Change from the course's baseline, for results after the first dose."""
    day, value, baseline = (labs[c].to_numpy(dtype="float") for c in ("day", "value", "baseline"))
    return np.where(day >= 1, value - baseline, np.nan)


def _below(labs: pd.DataFrame) -> np.ndarray:
    return _compare(labs["value"].to_numpy(dtype="float"), labs["lower_limit"].to_numpy(dtype="float"), np.less)


def uln_multiple(labs: pd.DataFrame) -> np.ndarray:
    """Each result as a multiple of its upper limit (NaN where the limit is unknown or zero)."""
    value, upper = labs["value"].to_numpy(dtype="float"), labs["upper_limit"].to_numpy(dtype="float")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(upper > 0, value / upper, np.nan)


def _baselines(course_idx: np.ndarray, day: np.ndarray, test: pd.Categorical, value: np.ndarray, upper: np.ndarray,
               lower: np.ndarray, period: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Each course's last result per test in the baseline window (with its limits and grade), and
    for every row the position of its course and test in that table (-1 where there is none)."""
    width = len(test.categories) + 1
    pair = course_idx * width + np.asarray(test.codes)
    rows = np.flatnonzero(period == 1)
    rows = rows[np.lexsort((day[rows], pair[rows]))]
    last = rows[np.r_[pair[rows][1:] != pair[rows][:-1], True]] if rows.size else rows
    table = pd.DataFrame({
        "course_idx": course_idx[last], "test": np.asarray(test.categories, dtype=object)[np.asarray(test.codes)[last]],
        "baseline": value[last], "baseline_upper": upper[last], "baseline_lower": lower[last],
    })
    table["baseline_grade"] = grade_rows(table.rename(columns={"baseline": "value", "baseline_upper": "upper_limit"}), with_baseline=False)
    key = pd.Index(pair[last]).get_indexer(pair) if last.size else np.full(day.size, -1)
    return table, key


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


def _multiples(v: np.ndarray, reference: np.ndarray, cuts: tuple[float, ...], first_inclusive: bool = False) -> np.ndarray:
    """Grade by multiples of a reference: above cuts[0] x ref is G1 (or at it, if inclusive), ... above cuts[3] x ref G4."""
    with np.errstate(invalid="ignore"):
        first = v >= cuts[0] * reference if first_inclusive else v > cuts[0] * reference
        grade = np.select([v > cuts[3] * reference, v > cuts[2] * reference, v > cuts[1] * reference, first], [4, 3, 2, 1], 0)
    return np.where(np.isfinite(v) & np.isfinite(reference) & (reference > 0), grade.astype(float), np.nan)


def grade_rows(labs, positions: dict | None = None, with_baseline: bool = True) -> np.ndarray:
    """CTCAE grade of every row of a frame (or dict of columns); NaN for tests without a CTCAE rule here."""
    value, upper = np.asarray(labs["value"], dtype="float"), np.asarray(labs["upper_limit"], dtype="float")
    grades = np.full(value.size, np.nan)
    baseline = np.asarray(labs["baseline"], dtype="float") if with_baseline and "baseline" in labs else None
    baseline_uln = np.asarray(labs["baseline_upper"], dtype="float") if with_baseline and "baseline_upper" in labs else None
    tests = None if positions is not None else np.asarray(labs["test"], dtype=object).astype(str)
    for test in GRADED_TESTS:
        rows = positions.get(test, np.array([], dtype="int64")) if positions is not None else np.flatnonzero(tests == test)
        if rows.size == 0:
            continue
        grades[rows] = ctcae_grade(test, value[rows], upper[rows], None if baseline is None else baseline[rows],
                                   None if baseline_uln is None else baseline_uln[rows])
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
    return pd.DataFrame({
        "share": np.where(empty, np.nan, k / safe_n), "ci_low": np.where(empty, np.nan, low),
        "ci_high": np.where(empty, np.nan, high),
    })


def grouped_moments(values: np.ndarray, ids: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and sample SD (n - 1) of the finite values per integer group id, by bincount."""
    ok = np.isfinite(values)
    v, g = values[ok], ids[ok]
    n = np.bincount(g, minlength=groups).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(g, weights=v, minlength=groups) / n
        squares = np.bincount(g, weights=(v - mean[g]) ** 2, minlength=groups)
        sd = np.where(n > 1, np.sqrt(squares / np.where(n > 1, n - 1, 1)), np.nan)
    return n, mean, sd


def grouped_quantiles(values: np.ndarray, ids: np.ndarray, groups: int, quantiles=(0.25, 0.5, 0.75)) -> list[np.ndarray]:
    """Quantiles of the finite values per integer group id (0 .. groups-1), linear interpolation
    (R type 7, numpy's default); groups without values get NaN."""
    ok = np.isfinite(values)
    if not ok.any():
        return [np.full(groups, np.nan) for _ in quantiles]
    # The ids are already dense: as categorical codes they group without being hashed again.
    keys = pd.Categorical.from_codes(ids[ok], pd.RangeIndex(groups))
    grouped = pd.Series(values[ok]).groupby(keys, observed=True, sort=True)
    if tuple(quantiles) == (0.5,):  # the median alone has a much faster path
        median = grouped.median()
        return [median.set_axis(median.index.astype("int64")).reindex(range(groups)).to_numpy(dtype="float")]
    table = grouped.quantile(list(quantiles)).unstack()
    table = table.set_axis(table.index.astype("int64")).reindex(index=range(groups))
    return [table[q].to_numpy(dtype="float") for q in quantiles]


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
        from .clearance import group_values

        values = group_values(source, group_by) if isinstance(source, Cohort) else None
        if values is None:
            raise ValueError(f"The courses have no field '{group_by}' to group by")
    return pd.Series(values.to_numpy(), index=courses["course_idx"].to_numpy())


def with_course_column(labs: pd.DataFrame, group_by: str | pd.Series, source: Cohort | pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows keyed by course_idx with the course's group as column `group` ('(missing)' when unknown)."""
    groups = course_groups(group_by, source).astype("object")
    group = labs["course_idx"].map(groups).fillna(MISSING_GROUP).astype(str)
    return labs.assign(group=group.to_numpy())


DENSE_KEY_SPACE = 1_000_000


def _key_codes(column: pd.Series) -> tuple[np.ndarray, object]:
    """Codes 0..k-1 (-1 where missing) and the k values they stand for, in sorted order: categories
    as they are, whole numbers over a short range by subtraction, anything else factorised."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy().astype("int64"), column.cat.categories
    if column.dtype.kind in "iuf" and len(column):
        values = column.to_numpy()
        known = np.isfinite(values) if column.dtype.kind == "f" else np.ones(len(values), dtype=bool)
        if known.any():
            low, high = values[known].min(), values[known].max()
            whole = (values[known] == np.floor(values[known])).all() if column.dtype.kind == "f" else True
            if whole and high - low <= 4 * len(values) + 1000:
                code = np.where(known, values - low, -1).astype("int64") if not known.all() else (values - low).astype("int64")
                present = np.zeros(int(high - low) + 1, dtype=bool)
                present[code[code >= 0]] = True
                lookup = np.cumsum(present) - 1  # codes of the values that occur, in order
                return np.where(code >= 0, lookup[np.maximum(code, 0)], -1), (np.flatnonzero(present) + low).astype(values.dtype)
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
    missing = np.zeros(len(frame), dtype=bool)
    space = 1
    for code, values in zip(codes, uniques):
        combined = combined * (len(values) + 1) + code
        missing |= code < 0
        space *= len(values) + 1
    valid = combined[~missing]
    if space <= max(DENSE_KEY_SPACE, 4 * len(frame)):  # every combination fits an array: count, no hashing or sorting
        present = np.flatnonzero(np.bincount(valid, minlength=space))
        lookup = np.full(space, -1, dtype="int64")
        lookup[present] = np.arange(present.size)
        ids = lookup[valid]
    else:
        ids, present = pd.factorize(valid, sort=True)
    row_ids = np.full(len(frame), -1, dtype="int64")
    row_ids[~missing] = ids
    table = {}
    for key, values in zip(reversed(keys), reversed(uniques)):
        table[key] = np.asarray(values)[present % (len(values) + 1)]
        present = present // (len(values) + 1)
    return row_ids, pd.DataFrame({key: table[key] for key in keys})


def summary_statistics(labs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """n, mean, SD, median, quartiles, change from baseline and share above the upper limit per group of rows."""
    ids, table = group_ids(labs, keys)
    size = len(table)
    keep = ids >= 0
    ids = ids[keep]
    column = {c: labs[c].to_numpy(dtype="float")[keep] for c in ("value", "above_uln", "upper_limit")}
    column["change"] = _change(labs)[keep]
    n, mean, sd = grouped_moments(column["value"], ids, size)
    q1, median, q3 = grouped_quantiles(column["value"], ids, size)
    change_n, change_mean, change_sd = grouped_moments(column["change"], ids, size)
    (change_median,) = grouped_quantiles(column["change"], ids, size, (0.5,))
    (upper,) = grouped_quantiles(column["upper_limit"], ids, size, (0.5,))
    known = np.isfinite(column["above_uln"])
    above = np.bincount(ids[known], weights=column["above_uln"][known], minlength=size)
    limit_known = np.bincount(ids[known], minlength=size)
    table = table.assign(
        n=n.astype("int64"), mean=mean, sd=sd, median=median, q1=q1, q3=q3, upper_limit=upper,
        change_n=change_n.astype("int64"), change_mean=change_mean, change_sd=change_sd, change_median=change_median,
        above_uln_n=np.rint(above).astype("int64"), limit_known_n=limit_known.astype("int64"),
    )
    shares = proportion_intervals(table["above_uln_n"], table["limit_known_n"])
    table["above_uln"], table["ci_low"], table["ci_high"] = shares["share"].to_numpy(), shares["ci_low"].to_numpy(), shares["ci_high"].to_numpy()
    return table[table["n"] > 0].reset_index(drop=True)


PHASES = {"course": "up to the last dose", "after": "after the last dose"}


def trend_table(source: Cohort | LabData, settings: LabSettings | None = None, group_by: str | pd.Series | None = None,
                tests: tuple[str, ...] | None = None, cohort: Cohort | None = None, by_phase: bool = False) -> pd.DataFrame:
    """Per test, unit, time point (month or visit) and group: the summary statistics of all results.

    With `group` "visit", rows without a nominal visit are left out; visits are ordered by
    `visit_order`. `by_phase` splits each time point into results up to and after the last dose
    (at month 5, some courses are still on treatment while shorter ones have ended). `group_by`: see `course_groups` (a name needs the cohort, as source or `cohort`).
    """
    data = lab_data(source, settings)
    settings = settings or data.settings
    time = settings.group
    labs = data.rows(tests, columns=["day", time, "unit", "value", "baseline", "above_uln", "upper_limit"])
    known_time = labs[time].notna().to_numpy()
    if not known_time.all():
        labs = labs[known_time]
    keys = ["test", "unit"]
    if group_by is not None:
        labs = with_course_column(labs, group_by, cohort if cohort is not None else source)
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
    summary = pd.DataFrame({"visit": rows["visit"], "position": position, "day": rows["day"]}).groupby("visit")
    order = pd.DataFrame({"position": summary["position"].mean(), "day": summary["day"].median()}).sort_values(["position", "day"])
    return pd.Series(np.arange(1, len(order) + 1), index=order.index)


# ---------------------------------------------------------------------------------------------
# Out of range: new abnormalities, low/normal/high per course, grade shifts


def new_abnormal_flags(source: Cohort | LabData, tests: tuple[str, ...]) -> pd.DataFrame:
    """Courses with a normal baseline (every baseline of `tests` known and at or below its upper
    limit) and a result on treatment, and whether any result on treatment was above the limit."""
    data = lab_data(source)
    return memoised(data, ("new_abnormal_flags", tuple(tests)), lambda: _new_abnormal_flags(data, tuple(tests)))


def _new_abnormal_flags(data: LabData, tests: tuple[str, ...]) -> pd.DataFrame:
    # Per course by dense arrays indexed by course_idx (no hashing or sorting at millions of rows).
    base = data.baselines[data.baselines["test"].isin(tests).to_numpy()]
    course = base["course_idx"].to_numpy(dtype="int64")
    value, upper = base["baseline"].to_numpy(dtype="float"), base["baseline_upper"].to_numpy(dtype="float")
    with np.errstate(invalid="ignore"):
        normal = ~np.isnan(value) & ~np.isnan(upper) & (value <= upper)
    on = data.rows(tests, ["on_treatment"], ["above_uln"])
    on_course, above = on["course_idx"].to_numpy(dtype="int64"), on["above_uln"].to_numpy(dtype="float")
    size = int(max(course.max(initial=-1), on_course.max(initial=-1))) + 1
    has_baseline, abnormal_baseline = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
    has_baseline[course] = True
    abnormal_baseline[course[~normal]] = True
    counted = ~np.isnan(above) & (has_baseline & ~abnormal_baseline)[on_course]
    results = np.bincount(on_course[counted], minlength=size)
    raised = np.bincount(on_course[counted], weights=above[counted], minlength=size)
    courses = np.flatnonzero(results > 0)
    return pd.DataFrame({"course_idx": courses.astype("int64"), "new_abnormal": raised[courses] > 0})


def new_abnormal(source: Cohort | LabData, tests: tuple[str, ...] = ("ALT", "AST")) -> Estimate:
    """Share of courses with a normal baseline reaching above the upper limit on treatment (C13, C14)."""
    flags = new_abnormal_flags(source, tuple(tests))
    return proportion(int(flags["new_abnormal"].sum()), len(flags))


def new_abnormal_table(source: Cohort | LabData, group_by: str | pd.Series | None = None, cohort: Cohort | None = None) -> pd.DataFrame:
    """One row per measure (and group): courses at risk, with a new abnormality, share, CI, literature."""
    data = lab_data(source)
    rows = []
    for label, (tests, key) in NEW_ABNORMAL_MEASURES.items():
        if not any(data.has(t) for t in tests):
            continue
        flags = new_abnormal_flags(data, tests)
        if group_by is not None:
            flags = with_course_column(flags, group_by, cohort if cohort is not None else source)
        else:
            flags = flags.assign(group="all courses")
        counts = flags.groupby("group")["new_abnormal"].agg(["sum", "size"])
        literature = reference(key) if key else None
        for group, (k, n) in counts.iterrows():
            rows.append({"measure": label, "tests": "/".join(tests), "group": group, "courses": int(n), "new_abnormal_n": int(k),
                         "literature": literature.value if literature else None,
                         "literature_source": literature.source if literature else ""})
    table = pd.DataFrame(rows, columns=["measure", "tests", "group", "courses", "new_abnormal_n", "literature", "literature_source"])
    shares = proportion_intervals(table["new_abnormal_n"], table["courses"])
    return pd.concat([table, shares.rename(columns={"share": "new_abnormal"})], axis=1)


def range_categories(labs: pd.DataFrame, keys: list[str], rule: str = "any") -> pd.DataFrame:
    """Each course's low / normal / high category per group of keys, from the given lab rows.

    Rules (RANGE_RULES): "any" counts a course high if any value was above the upper limit, else
    low if any was below the lower limit; "most_extreme" takes the single value lying furthest
    beyond 1.5 x upper limit or below 0.5 x lower limit (the first such value on ties), the rule of
    the CDISC pilot's analysis flag, and classifies it.
    """
    rows = labs[labs["upper_limit"].notna().to_numpy() | labs["lower_limit"].notna().to_numpy()]
    group_keys = [*keys, "course_idx"]
    if rule == "any":
        ids, table = group_ids(rows, group_keys)
        known = ids >= 0
        high = np.bincount(ids[known], weights=(rows["above_uln"].to_numpy() == 1)[known], minlength=len(table)) > 0
        low = np.bincount(ids[known], weights=(_below(rows) == 1)[known], minlength=len(table)) > 0
        return table.assign(category=np.where(high, "high", np.where(low, "low", "normal")))
    if rule != "most_extreme":
        raise ValueError(f"Unknown range rule '{rule}'")
    rows = rows.sort_values([*group_keys, "day"], kind="stable")
    beyond = np.fmax(rows["value"] - 1.5 * rows["upper_limit"], 0.5 * rows["lower_limit"] - rows["value"])
    pick = beyond.groupby([rows[k] for k in group_keys], sort=False, observed=True).idxmax().dropna()
    chosen = rows.loc[pick.to_numpy()]
    category = np.where(chosen["above_uln"] == 1, "high", np.where(_below(chosen) == 1, "low", "normal"))
    return chosen[group_keys].assign(category=category).reset_index(drop=True)


def range_category_counts(labs: pd.DataFrame, keys: list[str], rule: str = "any") -> pd.DataFrame:
    """Courses low / normal / high per group of keys (the CDISC 14-6.02 layout)."""
    categories = range_categories(labs, keys, rule)
    counts = categories.groupby([*keys, "category"], observed=True).size().unstack("category", fill_value=0)
    counts = counts.reindex(columns=["low", "normal", "high"], fill_value=0)
    counts["courses"] = counts.sum(axis=1)
    return counts.reset_index().rename_axis(columns=None)


def on_treatment_ranges(source: Cohort | LabData, tests: tuple[str, ...] | None = None, group_by: str | pd.Series | None = None,
                        cohort: Cohort | None = None) -> pd.DataFrame:
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
    base = data.baselines[data.baselines["test"] == test].set_index("course_idx")["baseline_grade"]
    baseline = pd.Series(worst.index.map(base), dtype="float")
    frame = pd.DataFrame({"baseline grade": baseline.map(GRADE_LABELS).fillna(NO_BASELINE_GRADE).to_numpy(),
                          "worst grade on treatment": worst.map(GRADE_LABELS).to_numpy()})
    matrix = pd.crosstab(frame["baseline grade"], frame["worst grade on treatment"])
    order = [*GRADE_LABELS.values()]
    matrix = matrix.reindex(index=[*order, NO_BASELINE_GRADE], columns=order, fill_value=0)
    matrix["courses"] = matrix.sum(axis=1)
    return matrix.rename_axis(index="baseline grade", columns=None).reset_index()


def _worst_grades(data: LabData, test: str) -> pd.Series:
    """Each course's worst CTCAE grade of one test on treatment."""
    on = data.rows([test], ["on_treatment"], ["grade"])
    return on[on["grade"].notna().to_numpy()].groupby("course_idx")["grade"].max()


def grade_at_least(source: Cohort | LabData, test: str, grade: int = 3) -> Estimate:
    """Share of courses with a graded result on treatment whose worst grade reached `grade`."""
    data = lab_data(source)
    worst = _worst_grades(data, test)
    return proportion(int((worst >= grade).sum()), len(worst))


def grade_summary(source: Cohort | LabData) -> pd.DataFrame:
    """Per graded test: courses graded on treatment and the share reaching grade >= 1, >= 2, >= 3."""
    data = lab_data(source)
    rows = []
    for test in [t for t in GRADED_TESTS if data.has(t)]:
        grades = _worst_grades(data, test)
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


def recovery_after_course(source: Cohort | LabData, tests: tuple[str, ...] = ("ALT", "AST", "TG", "TC")) -> pd.DataFrame:
    """Courses still above the upper limit at their last result on treatment, and the days from the
    last dose until a later result was back within the limit (Kaplan-Meier; courses never seen
    back are censored at their last result)."""
    from .survival import fit_km

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
        rows.append({"test": test, "raised_at_end": len(raised), "followed_after": len(last_seen), "back_within_limit": int(back.size),
                     "median_days": km.median_day, "median_ci_low": km.median_ci[0], "median_ci_high": km.median_ci[1]})
    return pd.DataFrame(rows, columns=["test", "raised_at_end", "followed_after", "back_within_limit", "median_days",
                                       "median_ci_low", "median_ci_high"])


# ---------------------------------------------------------------------------------------------
# Liver injury (eDISH) and individual courses


def edish_points(source: Cohort | LabData) -> pd.DataFrame:
    """Per course with both on treatment: peak ALT and peak total bilirubin as multiples of the upper limit."""
    data = lab_data(source)
    on = data.rows(["ALT", "BILI"], ["on_treatment"], ["value", "upper_limit"])
    on = on.assign(uln_multiple=uln_multiple(on))
    peaks = on[on["uln_multiple"].notna().to_numpy()].groupby(["course_idx", "test"], observed=True)["uln_multiple"].max().unstack("test")
    if not {"ALT", "BILI"} <= set(peaks.columns):
        return pd.DataFrame(columns=["course_idx", "alt_uln", "bili_uln", "label", "quadrant"])
    peaks = peaks.dropna(subset=["ALT", "BILI"])
    points = pd.DataFrame({"course_idx": peaks.index.to_numpy(dtype="int64"), "alt_uln": peaks["ALT"].to_numpy(),
                           "bili_uln": peaks["BILI"].to_numpy()})
    points["label"] = points["course_idx"].map(data.courses.set_index("course_idx")["label"])
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
    return np.select([alt_high & bili_high, bili_high, alt_high], ["hys_law", "hyperbilirubinaemia", "temple"], "normal")


def spaghetti_sample(source: Cohort | LabData, test: str, max_courses: int | None = None, seed: int = 0) -> tuple[pd.DataFrame, int]:
    """Results of one test for at most `max_courses` courses drawn at random (seeded), and how many
    courses had the test. Rows sorted by course and day, with the course's pseudonymous label."""
    data = lab_data(source)
    limit = max_courses or data.settings.spaghetti_courses
    rows = data.rows([test])
    courses = np.sort(rows["course_idx"].unique())
    chosen = courses if courses.size <= limit else np.sort(np.random.default_rng(seed).choice(courses, limit, replace=False))
    sample = rows[rows["course_idx"].isin(chosen)].sort_values(["course_idx", "day"])
    sample = sample.assign(label=sample["course_idx"].map(data.courses.set_index("course_idx")["label"]))
    return sample[["course_idx", "label", "day", "month", "value", "unit", "upper_limit", "period"]], int(courses.size)


# ---------------------------------------------------------------------------------------------
# Monitoring compliance (C18) and pregnancy tests (C19)


def monitoring_flags(source: Cohort | LabData) -> pd.DataFrame:
    """Per course: liver and lipid tests at baseline, on treatment, around month 1, at least every 3 months."""
    data = lab_data(source)
    return memoised(data, ("monitoring_flags",), lambda: _monitoring_flags(data))


def _monitoring_flags(data: LabData) -> pd.DataFrame:
    settings = data.settings
    flags = pd.DataFrame({"course_idx": data.courses["course_idx"].to_numpy(), "end_day": data.courses["end_day"].to_numpy()})
    for name, tests in (("liver", LIVER_TESTS), ("lipid", LIPID_TESTS)):
        rows = data.rows(tests, columns=["day"])
        for period in ("baseline", "on_treatment"):
            done = rows.loc[rows["period"] == period, "course_idx"].unique()
            flags[f"{name}_{period}"] = flags["course_idx"].isin(done).to_numpy()
        flags[f"{name}_month1"], flags[f"{name}_every_3_months"] = _schedule(rows, flags, settings)
        flags[f"{name}_eu_schedule"] = flags[f"{name}_baseline"] & flags[f"{name}_month1"] & flags[f"{name}_every_3_months"]
    flags["baseline_and_on_treatment"] = (flags["liver_baseline"] & flags["liver_on_treatment"]
                                          & flags["lipid_baseline"] & flags["lipid_on_treatment"])
    flags["eu_schedule"] = flags["liver_eu_schedule"] & flags["lipid_eu_schedule"]
    return flags


def _schedule(rows: pd.DataFrame, flags: pd.DataFrame, settings: LabSettings) -> tuple[np.ndarray, np.ndarray]:
    """Month-1 test and no gap over `max_gap_days` from the month-1 window to the last dose.

    Courses whose last dose came before the month-1 window ends need no month-1 test; courses
    without a known last dose cannot be judged and count as not on schedule.
    """
    start, stop = settings.month1_window
    end = pd.Series(flags["end_day"].to_numpy(), index=flags["course_idx"].to_numpy())
    tested = rows[(rows["day"] >= start)][["course_idx", "day"]].drop_duplicates()
    tested = tested[tested["day"] <= tested["course_idx"].map(end).fillna(-np.inf)].sort_values(["course_idx", "day"])
    first = tested.groupby("course_idx")["day"].min()
    last = tested.groupby("course_idx")["day"].max()
    gaps = tested.groupby("course_idx")["day"].diff().groupby(tested["course_idx"]).max()
    known_end = end.notna()
    short = known_end & (end < stop)
    month1 = short | (end.index.map(first).to_numpy(dtype="float") <= stop)
    tail = end - end.index.map(last).to_numpy(dtype="float")
    largest_gap = np.fmax(end.index.map(gaps).to_numpy(dtype="float"), tail.to_numpy())
    regular = short | (np.nan_to_num(largest_gap, nan=np.inf) <= settings.max_gap_days)
    return (month1 & known_end).to_numpy(), (regular & known_end & month1).to_numpy()


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
    table = pd.DataFrame({
        "criterion": [label.format(start=start, stop=stop) for label in COMPLIANCE_ROWS.values()],
        "key": list(COMPLIANCE_ROWS),
        "courses": len(flags),
        "met": [int(flags[key].sum()) for key in COMPLIANCE_ROWS],
    })
    return pd.concat([table, proportion_intervals(table["met"], table["courses"])], axis=1)


def pregnancy_months(source: Cohort | LabData) -> pd.DataFrame:
    """Per course that can become pregnant and has a known last dose: treatment months, months with a
    pregnancy test, a test before the first dose, after the last dose, and any positive test."""
    data = lab_data(source)
    return memoised(data, ("pregnancy_months",), lambda: _pregnancy_months(data))


def _pregnancy_months(data: LabData) -> pd.DataFrame:
    settings = data.settings
    courses = data.courses[(data.courses["can_become_pregnant"].astype(str).str.lower() == "yes")]
    courses = courses[np.isfinite(courses["end_day"].to_numpy(dtype="float"))]
    months = np.maximum(1, np.floor((courses["end_day"].to_numpy(dtype="float") + 1) / DAYS_PER_MONTH + 0.5)).astype("int64")
    table = pd.DataFrame({"course_idx": courses["course_idx"].to_numpy(), "end_day": courses["end_day"].to_numpy(), "months": months})
    tests = data.rows(["HCG"], columns=["day", "month", "above_uln"])
    tests = tests[tests["course_idx"].isin(table["course_idx"]).to_numpy()]
    month = np.where((tests["day"] >= -settings.pregnancy_lookback_days) & (tests["day"] <= 0), 0, tests["month"])
    limit = tests["course_idx"].map(table.set_index("course_idx")["months"]).to_numpy()
    inside = (month >= 0) & (month < limit)
    covered = pd.DataFrame({"course_idx": tests["course_idx"].to_numpy()[inside], "month": month[inside]}).drop_duplicates()
    index = table.set_index("course_idx").index
    table["months_tested"] = covered.groupby("course_idx").size().reindex(index, fill_value=0).to_numpy()
    end = tests["course_idx"].map(table.set_index("course_idx")["end_day"])
    before = tests.loc[(tests["day"] >= -settings.pregnancy_lookback_days) & (tests["day"] <= 0), "course_idx"].unique()
    after = tests.loc[(tests["day"] > end) & (tests["day"] <= end + 60), "course_idx"].unique()
    positive = tests.loc[tests["above_uln"] == 1, "course_idx"].unique()
    table["tested_before_start"] = table["course_idx"].isin(before).to_numpy()
    table["tested_after_end"] = table["course_idx"].isin(after).to_numpy()
    table["positive_test"] = table["course_idx"].isin(positive).to_numpy()
    return table


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
        ("Treatment months with a pregnancy test", int(table["months_tested"].sum()), int(table["months"].sum()), "months"),
        ("Courses with every treatment month tested", int((table["months_tested"] >= table["months"]).sum()), len(table), "courses"),
        ("Courses tested in the 30 days before the first dose", int(table["tested_before_start"].sum()), len(table), "courses"),
        ("Courses tested within 60 days after the last dose", int(table["tested_after_end"].sum()), len(table), "courses"),
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
        rows = self.new_abnormal[(self.new_abnormal["measure"] == measure) & (self.new_abnormal["group"] == "all courses")]
        if rows.empty:
            return proportion(0, 0)
        row = rows.iloc[0]
        return proportion(int(row["new_abnormal_n"]), int(row["courses"]))


def analyse(source: Cohort | LabData, settings: LabSettings | None = None, group_by: str | pd.Series | None = None,
            cohort: Cohort | None = None, tests: tuple[str, ...] | None = None, with_recovery: bool = True,
            by_phase: bool | None = None) -> LabAnalysis:
    """Every table of the area from one harmonised, derived copy of the lab rows.

    Trends are split into results up to and after the last dose unless groups are compared
    (`by_phase` None), so that each chart line stays readable."""
    data = lab_data(source, settings)
    cohort = cohort if cohort is not None else (source if isinstance(source, Cohort) else None)
    label = group_by if isinstance(group_by, str) else None
    new_abnormal = new_abnormal_table(data)
    if group_by is not None:
        new_abnormal = pd.concat([new_abnormal, new_abnormal_table(data, group_by, cohort)], ignore_index=True)
    flags, months = monitoring_flags(data), pregnancy_months(data)
    return LabAnalysis(
        data=data,
        trend=trend_table(data, data.settings, group_by=group_by, tests=tests, cohort=cohort,
                          by_phase=group_by is None if by_phase is None else by_phase),
        new_abnormal=new_abnormal,
        grades=grade_summary(data),
        ranges=on_treatment_ranges(data),
        recovery=recovery_after_course(data) if with_recovery else pd.DataFrame(),
        edish=edish_points(data),
        compliance=compliance_table(data, flags),
        monitoring=proportion(int(flags["baseline_and_on_treatment"].sum()), len(flags)),
        pregnancy=pregnancy_table(data, months),
        pregnancy_months=pregnancy_test_compliance(data, months),
        group_by=label,
    )


# ---------------------------------------------------------------------------------------------
# JSON summary


def summary_section(cohort: Cohort, options) -> dict:
    """The `labs` section of the JSON summary: trend rows (per group when grouped), new
    abnormalities, CTCAE grades, monitoring and pregnancy-test compliance, harmonisation counts."""
    settings = LabSettings.from_settings(getattr(options, "settings", None))
    group_by = getattr(options, "group_by", None)
    try:
        if group_by:
            course_groups(group_by, cohort)
    except ValueError:
        group_by = None
    result = analyse(cohort, settings, group_by=group_by or None, with_recovery=False, by_phase=False)
    data, time = result.data, settings.group
    keep = ["test", "unit", *(["group"] if group_by else []), time, "n", "mean", "sd", "median", "q1", "q3",
            "above_uln", "ci_low", "ci_high", "above_uln_n", "limit_known_n"]
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
            "rows_analysed": len(data.labs),
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
