"""The cohort: the four canonical tables plus the derived fields every outcome area needs.

Derived fields are computed once, when the cohort is built, so that pages and the command line
read the same numbers. Every table carries an integer `course_idx` so that filtering the
cohort is one integer membership test per table, fast at a million courses.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .schema import COURSE_KEY, DAYS_PER_MONTH, SPECS, TABLES

DAILY_DOSE_BANDS = ("<0.5", "0.5-1.0", ">1.0")  # mg/kg/day, Lai & Barbieri 2025
CUMULATIVE_DOSE_BANDS = ("<120", "120-220", ">220")  # mg/kg, Lai & Barbieri 2025
AGE_BAND_EDGES = (0, 18, 25, 35, 200)
AGE_BAND_LABELS = ("<18", "18-24", "25-34", "35+")
LESION_COLUMNS = ("inflammatory_lesions", "noninflammatory_lesions", "nodules", "total_lesions")


@dataclass
class Cohort:
    courses: pd.DataFrame
    visits: pd.DataFrame
    adverse_events: pd.DataFrame
    labs: pd.DataFrame
    source: str = "unnamed dataset"
    synthetic: bool = False
    fingerprint: str = ""
    custom_columns: tuple[str, ...] = field(default=())

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)

    @property
    def n_courses(self) -> int:
        return len(self.courses)

    @property
    def n_patients(self) -> int:
        return int(self.courses["patient_id"].nunique())

    def row_counts(self) -> dict[str, int]:
        return {name: len(self.table(name)) for name in TABLES}

    def subset(self, course_idx: np.ndarray | pd.Index) -> "Cohort":
        """The same cohort restricted to the given courses, in every table."""
        keep = pd.Index(course_idx)
        tables = {name: _rows_of_courses(self.table(name), keep) for name in TABLES}
        return replace(self, **tables)

    @property
    def label(self) -> str:
        return f"{self.source} (synthetic demo data)" if self.synthetic else self.source


def _rows_of_courses(table: pd.DataFrame, keep: pd.Index) -> pd.DataFrame:
    return table[table["course_idx"].isin(keep)]


def empty_table(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c_spec.kind)) for c, c_spec in ((c.name, c) for c in SPECS[name].columns)})


def _dtype(kind: str) -> str:
    return {"int": "Int64", "float": "Float64", "date": "datetime64[ns]"}.get(kind, "object")


def build_cohort(tables: dict[str, pd.DataFrame], source: str, synthetic: bool = False, fingerprint: str = "") -> Cohort:
    """Cohort from already typed canonical tables (missing tables become empty ones)."""
    full = {name: tables[name] if name in tables and tables[name] is not None else empty_table(name) for name in TABLES}
    courses = full["courses"].reset_index(drop=True).copy()
    courses["course_idx"] = np.arange(len(courses), dtype=np.int64)
    others = {name: _attach_course_idx(full[name], courses) for name in TABLES[1:]}
    known = set(SPECS["courses"].names) | {"course_idx"}
    custom = tuple(c for c in courses.columns if c not in known)
    visits = derive_visits(others["visits"])
    courses = derive_courses(courses, visits)
    return Cohort(
        courses=courses,
        visits=visits,
        adverse_events=derive_day_month(others["adverse_events"], "onset_day", "onset_month"),
        labs=derive_day_month(others["labs"], "day", "month"),
        source=source,
        synthetic=synthetic,
        fingerprint=fingerprint,
        custom_columns=custom,
    )


def _attach_course_idx(table: pd.DataFrame, courses: pd.DataFrame) -> pd.DataFrame:
    """Adds course_idx; rows whose course is unknown get <NA> (the validator reports them)."""
    table = table.reset_index(drop=True)
    keys = courses[list(COURSE_KEY)].assign(course_idx=courses["course_idx"])
    merged = table.merge(keys, on=list(COURSE_KEY), how="left", sort=False)
    merged["course_idx"] = merged["course_idx"].astype("Int64")
    return merged


def month_of_day(day: pd.Series) -> pd.Series:
    """Month of course as PRODUCT.md defines it: round(day / 30.4375), half away from zero."""
    months = day.astype("Float64") / DAYS_PER_MONTH
    return (np.sign(months) * np.floor(months.abs() + 0.5)).astype("Int64")


def derive_day_month(table: pd.DataFrame, day_column: str, month_column: str) -> pd.DataFrame:
    table = table.copy()
    table[month_column] = month_of_day(table[day_column]) if len(table) else pd.Series(dtype="Int64")
    return table


def derive_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """Month, total lesions where absent, baseline values and % change from baseline.

    The baseline is the last assessment on or before day 0 (the first dose). Courses without
    one get no % change: they stay in the table and outcome areas count them as such.
    """
    visits = derive_day_month(visits, "day", "month")
    parts = visits[["inflammatory_lesions", "noninflammatory_lesions"]]
    summed = parts.sum(axis=1, min_count=2).astype("Int64")
    visits["total_lesions"] = visits["total_lesions"].astype("Int64").fillna(summed)
    visits = visits.sort_values(["course_idx", "day"], kind="stable").reset_index(drop=True)
    baseline = _baseline_visits(visits)
    for column in ("iga",) + LESION_COLUMNS:
        base = visits["course_idx"].map(baseline[column])
        visits[f"baseline_{column}"] = base.astype("Float64")
    for column in LESION_COLUMNS:
        base = visits[f"baseline_{column}"]
        change = (visits[column].astype("Float64") - base) / base * 100
        visits[f"pct_change_{column}"] = change.where(base > 0)
    return visits


def _baseline_visits(visits: pd.DataFrame) -> pd.DataFrame:
    pre = visits[visits["day"] <= 0]
    columns = ["iga", *LESION_COLUMNS]
    # Last non-missing value on or before day 0, per course and measure.
    return pre.groupby("course_idx")[columns].last()


def derive_courses(courses: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    courses = courses.copy()
    if "age" in courses and courses["age"].notna().any():
        banded = pd.cut(courses["age"].astype("float"), AGE_BAND_EDGES, right=False, labels=AGE_BAND_LABELS)
        courses["age_band"] = courses["age_band"].where(courses["age_band"].notna(), banded.astype("object"))
    courses["start_year"] = pd.to_datetime(courses["start_date"], errors="coerce").dt.year.astype("Int64")
    courses["duration_days"] = (courses["end_day"].astype("Int64") + 1)
    baseline_iga = visits[visits["day"] <= 0].groupby("course_idx")["iga"].last()
    courses["baseline_iga"] = courses["baseline_iga"].astype("Int64").fillna(courses["course_idx"].map(baseline_iga).astype("Int64"))
    integrated = _integrated_dose_mg(courses, visits)
    courses["cumulative_dose_source"] = np.where(courses["cumulative_dose_mg"].notna(), "given", np.where(integrated.notna(), "visits", "unknown"))
    courses["cumulative_dose_mg"] = courses["cumulative_dose_mg"].astype("Float64").fillna(integrated)
    weight = courses["weight_kg"].astype("Float64")
    courses["cumulative_dose_mg_per_kg"] = courses["cumulative_dose_mg"] / weight
    courses["daily_dose_mg_per_kg"] = courses["cumulative_dose_mg_per_kg"] / courses["duration_days"].astype("Float64")
    courses["daily_dose_band"] = band(courses["daily_dose_mg_per_kg"], (0.5, 1.0), DAILY_DOSE_BANDS, closed_left=True)
    courses["cumulative_dose_band"] = band(courses["cumulative_dose_mg_per_kg"], (120, 220), CUMULATIVE_DOSE_BANDS, closed_left=True)
    return courses


def band(values: pd.Series, edges: tuple[float, float], labels: tuple[str, str, str], closed_left: bool = True) -> pd.Series:
    """Three bands: below the first edge, between the edges (inclusive), above the second."""
    numeric = values.astype("float")
    result = np.select([numeric < edges[0], numeric <= edges[1], numeric > edges[1]], list(labels), default="")
    return pd.Series(result, index=values.index).replace("", pd.NA).astype("object")


def _integrated_dose_mg(courses: pd.DataFrame, visits: pd.DataFrame) -> pd.Series:
    """Total mg from visit doses: each dose holds from its visit until the next visit or the end."""
    doses = visits.loc[visits["dose_mg_per_day"].notna() & visits["course_idx"].notna(), ["course_idx", "day", "dose_mg_per_day"]]
    if doses.empty:
        return pd.Series(pd.NA, index=courses.index, dtype="Float64")
    doses = doses.sort_values(["course_idx", "day"]).copy()
    end = doses["course_idx"].map(courses.set_index("course_idx")["end_day"]).astype("float")
    start = doses["day"].clip(lower=0).astype("float")
    following = doses.groupby("course_idx")["day"].shift(-1).astype("float")
    stop = np.fmin(following.fillna(np.inf), end + 1)
    span = (stop - start).clip(lower=0)
    mg = (span * doses["dose_mg_per_day"].astype("float")).groupby(doses["course_idx"]).sum(min_count=1)
    has_end = end.notna().groupby(doses["course_idx"]).all()
    mg = mg.where(has_end)
    return courses["course_idx"].map(mg).astype("Float64")
