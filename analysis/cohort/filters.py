"""Cohort filters: one specification, applied to the courses and carried to every table."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import pandas as pd

from analysis.cohort.model import Cohort

# Sidebar filters on course attributes: filter key -> column of the courses table.
CATEGORICAL_FILTERS = {
    "sex": "sex",
    "age_band": "age_band",
    "baseline_iga": "baseline_iga",
    "daily_dose_band": "daily_dose_band",
    "cumulative_dose_band": "cumulative_dose_band",
    "site": "site",
    "course_number": "course_number",
}
MISSING_LABEL = "(missing)"
# How course columns are named on screen, as filters and as groupings.
COLUMN_LABELS = {
    "sex": "Sex",
    "age_band": "Age band",
    "baseline_iga": "Baseline IGA",
    "daily_dose_band": "Daily dose (mg/kg/day)",
    "cumulative_dose_band": "Cumulative dose (mg/kg)",
    "site": "Site",
    "course_number": "Course number",
}


@dataclass(frozen=True)
class FilterSpec:
    """Selected values per filter; an empty selection means no restriction."""

    values: dict[str, tuple] = field(default_factory=dict)
    start_year: tuple[int, int] | None = None

    def is_empty(self) -> bool:
        return not any(self.values.values()) and self.start_year is None

    def describe(self) -> str:
        parts = [f"{key} in {', '.join(map(str, chosen))}" for key, chosen in self.values.items() if chosen]
        if self.start_year is not None:
            parts.append(f"start year {self.start_year[0]}-{self.start_year[1]}")
        return "; ".join(parts) or "all courses"


def filter_options(cohort: Cohort) -> dict[str, list]:
    """The values each filter can take in this cohort, custom columns included."""
    options = {}
    for key in [*CATEGORICAL_FILTERS, *cohort.custom_columns]:
        column = CATEGORICAL_FILTERS.get(key, key)
        if column not in cohort.courses:
            continue
        values = option_values(cohort.courses[column])
        if 1 <= len(values) <= 200:
            options[key] = values
    return options


def option_values(column: pd.Series) -> list:
    present = sorted({_option(v) for v in column.dropna().unique()}, key=lambda v: (str(type(v)), v))
    return present + ([MISSING_LABEL] if column.isna().any() else [])


def _option(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def course_mask(cohort: Cohort, spec: FilterSpec) -> pd.Series:
    courses = cohort.courses
    mask = pd.Series(True, index=courses.index)
    for key, chosen in spec.values.items():
        if not chosen:
            continue
        column = courses[CATEGORICAL_FILTERS.get(key, key)]
        wanted = [v for v in chosen if v != MISSING_LABEL]
        selected = column.isin(wanted) | (column.isna() if MISSING_LABEL in chosen else False)
        mask &= selected.fillna(False).astype(bool)
    if spec.start_year is not None:
        low, high = spec.start_year
        years = courses["start_year"]
        mask &= years.between(low, high).fillna(False).astype(bool)
    return mask


def apply_filters(cohort: Cohort, spec: FilterSpec) -> Cohort:
    if spec.is_empty():
        return cohort
    mask = course_mask(cohort, spec)
    return cohort.subset(cohort.courses.loc[mask, "course_idx"])


# The app reruns its script on every click: the filter options and the filtered cohort are kept
# with the cohort, so a rerun with the same filters reuses the same filtered cohort and every result
# memoised on it.
FILTERED_KEPT = 2  # filtered cohorts kept per cohort (each may be as large as the cohort)
_FILTERED_LOCK = threading.Lock()


def filter_choices(cohort: Cohort) -> dict[str, list]:
    """`filter_options`, computed once per cohort."""
    return cohort.memo(("filters.filter_options",), lambda: filter_options(cohort))


def filtered(cohort: Cohort, spec: FilterSpec) -> Cohort:
    """`apply_filters`, the same object again for the same filters (the last few kept)."""
    if spec.is_empty():
        return cohort
    kept: OrderedDict = cohort.memo(("filters.filtered",), OrderedDict)
    key = repr(spec)
    with _FILTERED_LOCK:
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
    subset = apply_filters(cohort, spec)
    with _FILTERED_LOCK:
        kept[key] = subset
        while len(kept) > FILTERED_KEPT:
            kept.popitem(last=False)
    return subset
