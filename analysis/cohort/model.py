"""The cohort: the four canonical tables plus the derived fields every outcome area needs.

Derived fields are computed once, when the cohort is built, so that pages and the command line
read the same numbers. Every table carries an integer `course_idx` so that filtering the
cohort is one integer membership test per table, fast at a million courses.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis.engine.connection import Engine, duckdb_engine
from analysis.ingest.keys import CourseKeys, is_member
from analysis.ingest.progress import report_stage
from analysis.schema import SPECS, TABLES


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
    # Where the data's own event times (relapse_day, followup_end_day) count from, when it says so: "start"
    # (the first dose, e.g. a trial's time-to-event table) or "end" (the last dose); "" when it does not.
    time_origin: str = ""

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)

    @property
    def n_courses(self) -> int:
        return len(self.courses)

    @property
    def n_patients(self) -> int:
        return int(self.courses["patient_id"].nunique())

    def row_counts(self) -> dict[str, int]:
        return {name: self.n_rows(name) for name in TABLES}

    def n_rows(self, name: str) -> int:
        pending = self._pending_cut(name)
        return len(self.table(name)) if pending is None else pending.size

    def subset(self, course_idx: np.ndarray | pd.Index) -> Cohort:
        """The same cohort restricted to the given courses, in every table.

        Only the courses table is cut at once; the others are cut when first read (`_Cut`), so a
        page whose results are all restricted from the whole cohort's never copies the visits or
        the lab results (tens of millions of rows at a million courses).
        The subset remembers where it came from (`Lineage`), so that results prepared for the
        whole cohort can be restricted to its courses instead of being computed again (`derived`).
        """
        member = course_membership(course_idx, self.courses["course_idx"])
        cuts = {name: self._cut_of(name, member) for name in TABLES}
        child = replace(
            self, courses=cuts["courses"].table(), **{name: cuts[name].source.iloc[:0] for name in TABLES[1:]}
        )
        for name in TABLES[1:]:
            del child.__dict__[name]
        child.__dict__["_cuts"] = cuts
        with _MEMO_LOCK:
            _LINEAGE[id(child)] = Lineage(weakref.ref(self), {name: cut.rows for name, cut in cuts.items()}, member)
        weakref.finalize(child, _forget_lineage, id(child))
        return child

    def _cut_of(self, name: str, member: np.ndarray) -> _Cut:
        """The rows of table `name` whose course is a member, as a cut of the table they come from."""
        rows = is_member(self._course_codes(name), member)
        pending = self._pending_cut(name)
        if pending is None:
            return _Cut(self.table(name), rows)
        return _Cut(pending.source, rows, pending.positions[rows])

    def _course_codes(self, name: str) -> np.ndarray:
        """Each row's course_idx of table `name` (-1 where unknown), read again for each cut: one
        pass over the column, where keeping it would hold four bytes a row for the cohort's life."""
        token = self._table_token(name)
        return course_codes(token.column("course_idx") if isinstance(token, _Cut) else self.table(name)["course_idx"])

    def _pending_cut(self, name: str) -> _Cut | None:
        """The cut of table `name` when it has not been read yet."""
        cut = self.__dict__.get("_cuts", {}).get(name)
        return cut if cut is not None and name not in self.__dict__ else None

    def __getattr__(self, name: str):
        # Only called for attributes not set: a table of a subset, cut on first use.
        cut = self.__dict__.get("_cuts", {}).get(name)
        if cut is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.__dict__[name] = table = cut.table()
        return table

    def column(self, table: str, column: str) -> pd.Series | None:
        """One column of a table (None when absent), without cutting the whole table of a subset."""
        pending = self._pending_cut(table)
        if pending is None:
            frame = self.table(table)
            return frame[column] if column in frame else None
        return pending.column(column)

    def has_values(self, table: str, column: str) -> bool:
        """Does the column exist with at least one value? (Once per cohort: every claim asks.)"""

        def check() -> bool:
            values = self.column(table, column)
            return values is not None and bool(values.notna().any())

        return self.memo(("cohort.has_values", table, column), check)

    def parent(self) -> Cohort | None:
        """The cohort this subset was cut from, while it is alive and every table is still the one
        cut from it (None for a cohort of its own, or once a table was replaced)."""
        lineage = _LINEAGE.get(id(self))
        if lineage is None or not all(isinstance(self._table_token(name), _Cut) for name in TABLES):
            return None
        return lineage.parent()

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

    def whole(self) -> Cohort:
        """The dataset this cohort was cut from through any number of filters (itself when it was not cut)."""
        parent = self.parent()
        return self if parent is None else parent.whole()

    def derived_from_whole(self, key: tuple, compute: Callable[[Cohort], object], restrict: Callable):
        """`derived`, with `compute(cohort)` run on the whole cohort first when this is a subset, so
        that every later filter cuts that result instead of computing its own."""
        parent = self.parent()
        if parent is not None:
            parent.derived_from_whole(key, compute, restrict)
        return self.derived(key, lambda: compute(self), restrict)

    def _restricted(self, key: tuple, restrict: Callable):
        lineage = _LINEAGE.get(id(self))
        parent = self.parent()
        if parent is None:
            return None
        found = _memo_entry(parent, key, parent._tables_check())
        value = found[0] if found is not None else parent._restricted(key, restrict)
        if value is None:
            return None
        if found is None:  # an intermediate subset: keep its share too
            memoised(parent, key, lambda: value, check=parent._tables_check())
        return restrict(value, lineage, self)

    def _tables_check(self) -> _SameObjects:
        return _SameObjects(tuple(self._table_token(name) for name in TABLES))

    def _table_token(self, name: str):
        """What identifies a table's content: the table, or its cut while the table is the one cut from it."""
        cut = self.__dict__.get("_cuts", {}).get(name)
        if cut is not None and (name not in self.__dict__ or self.__dict__[name] is cut.taken):
            return cut
        return self.table(name)

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


class _Cut:
    """Rows `positions` of the table `source`, copied on first use (`table`) and then kept.

    `rows` marks the rows kept of the parent's table (the parent's own numbering, for `Lineage`).
    A cut of a whole table (`source` is the parent's) keeps only `rows` and finds its positions
    again when read; a cut of a cut keeps them, 32-bit: a subset kept in a memo (the first courses,
    a filter) would otherwise hold them for tens of millions of rows.
    """

    def __init__(self, source: pd.DataFrame, rows: np.ndarray, positions: np.ndarray | None = None):
        self.source, self.rows, self._positions = source, rows, positions
        self.taken: pd.DataFrame | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:  # a copied or pickled subset gets a lock of its own
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    @property
    def positions(self) -> np.ndarray:
        if self._positions is not None:
            return self._positions
        positions = np.flatnonzero(self.rows)
        return positions.astype(np.int32) if self.rows.size < 2**31 else positions

    @property
    def size(self) -> int:
        """Rows kept."""
        return int(self._positions.size if self._positions is not None else np.count_nonzero(self.rows))

    def table(self) -> pd.DataFrame:
        with self._lock:
            if self.taken is None:
                self.taken = without_unused_categories(self.source.take(self.positions))
            return self.taken

    def column(self, column: str) -> pd.Series | None:
        if self.taken is not None:
            return self.taken[column] if column in self.taken else None
        return self.source[column].take(self.positions) if column in self.source else None


@dataclass(frozen=True)
class Lineage:
    """How a subset was cut from its parent cohort: the rows kept of each parent table, and the
    courses kept (a boolean array indexed by course_idx)."""

    parent: weakref.ref
    rows: dict[str, np.ndarray]
    member: np.ndarray

    def keeps(self, course_idx) -> np.ndarray:
        """For each of the given course indices (parent's numbering): is the course in the subset?"""
        return is_member(np.asarray(course_idx, dtype=np.int64), self.member)

    def rows_of(self, table: pd.DataFrame) -> pd.DataFrame:
        """The rows of a per-course table of the parent (one holding course_idx) whose course the subset keeps."""
        return rows_of_courses(table, self.member)

    def courses_kept(self, size: int) -> np.ndarray:
        """The courses kept as a boolean array of `size` indexed by course_idx (a per-course array
        of an ancestor may be longer than the parent's course numbering)."""
        return self.keeps(np.arange(size))


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


def course_codes(course_idx: pd.Series) -> np.ndarray:
    """A course_idx column as 32-bit integers, -1 where unknown (half the memory of int64 for a
    column of tens of millions of rows)."""
    return course_idx.to_numpy(dtype=np.int64, na_value=-1).astype(np.int32)


def rows_of_courses(table: pd.DataFrame, member: np.ndarray) -> pd.DataFrame:
    """The rows of a per-course table whose course is a member (`member` indexed by course_idx), numbered afresh."""
    return table[is_member(np.asarray(table["course_idx"], dtype=np.int64), member)].reset_index(drop=True)


def empty_table(name: str) -> pd.DataFrame:
    """A table without rows as the cohort is built from (text as objects; `build_cohort` makes the
    columns of COMPACT_TEXT categorical)."""
    return pd.DataFrame(
        {c: pd.Series(dtype=_dtype(c_spec.kind)) for c, c_spec in ((c.name, c) for c in SPECS[name].columns)}
    )


def _dtype(kind: str) -> str:
    return {"int": "Int64", "float": "Float64", "date": "datetime64[ns]"}.get(kind, "object")


def build_cohort(
    tables: dict[str, pd.DataFrame],
    source: str,
    synthetic: bool = False,
    fingerprint: str = "",
    time_origin: str = "",
    engine: Engine | None = None,
) -> Cohort:
    """Cohort from already typed canonical tables (missing tables become empty ones); the derived
    fields are computed by the engine (a DuckDB of the cohort's own in memory unless one is given)."""

    from analysis.cohort.derived import derive  # imports ibis: only where a cohort is built (not for `validate`)

    report_stage("Linking visits, side effects and lab results to their courses")
    full = {
        name: _typed_text(tables[name] if tables.get(name) is not None else empty_table(name), name) for name in TABLES
    }
    courses = full["courses"].reset_index(drop=True).copy()
    courses["course_idx"] = np.arange(len(courses), dtype=np.int64)
    keys = CourseKeys(courses["patient_id"], courses["course_number"])
    others = {name: _attach_course_idx(full[name], keys) for name in TABLES[1:]}
    known = set(SPECS["courses"].names) | {"course_idx"}
    custom = tuple(c for c in courses.columns if c not in known)
    if engine is None:  # a database of the cohort's own, closed (its memory handed back) once the fields are in
        with closing(duckdb_engine()) as own:
            derived = derive(courses, others, own)
    else:
        derived = derive(courses, others, engine)
    return Cohort(
        **derived,
        source=source,
        synthetic=synthetic,
        fingerprint=fingerprint,
        custom_columns=custom,
        time_origin=time_origin,
    )


def _attach_course_idx(table: pd.DataFrame, keys: CourseKeys) -> pd.DataFrame:
    """Adds course_idx; rows whose course is unknown get <NA> (the validator reports them)."""
    table = _renumbered(table)
    row_patient = keys.patient_positions(table["patient_id"])
    found = keys.positions(table["patient_id"], table["course_number"], row_patient)
    table["course_idx"] = pd.arrays.IntegerArray(np.where(found >= 0, found, 0), found < 0)
    if len(table) and (found >= 0).all():
        # Every row belongs to a course: its patient as a code into the courses' patients (four
        # bytes a row instead of a pointer to a string; filtering copies codes, not objects).
        table["patient_id"] = pd.Categorical.from_codes(row_patient, keys.patients)
    return table


# Text columns held as categoricals in the cohort (a code a row; a handful of distinct values repeated
# on millions of rows): patients (re-coded to the courses' patients), the lab tests and units (as
# harmonised), and the columns of COMPACT_TEXT, whose categories are the values present, sorted as
# text, so that sorting or grouping by one orders its groups as plain text would. Other text the
# validator hands over dictionary-encoded (the courses' patients) becomes plain text.
CATEGORICAL_TEXT = {
    "courses": (),
    "visits": ("patient_id",),
    "adverse_events": ("patient_id",),
    "labs": ("patient_id", "test", "unit"),
}
COMPACT_TEXT = {
    "courses": (
        *("sex", "age_band", "acne_type", "prior_treatments", "site", "end_reason", "can_become_pregnant"),
        *("daily_dose_band", "cumulative_dose_band", "cumulative_dose_source"),  # derived (analysis.cohort.derived)
    ),
    "visits": ("visit",),
    "adverse_events": ("term", "serious", "action"),
    "labs": ("visit",),
}

COMPACT_COLUMNS = frozenset(column for columns in COMPACT_TEXT.values() for column in columns)


def _typed_text(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """The table with the columns of COMPACT_TEXT as compact categoricals, and its other categorical
    text columns (but those of CATEGORICAL_TEXT) as objects, missing as None; no string is copied."""
    text = [spec.name for spec in SPECS[name].columns if spec.kind in ("text", "category", "yesno")]
    compact = [c for c in COMPACT_TEXT[name] if c in table]
    plain = [
        c
        for c in text
        if c in table
        and c not in CATEGORICAL_TEXT[name]
        and c not in compact
        and isinstance(table[c].dtype, pd.CategoricalDtype)
    ]
    if not compact and not plain:
        return table
    table = table.copy(deep=False)
    for column in compact:
        table[column] = compact_text(table[column])
    for column in plain:
        values = table[column].array
        texts = np.append(values.categories.to_numpy(dtype=object), None)
        table[column] = pd.Series(texts[values.codes], index=table.index, dtype=object)
    return table


def without_unused_categories(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a table (a filter's) with the compact text columns holding only the values left, so
    that counting or grouping by one shows no empty group of a value the filter took out."""
    for column in COMPACT_COLUMNS & set(table.columns):
        if isinstance(table[column].dtype, pd.CategoricalDtype):
            table[column] = compact_text(table[column])
    return table


def compact_text(values: pd.Series) -> pd.Series:
    """Text as a categorical whose categories are the values present (none unused), sorted as text."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return values.astype(object).astype("category")
    codes, categories = values.cat.codes.to_numpy(), values.cat.categories
    used = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
    present = categories[used]
    wanted = pd.Index(sorted(present), dtype=object)
    if used.all() and categories.dtype == object and categories.equals(wanted):
        return values
    return values.cat.set_categories(wanted)


def course_positions(courses: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Each row's course (its row in `courses`, numbered as course_idx), -1 where there is none
    (`CourseKeys`: a course key repeated in `courses` resolves to its first row, which the validator keeps)."""
    return CourseKeys(courses["patient_id"], courses["course_number"]).positions(
        table["patient_id"], table["course_number"]
    )


def _renumbered(table: pd.DataFrame) -> pd.DataFrame:
    """The table with rows numbered 0..n-1, sharing its columns' memory (new columns go to the copy only)."""
    table = table.copy(deep=False)
    table.index = pd.RangeIndex(len(table))
    return table
