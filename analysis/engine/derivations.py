"""The cohort's derived fields, written once as ibis expressions and run by the engine.

Visits get their month, total lesions (when only its parts are given), the course's baseline values
and the % change from them; courses get age bands, start year, duration, baseline IGA, the dose
integrated from visit doses, dose per kg and dose bands, and the month of the later of the last dose and
the last visit in the course window; side effects and lab results get their
month. Expressions read plain columns plus `row` (the row's position in the table as given), and
every result comes back ordered, so it lines up with the pandas rows it belongs to.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.schema import (
    AGE_BAND_LIMITS,
    CUMULATIVE_DOSE_BANDS,
    CUMULATIVE_DOSE_EDGES,
    DAILY_DOSE_BANDS,
    DAILY_DOSE_EDGES,
    DAYS_PER_MONTH,
    END_WINDOW_AFTER_DAYS,
    LESION_COLUMNS,
)

BASELINE_MEASURES = ("iga",) + LESION_COLUMNS

ROW = "row"


def month(day: ibis.Value) -> ibis.Value:
    """Month of course (PRODUCT.md): round(day / 30.4375), half away from zero, spelt out with floor
    so that every engine rounds alike; a missing day has no month."""
    months = day.cast("float64") / DAYS_PER_MONTH
    return (months.sign() * (months.abs() + 0.5).floor()).cast("int64")


def band(values: ibis.Value, edges: tuple[float, float], labels: tuple[str, str, str]) -> ibis.Value:
    """Three bands: below the first edge, between the edges (inclusive), above the second; none when missing."""
    return ibis.cases(
        (values < edges[0], labels[0]), (values <= edges[1], labels[1]), (values > edges[1], labels[2])
    ).cast("string")


def age_band(age: ibis.Value) -> ibis.Value:
    return ibis.cases(*[((age >= low) & (age < high), label) for low, high, label in AGE_BAND_LIMITS]).cast("string")


# ---------------------------------------------------------------------------------------------
# Visits


def visit_fields(visits: ibis.Table) -> ibis.Table:
    """Month, and total lesions where absent (missing if either part is)."""
    return visits.mutate(
        month=month(visits.day),
        total_lesions=visits.total_lesions.fill_null(visits.inflammatory_lesions + visits.noninflammatory_lesions),
    )


def baselines(visits: ibis.Table) -> ibis.Table:
    """Per course, each measure's baseline: its last value (missing ones skipped) on or before day 0
    (the first dose), the last by day and then as given."""
    before = visits.filter(visits.day <= 0, visits.course_idx.notnull())
    by_day = ibis.window(group_by=before.course_idx, order_by=[before.day, before[ROW]])
    before = before.mutate(visit_order=ibis.row_number().over(by_day))
    return before.group_by("course_idx").aggregate(
        **{
            f"baseline_{measure}": before[measure].argmax(before.visit_order, where=before[measure].notnull())
            for measure in BASELINE_MEASURES
        }
    )


def percent_changes(fields: ibis.Table, course_baselines: ibis.Table) -> ibis.Table:
    """Each visit's month, total lesions (`visit_fields`) and % change of each lesion count from its
    course's baseline (none where the baseline is missing or zero: such courses stay, and the areas count them)."""
    base = course_baselines.rename(base_course="course_idx")
    joined = fields.left_join(base, fields.course_idx == base.base_course)
    changes = {}
    for measure in LESION_COLUMNS:
        baseline = joined[f"baseline_{measure}"].cast("float64")
        change = (joined[measure].cast("float64") - baseline) / baseline * 100
        changes[f"pct_change_{measure}"] = ibis.ifelse(baseline > 0, change, ibis.null("float64"))
    return joined.select(ROW, "month", "total_lesions", **changes)


# ---------------------------------------------------------------------------------------------
# Courses


def integrated_dose_mg(doses: ibis.Table, courses: ibis.Table) -> ibis.Table:
    """Total mg per course from visit doses: each dose holds from its visit (day 0 at the earliest)
    until the next dose's visit or the day after the last dose. Courses without a last day get none."""
    ends = courses.filter(courses.end_day.notnull()).select(dose_course="course_idx", end_day="end_day")
    given = doses.filter(doses.dose_mg_per_day.notnull(), doses.course_idx.notnull())
    given = given.join(ends, given.course_idx == ends.dose_course)
    following = given.day.lead().over(group_by=given.course_idx, order_by=[given.day, given[ROW]])
    after_last = given.end_day.cast("float64") + 1
    stop = ibis.ifelse(following.isnull(), after_last, ibis.least(following.cast("float64"), after_last))
    start = ibis.greatest(given.day, 0).cast("float64")
    spans = given.mutate(mg=ibis.greatest(stop - start, 0.0) * given.dose_mg_per_day)
    return spans.group_by("course_idx").aggregate(integrated_mg=spans.mg.sum())


def last_visit_days(visits: ibis.Table, courses: ibis.Table) -> ibis.Table:
    """Per course, the day of its last visit in the course window: from day 1 to END_WINDOW_AFTER_DAYS
    after the last dose (from day 1 on when the last dose is unknown)."""
    ends = courses.select(end_course="course_idx", end_day="end_day")
    seen = visits.filter(visits.course_idx.notnull(), visits.day >= 1)
    seen = seen.left_join(ends, seen.course_idx == ends.end_course)
    inside = seen.filter(seen.end_day.isnull() | (seen.day <= seen.end_day + END_WINDOW_AFTER_DAYS))
    return inside.group_by("course_idx").aggregate(last_visit_day=inside.day.max())


def course_fields(
    courses: ibis.Table, course_baselines: ibis.Table, integrated: ibis.Table, last_visits: ibis.Table
) -> ibis.Table:
    """Each course's derived fields, by course_idx."""
    base = course_baselines.select(base_course="course_idx", visit_iga="baseline_iga")
    dose = integrated.rename(dose_course="course_idx")
    last = last_visits.rename(last_course="course_idx")
    joined = (
        courses.left_join(base, courses.course_idx == base.base_course)
        .left_join(dose, courses.course_idx == dose.dose_course)
        .left_join(last, courses.course_idx == last.last_course)
    )
    cumulative_mg = joined.cumulative_dose_mg.fill_null(joined.integrated_mg)
    per_kg = cumulative_mg / joined.weight_kg
    duration = joined.end_day + 1
    daily = per_kg / duration.cast("float64")
    last_visit, end_day = joined.last_visit_day.cast("float64"), joined.end_day.cast("float64")
    last_day = ibis.coalesce(ibis.greatest(last_visit, end_day), last_visit, end_day)  # the later one known
    source = ibis.cases(
        (joined.cumulative_dose_mg.notnull(), "given"), (joined.integrated_mg.notnull(), "visits"), else_="unknown"
    )
    result = joined.select(
        "course_idx",
        age_band=joined.age_band.fill_null(age_band(joined.age)),
        start_year=joined.start_date.year().cast("int64"),
        duration_days=duration,
        baseline_iga=joined.baseline_iga.fill_null(joined.visit_iga),
        cumulative_dose_source=source,
        cumulative_dose_mg=cumulative_mg,
        cumulative_dose_mg_per_kg=per_kg,
        daily_dose_mg_per_kg=daily,
        daily_dose_band=band(daily, DAILY_DOSE_EDGES, DAILY_DOSE_BANDS),
        cumulative_dose_band=band(per_kg, CUMULATIVE_DOSE_EDGES, CUMULATIVE_DOSE_BANDS),
        last_month=month(last_day),
    )
    return result


def months_of_rows(table: ibis.Table, day: str, named: str) -> ibis.Table:
    """Each row's month of its `day` column, as the column `named`."""
    return table.select(ROW, **{named: month(table[day])})


# ---------------------------------------------------------------------------------------------
# From pandas to the engine and back


def numbers(frame: pd.DataFrame, columns: dict[str, pa.DataType]) -> pa.Table:
    """The columns the expressions read, typed as they expect (text that is not a number: missing),
    with each row's position as `row`, as Arrow (what the engines read)."""
    shipped = {ROW: pa.array(np.arange(len(frame), dtype=np.int32))}  # 300 million rows fit
    for name, kind in columns.items():
        values = frame[name] if name in frame else pd.Series(pd.NA, index=frame.index, dtype="object")
        if pa.types.is_timestamp(kind):
            values = pd.to_datetime(values, errors="coerce")
        elif pa.types.is_string(kind):
            values = values.astype("string")
        elif not pd.api.types.is_numeric_dtype(values.dtype):
            values = pd.to_numeric(values, errors="coerce")
        shipped[name] = pa.array(values, type=kind, from_pandas=True)
    return pa.table(shipped)


def column(result: pa.Table, name: str, dtype: str, at: np.ndarray, size: int) -> pd.api.extensions.ExtensionArray:
    """One result column as the pandas type the outcome areas read (nullable integers and floats, text as
    objects or as a categorical of the values present), each result row's value put at its position `at`
    among `size` (others missing): results come back unordered."""
    values = result.column(name)
    if dtype in ("object", "category"):
        text = _scattered(values.to_numpy(zero_copy_only=False), at, size, None)
        return text if dtype == "object" else pd.Categorical(text)
    missing = _scattered(values.is_null().to_numpy(zero_copy_only=False), at, size, True)
    data = _scattered(values.fill_null(0).to_numpy(zero_copy_only=False), at, size, 0)
    if dtype == "Int64":
        return pd.arrays.IntegerArray(data.astype(np.int64, copy=False), missing)
    return pd.arrays.FloatingArray(data.astype(np.float64, copy=False), missing)


def _scattered(values: np.ndarray, at: np.ndarray, size: int, fill) -> np.ndarray:
    placed = np.full(size, fill, dtype=values.dtype)
    placed[at] = values
    return placed
