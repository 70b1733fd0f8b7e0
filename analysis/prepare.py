"""Work done once when a dataset is loaded, so that no page, claim or summary repeats it.

- Lab results are harmonised (`analysis.lab_units`: one name and one unit per test, default
  limits) as the validated table is built; what cannot be converted becomes findings of the
  validation report, naming file, row and column. `analysis.labs` then skips the conversion.
- Memory the readers and validator held only while loading is handed back to the system, so a
  cohort of a million courses leaves room for the analysis.
- Loading a large dataset takes a while: each stage is announced (`report_stage`) to whoever
  listens (`reporting_stages`), e.g. the app's progress line.
- The app reruns its script on every click: the filter options and the filtered cohort are kept
  with the cohort (`filter_choices`, `filtered`), so a rerun with the same filters reuses the
  same filtered cohort and every result memoised on it.
"""
from __future__ import annotations

import contextvars
import ctypes
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pyarrow as pa

from .cohort import Cohort
from .filters import FilterSpec, apply_filters, filter_options
from .lab_units import (
    EXCLUDED_ACTION, FINDING_COLUMNS, GIVEN_COLUMNS, UNRECOGNISED_ACTION, exclusion_reasons, harmonisation_findings, harmonised_columns,
)
from .validation import ReportBuilder

log = logging.getLogger(__name__)
_LISTENER: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar("load_stage_listener", default=None)
CONVERTED_COLUMNS = ("test", "unit", "value", "lower_limit", "upper_limit", "lower_limit_source", "upper_limit_source")


def harmonise_labs(labs: pd.DataFrame, files: list[str], builder: ReportBuilder) -> pd.DataFrame:
    """The validated lab table with harmonised columns, as `lab_units.harmonise` returns it (values
    as given in `*_as_given`, `exclusion`, `harmonised`; the texts as given and the reasons as
    categoricals), and its findings added to the report.

    Built on a shallow copy: the columns as given are the validated arrays themselves, so the
    table grows only by the converted columns, without a copy of a table of tens of millions of rows.
    Rows are numbered as in the file (the validated table's index); a table read from several
    files names them all in its findings.
    """
    if "harmonised" in labs.columns or labs.empty:
        return labs
    report_stage("Converting lab results to one unit per test")
    rows = labs.index.to_numpy()
    converted = harmonised_columns(labs)
    out = labs.copy(deep=False)
    for column in GIVEN_COLUMNS:
        out[f"{column}_as_given"] = labs[column] if column in labs else pd.Series(None, index=labs.index, dtype="object")
    for column in ("test_as_given", "unit_as_given"):  # a few distinct texts: one byte a row instead of eight
        out[column] = compact_text(out[column])
    for column in CONVERTED_COLUMNS:
        out[column] = converted[column]
    out["exclusion"] = compact_text(pd.Series(exclusion_reasons(converted), index=labs.index))
    out["harmonised"] = converted["harmonised"]
    findings = harmonisation_findings(_with_rows(labs, rows), converted, file=", ".join(files) or "labs.csv")
    add_findings(builder, findings)
    return out


def lab_findings(issues: pd.DataFrame) -> pd.DataFrame:
    """The findings `harmonise_labs` added to a validation report (units that cannot be converted,
    test names not recognised), as `lab_units` words them, for the Labs page."""
    from_labs = issues["action"].astype(str).isin([EXCLUDED_ACTION, UNRECOGNISED_ACTION]).to_numpy()
    table = issues.loc[from_labs, list(FINDING_COLUMNS)].reset_index(drop=True)
    return table.astype({name: object for name in FINDING_COLUMNS if name != "row"})


def compact_text(values: pd.Series) -> pd.Series:
    """Text with few distinct values as a categorical (missing stays missing), its categories the
    values present in the order they first appear; a categorical (text the reader dictionary-
    encoded) gets the same categories by factorizing its integer codes, not its text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, seen = pd.factorize(values.cat.codes.to_numpy(), use_na_sentinel=True)
        present = seen >= 0
        renumbered = np.full(len(seen), -1, dtype=np.int64)
        renumbered[present] = np.arange(int(present.sum()))
        categories = pd.Index(values.cat.categories[seen[present]], dtype=object)
        return pd.Series(pd.Categorical.from_codes(renumbered[codes], categories), index=values.index, name=values.name)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return pd.Series(pd.Categorical.from_codes(codes, pd.Index(uniques, dtype=object)), index=values.index, name=values.name)


def _with_rows(labs: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The table (shallow) with the file row of each result, which the findings name."""
    numbered = labs.copy(deep=False)
    numbered["source_row"] = rows
    return numbered


def add_findings(builder: ReportBuilder, findings: pd.DataFrame) -> None:
    """Findings as `lab_units` writes them (FINDING_COLUMNS), added a group at a time."""
    if findings.empty:
        return
    keys = ["severity", "file", "column", "action"]
    for (severity, file, column, action), group in findings.groupby(keys, sort=False, dropna=False):
        values = [None if pd.isna(v) else str(v) for v in group["value"].tolist()]
        builder.add_many(severity, file, pa.array(group["row"].to_numpy(dtype=np.int64)), pa.array(values, pa.string()),
                         pa.array(group["message"].astype(str).tolist(), pa.string()), column=column, action=action)


def release_memory() -> None:
    """Returns freed memory of pyarrow's pool and of the C heap to the system (Linux glibc)."""
    try:
        pa.default_memory_pool().release_unused()
    except (AttributeError, pa.ArrowNotImplementedError):
        pass
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        log.debug("malloc_trim is not available here")


@contextmanager
def reporting_stages(listener: Callable[[str], None]) -> Iterator[None]:
    """Within the block, `listener(text)` hears each loading stage as it starts."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def report_stage(text: str) -> None:
    """Announces a loading stage ('Checking every value'); silent when nobody listens."""
    listener = _LISTENER.get()
    if listener is not None:
        try:
            listener(text)
        except Exception:  # progress is a courtesy: it never stops a load
            log.debug("progress listener failed", exc_info=True)


FILTERED_KEPT = 2  # filtered cohorts kept per cohort (each may be as large as the cohort)
_FILTERED_LOCK = threading.Lock()


def filter_choices(cohort: Cohort) -> dict[str, list]:
    """`filters.filter_options`, computed once per cohort."""
    return cohort.memo(("prepare.filter_options",), lambda: filter_options(cohort))


def filtered(cohort: Cohort, spec: FilterSpec) -> Cohort:
    """`filters.apply_filters`, the same object again for the same filters (the last few kept)."""
    if spec.is_empty():
        return cohort
    kept: OrderedDict = cohort.memo(("prepare.filtered",), OrderedDict)
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
