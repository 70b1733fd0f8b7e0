"""The cohort's tables with their derived fields: the columns the engine needs go to it, the
expressions of `analysis.engine.derivations` run there, and what comes back joins the pandas rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.engine.connection import Engine
from analysis.engine.derivations import (
    BASELINE_MEASURES,
    ROW,
    baselines,
    column,
    course_fields,
    integrated_dose_mg,
    last_visit_days,
    months_of_rows,
    numbers,
    percent_changes,
    visit_fields,
)
from analysis.schema import LESION_COLUMNS

VISIT_INPUTS = {
    "course_idx": pa.int32(),
    "day": pa.float64(),
    **{m: pa.int32() for m in BASELINE_MEASURES},
    "dose_mg_per_day": pa.float64(),
}
COURSE_INPUTS = {
    "course_idx": pa.int32(),
    "age": pa.float64(),
    "age_band": pa.string(),
    "start_date": pa.timestamp("ns"),
    "end_day": pa.int64(),
    "cumulative_dose_mg": pa.float64(),
    "weight_kg": pa.float64(),
    "baseline_iga": pa.int64(),
}
# Derived columns and the pandas type the outcome areas read them as.
VISIT_OUTPUTS = {"month": "Int64", "total_lesions": "Int64"}
CHANGE_OUTPUTS = {f"pct_change_{m}": "Float64" for m in LESION_COLUMNS}
COURSE_OUTPUTS = {
    "age_band": "category",
    "start_year": "Int64",
    "duration_days": "Int64",
    "baseline_iga": "Int64",
    "cumulative_dose_source": "category",
    "cumulative_dose_mg": "Float64",
    "cumulative_dose_mg_per_kg": "Float64",
    "daily_dose_mg_per_kg": "Float64",
    "daily_dose_band": "category",
    "cumulative_dose_band": "category",
    "last_month": "Int64",
}
MONTH_OF = {"adverse_events": ("onset_day", "onset_month"), "labs": ("day", "month")}


def derive(courses: pd.DataFrame, others: dict[str, pd.DataFrame], engine: Engine) -> dict[str, pd.DataFrame]:
    """The four tables with every derived field; visits in course and day order.

    Only per-course results (baselines, course fields) and per-row values come back from the engine,
    unordered, each placed by its course or row: no table is sorted or held whole by the engine."""
    months = {name: _with_month(others[name], engine, day, month) for name, (day, month) in MONTH_OF.items()}
    visits = _in_course_day_order(others["visits"])
    visit_table = engine.table(numbers(visits, VISIT_INPUTS))
    fields = visit_fields(visit_table)
    base = engine.arrow(baselines(fields))
    base_table = engine.table(base)
    changes = engine.arrow(percent_changes(fields, base_table))
    visit_at = changes.column(ROW).to_numpy()
    visits = _with_baselines(_with_columns(visits, changes, VISIT_OUTPUTS, visit_at), base, len(courses))
    visits = _with_columns(visits, changes, CHANGE_OUTPUTS, visit_at)
    del changes, visit_at  # the engine's copy goes as soon as the columns are in (a million courses need the room)
    course_table = engine.table(numbers(courses, COURSE_INPUTS))
    per_course = engine.arrow(
        course_fields(
            course_table,
            base_table,
            integrated_dose_mg(visit_table, course_table),
            last_visit_days(visit_table, course_table),
        )
    )
    courses = _with_columns(courses, per_course, COURSE_OUTPUTS, per_course.column("course_idx").to_numpy())
    return {"courses": courses, "visits": visits} | months


def _in_course_day_order(visits: pd.DataFrame) -> pd.DataFrame:
    """The visits by course, then day, stable, missing values last, numbered 0..n-1; most exports are
    in that order already (no sort, no copy)."""
    course = visits["course_idx"].to_numpy(dtype="float", na_value=np.nan)
    day = pd.to_numeric(visits["day"], errors="coerce").to_numpy(dtype="float", na_value=np.nan)
    if np.isnan(course).any() or np.isnan(day).any() or not in_course_day_order(course, day):
        visits = visits.take(np.lexsort((np.nan_to_num(day), np.isnan(day), np.nan_to_num(course), np.isnan(course))))
    return visits.reset_index(drop=True)


def in_course_day_order(course: np.ndarray, day: np.ndarray) -> bool:
    """Are the rows sorted by course, then day (no value missing)?"""
    step = np.diff(course)
    return bool(np.all((step > 0) | ((step == 0) & (np.diff(day) >= 0))))


def _with_baselines(visits: pd.DataFrame, base: pa.Table, n_courses: int) -> pd.DataFrame:
    """Each visit's course baselines (the engine's per-course result, looked up by course)."""
    course = visits["course_idx"].to_numpy(dtype="int64", na_value=n_courses)  # no course: the missing row
    at = base.column("course_idx").to_numpy()
    visits = visits.copy(deep=False)
    for measure in BASELINE_MEASURES:
        name = f"baseline_{measure}"
        per_course = column(base, name, "Float64", at, n_courses + 1)
        visits[name] = pd.Series(per_course.take(course), index=visits.index)
    return visits


def _with_columns(table: pd.DataFrame, result: pa.Table, outputs: dict[str, str], at: np.ndarray) -> pd.DataFrame:
    """The table with the result's columns, each result row's value at its position `at`."""
    table = table.copy(deep=False)
    for name, dtype in outputs.items():
        table[name] = pd.Series(column(result, name, dtype, at, len(table)), index=table.index, dtype=dtype)
    return table


def _with_month(table: pd.DataFrame, engine: Engine, day: str, month: str) -> pd.DataFrame:
    result = engine.arrow(months_of_rows(engine.table(numbers(table, {day: pa.float64()})), day, month))
    return _with_columns(table, result, {month: "Int64"}, result.column(ROW).to_numpy())
