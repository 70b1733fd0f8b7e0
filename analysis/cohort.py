"""The cohort: the four canonical tables plus the derived fields every outcome area needs.

Derived fields are computed once, when the cohort is built, so that pages and the command line
read the same numbers. Every table carries an integer `course_idx` so that filtering the
cohort is one integer membership test per table, fast at a million courses.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
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
        """The same cohort restricted to the given courses, in every table.

        The subset remembers where it came from (`Lineage`), so that results prepared for the
        whole cohort can be restricted to its courses instead of being computed again (`derived`).
        """
        member = course_membership(course_idx, self.courses["course_idx"])
        rows = {name: _rows_of_courses(self.table(name), member) for name in TABLES}
        child = replace(self, **{name: self.table(name)[rows[name]] for name in TABLES})
        with _MEMO_LOCK:
            _LINEAGE[id(child)] = Lineage(weakref.ref(self), rows, member)
        weakref.finalize(child, _forget_lineage, id(child))
        return child

    def memo(self, key: tuple, compute: Callable):
        """`compute()` once per key for these tables: the JSON summary's sections, the claims and a
        page share one harmonised lab table, one set of event counts, one survival fit.

        Entries remember the tables they were computed from, so a table replaced in place is
        never answered from a stale entry.
        """
        return memoised(self, key, compute, check=self._tables_check())

    def derived(self, key: tuple, compute: Callable, restrict: Callable):
        """Like `memo`, for a result made of per-course parts: when this cohort is a subset of one
        that has the result already (typically the whole cohort, when a filter changes), the
        result is `restrict(that result, lineage, self)` rather than computed again."""
        found = _memo_entry(self, key, self._tables_check())
        if found is not None:
            return found[0]
        value = self._restricted(key, restrict)
        if value is None:
            return self.memo(key, compute)
        return memoised(self, key, lambda: value, check=self._tables_check())

    def _restricted(self, key: tuple, restrict: Callable):
        lineage = _LINEAGE.get(id(self))
        parent = lineage.parent() if lineage is not None else None
        if parent is None:
            return None
        found = _memo_entry(parent, key, parent._tables_check())
        value = found[0] if found is not None else parent._restricted(key, restrict)
        if value is None:
            return None
        if found is None:  # an intermediate subset: keep its share too
            memoised(parent, key, lambda: value, check=parent._tables_check())
        return restrict(value, lineage, self)

    def _tables_check(self) -> "_SameObjects":
        return _SameObjects(tuple(self.table(name) for name in TABLES))

    @property
    def label(self) -> str:
        return f"{self.source} (synthetic demo data)" if self.synthetic else self.source


# Owner (a cohort, an area's prepared data) -> its memo; an entry goes when its owner is garbage
# collected. Kept outside the dataclass so that a cohort built by `replace` or `subset` starts empty.
_MEMOS: dict[int, dict] = {}
_MEMO_LOCK = threading.RLock()  # sessions run in threads; a finalizer may run while this thread holds it


def _forget(owner_id: int) -> None:
    with _MEMO_LOCK:
        _MEMOS.pop(owner_id, None)


class _SameObjects:
    """Equal to another only when both hold the very same objects (weakly: it keeps none alive)."""

    def __init__(self, objects: tuple):
        self._refs = tuple(weakref.ref(o) for o in objects)

    def __eq__(self, other) -> bool:
        if not isinstance(other, _SameObjects) or len(other._refs) != len(self._refs):
            return False
        return all(mine() is not None and mine() is theirs() for mine, theirs in zip(self._refs, other._refs))

    __hash__ = None


@dataclass(frozen=True)
class Lineage:
    """How a subset was cut from its parent cohort: the rows kept of each parent table, and the
    courses kept (a boolean array indexed by course_idx)."""

    parent: weakref.ref
    rows: dict[str, np.ndarray]
    member: np.ndarray

    def keeps(self, course_idx) -> np.ndarray:
        """For each of the given course indices (parent's numbering): is the course in the subset?"""
        codes = np.asarray(course_idx, dtype=np.int64)
        inside = (codes >= 0) & (codes < self.member.size)
        keep = np.zeros(len(codes), dtype=bool)
        keep[inside] = self.member[codes[inside]]
        return keep


_LINEAGE: dict[int, Lineage] = {}


def _forget_lineage(cohort_id: int) -> None:
    with _MEMO_LOCK:
        _LINEAGE.pop(cohort_id, None)


def _memo_entry(owner, key: tuple, check) -> tuple | None:
    """(value,) when `owner` has `key` computed under `check`, else None."""
    with _MEMO_LOCK:
        entry = _MEMOS.get(id(owner), {}).get(key)
    return (entry[1],) if entry is not None and entry[0] == check else None


def memo_items(owner) -> list[tuple[tuple, object]]:
    """(key, value) of every result memoised for `owner`."""
    with _MEMO_LOCK:
        return [(key, entry[1]) for key, entry in _MEMOS.get(id(owner), {}).items()]


def memoised(owner, key: tuple, compute: Callable, check=None):
    """`compute()` once per key while `owner` lives (any object that takes weak references, e.g. a
    Cohort or an area's prepared data); `check` is compared on each use, and a changed check recomputes.

    Callers must not modify what they get back: it is shared by everyone asking the same owner.
    """
    found = _memo_entry(owner, key, check)
    if found is not None:
        return found[0]
    value = compute()
    with _MEMO_LOCK:
        if id(owner) not in _MEMOS:
            _MEMOS[id(owner)] = {}
            weakref.finalize(owner, _forget, id(owner))
        _MEMOS[id(owner)][key] = (check, value)
    return value


def course_membership(course_idx, all_course_idx: pd.Series) -> np.ndarray:
    """A boolean array indexed by course_idx: True for the given courses (a dense lookup, so that
    restricting a table of millions of rows is one array index, not a hash lookup per row)."""
    chosen = np.asarray(pd.array(course_idx, dtype="Int64").dropna(), dtype=np.int64)
    largest = int(all_course_idx.max()) if len(all_course_idx) else -1
    member = np.zeros(max(largest, int(chosen.max()) if chosen.size else -1) + 1, dtype=bool)
    member[chosen[chosen >= 0]] = True
    return member


def _rows_of_courses(table: pd.DataFrame, member: np.ndarray) -> np.ndarray:
    """Boolean mask of the table's rows whose course is a member."""
    codes = table["course_idx"].to_numpy(dtype=np.int64, na_value=-1)
    inside = (codes >= 0) & (codes < member.size)
    keep = np.zeros(len(codes), dtype=bool)
    keep[inside] = member[codes[inside]]
    return keep


def empty_table(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c_spec.kind)) for c, c_spec in ((c.name, c) for c in SPECS[name].columns)})


def _dtype(kind: str) -> str:
    return {"int": "Int64", "float": "Float64", "date": "datetime64[ns]"}.get(kind, "object")


def build_cohort(tables: dict[str, pd.DataFrame], source: str, synthetic: bool = False, fingerprint: str = "") -> Cohort:
    """Cohort from already typed canonical tables (missing tables become empty ones)."""
    from .prepare import report_stage

    report_stage("Linking visits, side effects and lab results to their courses")
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
    table = _renumbered(table)
    found, row_patient, patients = _course_keys(courses, table)
    table["course_idx"] = pd.arrays.IntegerArray(np.where(found >= 0, found, 0), found < 0)
    if len(table) and (found >= 0).all() and table["patient_id"].dtype == object:
        # Every row belongs to a course: its patient as a code into the courses' patients (four
        # bytes a row instead of a pointer to a string; filtering copies codes, not objects).
        table["patient_id"] = pd.Categorical.from_codes(row_patient, patients)
    return table


def course_positions(courses: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Each row's course (its row in `courses`, numbered as course_idx), -1 where there is none.

    The (patient_id, course_number) key becomes one integer: the patient's position among the
    courses' patients times a bound on course numbers, plus the course number. Joining on it
    costs one hash lookup per row for the patient and array indexing for the rest, instead of a
    two-column merge on text (and no copy of the table). A course key repeated in `courses`
    resolves to its first row (the validator has excluded repeats already).
    """
    return _course_keys(courses, table)[0]


def _course_keys(courses: pd.DataFrame, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """`course_positions`, each row's patient as a position in the courses' patients (-1: none), and those patients."""
    patients = pd.Index(pd.unique(_key_values(courses["patient_id"])))
    course_patient = patients.get_indexer(_key_values(courses["patient_id"]))
    row_patient = patients.get_indexer(_key_values(table["patient_id"]))
    course_number, row_number = _course_numbers(courses["course_number"]), _course_numbers(table["course_number"])
    span = int(max(course_number.max(initial=0), row_number.max(initial=0))) + 3  # numbers -2 .. max
    course_key = pd.Index(course_patient.astype(np.int64) * span + course_number + 2)
    row_key = row_patient.astype(np.int64) * span + row_number + 2
    known = (row_patient >= 0) & (row_number != NOT_A_COURSE_NUMBER)
    if not course_key.is_unique:  # the first row of a repeated key answers for it
        first = ~course_key.duplicated(keep="first")
        course_key, rows = course_key[first], np.flatnonzero(first)
    else:
        rows = np.arange(len(course_key))
    position = np.full(len(table), -1, dtype=np.int64)
    found = course_key.get_indexer(row_key[known])
    position[known] = np.where(found >= 0, rows[found], -1)
    return position, row_patient, patients


def _key_values(values: pd.Series) -> np.ndarray | pd.api.extensions.ExtensionArray:
    return values.array if isinstance(values.dtype, pd.StringDtype) else values.to_numpy(dtype=object)


NOT_A_COURSE_NUMBER = -2


def _course_numbers(values: pd.Series) -> np.ndarray:
    """Course numbers as integers: missing as -1 (it matches only a missing number), a fraction as
    NOT_A_COURSE_NUMBER (it matches nothing)."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float", na_value=np.nan)
    whole = np.where(np.isnan(numbers), -1, numbers)
    return np.where(np.floor(whole) == whole, whole, NOT_A_COURSE_NUMBER).astype(np.int64)


def _renumbered(table: pd.DataFrame) -> pd.DataFrame:
    """The table with rows numbered 0..n-1, sharing its columns' memory (new columns go to the copy only)."""
    table = table.copy(deep=False)
    table.index = pd.RangeIndex(len(table))
    return table


def month_of_day(day: pd.Series) -> pd.Series:
    """Month of course as PRODUCT.md defines it: round(day / 30.4375), half away from zero."""
    months = pd.to_numeric(day, errors="coerce").to_numpy(dtype="float", na_value=np.nan) / DAYS_PER_MONTH
    rounded = np.sign(months) * np.floor(np.abs(months) + 0.5)
    missing = np.isnan(rounded)
    values = pd.arrays.IntegerArray(np.where(missing, 0, rounded).astype(np.int64), missing)
    return pd.Series(values, index=day.index, name=day.name)


def derive_day_month(table: pd.DataFrame, day_column: str, month_column: str) -> pd.DataFrame:
    table = table.copy(deep=False)
    table[month_column] = month_of_day(table[day_column]) if len(table) else pd.Series(dtype="Int64")
    return table


def derive_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """Month, total lesions where absent, baseline values and % change from baseline.

    The baseline is the last assessment on or before day 0 (the first dose). Courses without
    one get no % change: they stay in the table and outcome areas count them as such.
    """
    visits = _renumbered(visits.take(_course_day_order(visits)))
    visits = derive_day_month(visits, "day", "month")
    parts = visits[["inflammatory_lesions", "noninflammatory_lesions"]]
    summed = parts.sum(axis=1, min_count=2).astype("Int64")
    visits["total_lesions"] = visits["total_lesions"].astype("Int64").fillna(summed)
    baseline = _baseline_visits(visits)
    for column in ("iga",) + LESION_COLUMNS:
        base = visits["course_idx"].map(baseline[column])
        visits[f"baseline_{column}"] = base.astype("Float64")
    for column in LESION_COLUMNS:
        base = visits[f"baseline_{column}"]
        change = (visits[column].astype("Float64") - base) / base * 100
        visits[f"pct_change_{column}"] = change.where(base > 0)
    return visits


def _course_day_order(visits: pd.DataFrame) -> np.ndarray:
    """Row order by course, then day, stable, missing values last (as a stable `sort_values`)."""
    course = visits["course_idx"].to_numpy(dtype="float", na_value=np.nan)
    day = pd.to_numeric(visits["day"], errors="coerce").to_numpy(dtype="float", na_value=np.nan)
    return np.lexsort((np.nan_to_num(day), np.isnan(day), np.nan_to_num(course), np.isnan(course)))


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
