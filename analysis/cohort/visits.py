"""The visits as arrays in (course, day) order, built once per cohort and shared by the areas that
read visits (clearance, side effects' mood scores)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cohort.derived import in_course_day_order
from analysis.cohort.model import Cohort, Lineage


def _floats(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float", na_value=np.nan)


class VisitArrays:
    """The visits tied to a course and a day, as numpy arrays in (course, day) order.

    Built once per cohort (see `visit_arrays`) so that the many summaries of one page share a
    single pass over what may be ten million rows; a filtered cohort cuts the whole cohort's.
    """

    def __init__(self, cohort: Cohort):
        visits = cohort.visits
        known = (visits["course_idx"].notna() & visits["day"].notna()).to_numpy()
        rows = np.flatnonzero(known)
        course = visits["course_idx"].to_numpy(dtype="float", na_value=np.nan)[rows].astype("int64")
        day = visits["day"].to_numpy(dtype="float", na_value=np.nan)[rows]
        if course.size and not in_course_day_order(course, day):
            order = np.lexsort((day, course))
            rows, course, day = rows[order], course[order], day[order]
        indices = cohort.courses["course_idx"].to_numpy(dtype="int64")
        size = int(max(indices.max() if indices.size else -1, course.max() if course.size else -1)) + 1
        month = _floats(visits["month"])[rows]  # each visit's month of course, as the engine derived it
        self._set(course, day, month, size, lambda column: _column_values(visits, column, rows))

    def _set(self, course: np.ndarray, day: np.ndarray, month: np.ndarray, size: int, read) -> None:
        self.course, self.day, self.month, self.size = course, day, month, size
        self._read = read  # column name -> its floats in this order
        self._columns: dict[str, np.ndarray] = {}
        self.window: np.ndarray | None = None  # see `course_window`

    @classmethod
    def restricted(cls, whole: VisitArrays, lineage: Lineage, cohort: Cohort) -> VisitArrays:
        """The visits of a subset's courses: the same rows, in the same order, as building them
        from the subset's visits, cut from the whole cohort's arrays."""
        keep = lineage.keeps(whole.course)
        part = cls.__new__(cls)
        part._set(
            whole.course[keep],
            whole.day[keep],
            whole.month[keep],
            whole.size,
            lambda column: whole.values(column)[keep],
        )
        return part

    def values(self, column: str) -> np.ndarray:
        """A column as floats in this order (all NaN when the table lacks it)."""
        if column not in self._columns:
            self._columns[column] = self._read(column)
        return self._columns[column]

    def per_course(self, values: np.ndarray) -> np.ndarray:
        """Array indexed by course_idx holding each course's value (the same on all its visits)."""
        table = np.full(self.size, np.nan)
        table[self.course] = values
        return table


def _column_values(visits: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
    if column not in visits:
        return np.full(rows.size, np.nan)
    return _floats(visits[column]).take(rows) if rows.size else np.zeros(0)


def visit_arrays(cohort: Cohort) -> VisitArrays:
    """The cohort's `VisitArrays`, reused while the same tables are alive (cut from the whole cohort's for a subset)."""
    return cohort.derived(("visits.visit_arrays",), lambda: VisitArrays(cohort), VisitArrays.restricted)
