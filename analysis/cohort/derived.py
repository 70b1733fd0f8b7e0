"""The cohort's tables with their derived fields: the columns the engine needs go to it, the
expressions of `analysis.engine.derivations` run there, and what comes back joins the pandas rows."""

from __future__ import annotations

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
    months_of_rows,
    numbers,
    visit_fields,
    visits_with_baselines,
)
from analysis.schema import LESION_COLUMNS

VISIT_INPUTS = {
    "course_idx": pa.int64(),
    "day": pa.float64(),
    **{m: pa.int64() for m in BASELINE_MEASURES},
    "dose_mg_per_day": pa.float64(),
}
COURSE_INPUTS = {
    "course_idx": pa.int64(),
    "age": pa.float64(),
    "age_band": pa.string(),
    "start_date": pa.timestamp("ns"),
    "end_day": pa.int64(),
    "cumulative_dose_mg": pa.float64(),
    "weight_kg": pa.float64(),
    "baseline_iga": pa.int64(),
}
# Derived columns and the pandas type the outcome areas read them as.
VISIT_OUTPUTS = {
    "month": "Int64",
    "total_lesions": "Int64",
    **{f"baseline_{m}": "Float64" for m in BASELINE_MEASURES},
    **{f"pct_change_{m}": "Float64" for m in LESION_COLUMNS},
}
COURSE_OUTPUTS = {
    "age_band": "object",
    "start_year": "Int64",
    "duration_days": "Int64",
    "baseline_iga": "Int64",
    "cumulative_dose_source": "object",
    "cumulative_dose_mg": "Float64",
    "cumulative_dose_mg_per_kg": "Float64",
    "daily_dose_mg_per_kg": "Float64",
    "daily_dose_band": "object",
    "cumulative_dose_band": "object",
}
MONTH_OF = {"adverse_events": ("onset_day", "onset_month"), "labs": ("day", "month")}


def derive(courses: pd.DataFrame, others: dict[str, pd.DataFrame], engine: Engine) -> dict[str, pd.DataFrame]:
    """The four tables with every derived field; visits in course and day order."""
    visit_table = engine.table(numbers(others["visits"], VISIT_INPUTS))
    visits = _visits(others["visits"], engine.arrow(visits_with_baselines(visit_table)))
    course_table = engine.table(numbers(courses, COURSE_INPUTS))
    fields = course_fields(
        course_table, baselines(visit_fields(visit_table)), integrated_dose_mg(visit_table, course_table)
    )
    course_result = engine.arrow(fields)
    at = course_result.column("course_idx").to_numpy()  # course_idx is each course's row
    derived = {"courses": _with_columns(courses, course_result, COURSE_OUTPUTS, at), "visits": visits}
    for name, (day, month) in MONTH_OF.items():
        derived[name] = _with_month(others[name], engine, day, month)
    return derived


def _visits(visits: pd.DataFrame, result: pa.Table) -> pd.DataFrame:
    """The visits in the order the engine gave (course, then day), numbered 0..n-1, with the derived fields."""
    order = result.column(ROW).to_numpy()
    if (order[1:] < order[:-1]).any():
        visits = visits.take(order)
    visits = visits.reset_index(drop=True)
    return _with_columns(visits, result, VISIT_OUTPUTS)


def _with_columns(table: pd.DataFrame, result: pa.Table, outputs: dict[str, str], at=None) -> pd.DataFrame:
    table = table.copy(deep=False)
    for name, dtype in outputs.items():
        table[name] = pd.Series(column(result, name, dtype, at), index=table.index, dtype=dtype)
    return table


def _with_month(table: pd.DataFrame, engine: Engine, day: str, month: str) -> pd.DataFrame:
    result = engine.arrow(months_of_rows(engine.table(numbers(table, {day: pa.float64()})), day))
    table = table.copy(deep=False)
    at = result.column(ROW).to_numpy()
    table[month] = pd.Series(column(result, "month", "Int64", at), index=table.index)
    return table
