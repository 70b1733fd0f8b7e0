"""The cohort at a glance: size, demographics, dosing, course length and data completeness."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis.cohort.filters import COLUMN_LABELS
from analysis.cohort.model import Cohort, Lineage
from analysis.schema import AGE_BAND_LABELS, CUMULATIVE_DOSE_BANDS, DAILY_DOSE_BANDS, SPECS, TABLES

TYPICAL_COURSE_DAYS = (120, 183)  # "Treatment typically lasts 4 to 6 months" (source document)


def profile(cohort: Cohort) -> dict:
    """Headline figures for the top of the Overview page and the JSON summary."""
    courses = cohort.courses
    return {
        "courses": cohort.n_courses,
        "patients": cohort.n_patients,
        "second_or_later_courses": int((courses["course_number"] > 1).sum()),
        "female_share": _share(courses["sex"] == "F", courses["sex"].notna()),
        "median_age": _median(courses.get("age")),
        "median_duration_days": _median(courses["duration_days"]),
        "median_cumulative_dose_mg_per_kg": _median(courses["cumulative_dose_mg_per_kg"]),
        "median_daily_dose_mg_per_kg": _median(courses["daily_dose_mg_per_kg"]),
        "sites": int(courses["site"].nunique()),
        "start_years": _year_range(courses["start_year"]),
    }


def _share(hits: pd.Series, known: pd.Series) -> float | None:
    n = int(known.sum())
    return round(float((hits & known).sum()) / n, 4) if n else None


def _median(values: pd.Series | None) -> float | None:
    if values is None or values.dropna().empty:
        return None
    return round(float(values.dropna().astype("float").median()), 2)


def _year_range(years: pd.Series) -> list[int] | None:
    known = years.dropna()
    return [int(known.min()), int(known.max())] if len(known) else None


MISSING_CATEGORY = "(missing)"


def category_counts(cohort: Cohort, column: str, order: tuple | None = None) -> pd.Series:
    """Counts per category, in the given order, missing values counted as '(missing)'."""
    categories = course_categories(cohort, column)
    counts = pd.Series(
        np.bincount(categories.codes[categories.codes >= 0], minlength=len(categories.levels)),
        index=pd.Index(categories.levels, dtype=object, name=column),
        name="count",
    )
    counts = counts[counts > 0].sort_values(ascending=False, kind="stable")
    if order is not None:
        ordered = [c for c in order if c in counts.index] + [c for c in counts.index if c not in order]
        counts = counts.reindex(ordered)
    else:
        counts = counts.sort_index(key=lambda idx: idx.map(str))
    return counts


@dataclass(frozen=True)
class CourseCategories:
    """A course column as codes into its levels (row = course_idx, -1: not a course of the cohort),
    so that a subset of courses counts its categories with one bincount instead of hashing text."""

    codes: np.ndarray
    levels: np.ndarray


def course_categories(cohort: Cohort, column: str) -> CourseCategories:
    return cohort.derived(
        ("overview.categories", column), lambda: _course_categories(cohort.courses, column), _restricted_categories
    )


def _course_categories(courses: pd.DataFrame, column: str) -> CourseCategories:
    values = courses[column].astype("object")
    codes, levels = pd.factorize(values.where(values.notna(), MISSING_CATEGORY))
    by_course = np.full(_course_size(courses), -1, dtype=np.int32)
    by_course[courses["course_idx"].to_numpy(dtype=np.int64)] = codes
    return CourseCategories(by_course, np.asarray(levels, dtype=object))


def _restricted_categories(whole: CourseCategories, lineage: Lineage, cohort: Cohort) -> CourseCategories:
    return replace(whole, codes=np.where(lineage.courses_kept(whole.codes.size), whole.codes, -1).astype(np.int32))


def _course_size(courses: pd.DataFrame) -> int:
    """Length of an array indexed by course_idx."""
    return int(courses["course_idx"].max()) + 1 if len(courses) else 0


def demographics_table(cohort: Cohort) -> pd.DataFrame:
    """One row per characteristic and level: courses and share of courses."""
    courses = cohort.courses
    parts = []
    for column, order in (
        ("sex", ("F", "M", "other", "unknown")),
        ("age_band", AGE_BAND_LABELS),
        ("baseline_iga", None),
        ("daily_dose_band", DAILY_DOSE_BANDS),
        ("cumulative_dose_band", CUMULATIVE_DOSE_BANDS),
        ("site", None),
        ("course_number", None),
    ):
        counts = category_counts(cohort, column, order)
        parts.append(
            pd.DataFrame(
                {"characteristic": COLUMN_LABELS[column], "level": counts.index.map(str), "courses": counts.to_numpy()}
            )
        )
    table = pd.concat(parts, ignore_index=True)
    table["percent"] = (table["courses"] / max(len(courses), 1) * 100).round(1)
    return table


def completeness(cohort: Cohort) -> pd.DataFrame:
    """Share of non-missing values per canonical column of each table (absent columns show 0%)."""
    by_course = cohort.derived(("overview.filled",), lambda: _filled_by_course(cohort), _restricted_filled)
    counts = {name: c.total for name, c in by_course.items()}
    rows = []
    for name in TABLES:
        n_rows, filled = counts[name]
        for spec in SPECS[name].columns:
            rows.append(
                {
                    "table": name,
                    "column": spec.name,
                    "required": spec.required,
                    "rows": n_rows,
                    "filled": int(filled.get(spec.name, 0)),
                    "percent_filled": round(filled.get(spec.name, 0) / n_rows * 100, 1) if n_rows else 0.0,
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class FilledByCourse:
    """Rows and filled values per course (row = course_idx) of a table, so that a subset of courses
    sums them instead of scanning the table again; `total` counts the whole table."""

    total: tuple[int, dict[str, int]]
    columns: tuple[str, ...]
    rows: np.ndarray  # rows per course
    filled: np.ndarray  # courses x columns


def _filled_by_course(cohort: Cohort) -> dict[str, FilledByCourse]:
    """Each table: its rows and filled values, in total and per course (one row per course of the
    courses table, so its counts per course are flags)."""
    size = _course_size(cohort.courses)
    return {
        name: _table_filled(cohort.table(name), SPECS[name].names, size, np.bool_ if name == "courses" else np.int32)
        for name in TABLES
    }


def _table_filled(table: pd.DataFrame, names, size: int, dtype) -> FilledByCourse:
    columns = tuple(c for c in names if c in table)
    course = table["course_idx"].to_numpy(dtype=np.int64, na_value=-1)
    linked = (course >= 0) & (course < size)
    filled = np.zeros((size, len(columns)), dtype=dtype)
    total = {}
    for position, column in enumerate(columns):
        present = table[column].notna().to_numpy()
        total[column] = int(present.sum())
        filled[:, position] = np.bincount(course[linked & present], minlength=size)
    return FilledByCourse((len(table), total), columns, np.bincount(course[linked], minlength=size), filled)


def _restricted_filled(whole: dict[str, FilledByCourse], lineage: Lineage, cohort: Cohort) -> dict[str, FilledByCourse]:
    restricted = {}
    for name, counts in whole.items():
        kept = lineage.courses_kept(counts.rows.size)
        sums = counts.filled[kept].sum(axis=0, dtype=np.int64)
        total = (int(counts.rows[kept].sum()), {c: int(v) for c, v in zip(counts.columns, sums)})
        restricted[name] = replace(counts, total=total)
    return restricted
