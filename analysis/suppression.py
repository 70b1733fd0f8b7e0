"""Small-cell suppression: counts too small to show in a shared output, and what would reveal them.

The rule (applied in presenter mode and to every export made in it):

- A count from 1 to threshold - 1 is shown as the text "<threshold" (default "<5"): a handful
  of patients in a subgroup can be recognised by colleagues who know the clinic.
- Zero is kept as 0. A zero names nobody, and hiding it would also hide "no case of X", which
  is often the finding; this follows the common disclosure policies that suppress 1-4 and keep 0.
- Every percentage, rate or interval in a row whose count was suppressed becomes "suppressed":
  9% of 33 courses is 3 courses.
- Secondary suppression: a count column with exactly one suppressed cell would give it away
  through the column total (a two-row table "yes 3 / no 17" of 20 courses), so the smallest
  other non-zero count in that column is suppressed as well ("suppressed").
- Complements: when a count is given with its denominator (`denominators={"events": "n"}`),
  18 events of 20 reveals 2 courses without one, so a count whose complement is small is
  suppressed too.

The module works on plain DataFrames, never imports streamlit, and is shared by the app's
presenter mode, the CSV/Excel downloads and the HTML report.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
import re

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 5
SUPPRESSED = "suppressed"

# For a table whose columns were not declared (a page's table, a download), a column's name is
# split into words. Words of counts win (when the values are whole numbers); then words of values
# derived from counts (percentages, rates, interval bounds, summaries, even when whole numbers);
# a name made only of label words (month, iga, upper limit, ...) names a label, not a count.
_COUNT_WORDS = frozenset({"n", "count", "counts", "courses", "patients", "events", "cases", "results", "rows"})
_DERIVED_WORDS = frozenset({"pct", "percent", "percentage", "share", "rate", "proportion", "estimate", "ci", "ratio",
                            "fraction", "mean", "median", "sd", "std", "iqr", "q1", "q3", "quartile", "percentile", "min",
                            "max", "p", "hazard", "probability", "survival", "incidence", "change", "%"})
_LABEL_WORDS = frozenset({"month", "months", "week", "weeks", "day", "days", "year", "years", "date", "grade", "iga", "band",
                          "number", "idx", "id", "age", "dose", "weight", "horizon", "threshold", "visit", "phq9", "order",
                          "rank", "uln", "lln", "lower", "upper", "limit", "kg", "mg", "baseline", "start", "end", "default",
                          "course", "per", "of", "the", "in", "reference", "value", "values"})


def small_label(threshold: int = DEFAULT_THRESHOLD) -> str:
    """The text shown in place of a small count."""
    return f"<{int(threshold)}"


def is_small(n, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """True for a count that must not be shown (1 .. threshold - 1); zero and missing are not small."""
    try:
        value = float(n)
    except (TypeError, ValueError):
        return False
    return not np.isnan(value) and 0 < value < threshold


def suppress_count(n, threshold: int = DEFAULT_THRESHOLD):
    """One count as it may be shown: "<5" for 1-4, otherwise unchanged (0 stays 0, missing stays missing)."""
    if is_small(n, threshold):
        return small_label(threshold)
    if isinstance(n, (float, np.floating)) and not np.isnan(n) and float(n).is_integer():
        return int(n)
    return n


def suppress_table(table: pd.DataFrame, count_columns: Iterable[str], threshold: int = DEFAULT_THRESHOLD,
                   percent_columns: Iterable[str] = (), denominators: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A copy of `table` safe to show: small counts as "<threshold", revealing values as "suppressed".

    `count_columns` hold counts of people or courses; `percent_columns` hold values computed from
    them (percentages, rates, intervals); `denominators` maps a count column to the column holding
    its total, so that a small complement (total - count) is protected too. Columns that are absent
    are ignored, so one call serves tables with and without optional columns.
    """
    out = table.copy()
    counts = [c for c in dict.fromkeys(count_columns) if c in out.columns]
    derived = [c for c in dict.fromkeys(percent_columns) if c in out.columns and c not in counts]
    if not counts or out.empty:
        return out
    values = out[counts].apply(pd.to_numeric, errors="coerce")
    primary = (values > 0) & (values < threshold)
    complement = _small_complements(values, out, denominators or {}, threshold) & ~primary
    secondary = _secondary_cells(values, primary | complement)
    hidden_rows = (primary | complement | secondary).any(axis=1)
    for column in counts:
        cells = out[column].astype(object)
        cells = cells.where(~primary[column], small_label(threshold))
        cells = cells.where(~(complement[column] | secondary[column]), SUPPRESSED)
        out[column] = _integers_where_possible(cells)
    for column in derived:
        out[column] = out[column].astype(object).where(~hidden_rows, SUPPRESSED)
    return out


def suppress_any_table(table: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Suppression for a table whose columns were not declared, erring on the side of hiding.

    A whole, non-negative numeric column named like a count (n, courses, events, ...) holds counts;
    else one named like a derived value (percent, rate, interval bound, ...) is derived; else one
    named only with label words (month, grade, upper limit, ...) is left alone; any other holds
    counts when whole and non-negative (`month 6`, `1`, `yes`), else values derived from its row.
    """
    counts, derived = classify_columns(table)
    return suppress_table(table, counts, threshold, derived)


def classify_columns(table: pd.DataFrame) -> tuple[list, list]:
    """(count columns, derived columns) of a table, recognised by name and content."""
    counts, derived = [], []
    for column in table.columns:
        if not _numeric(table[column]):
            continue
        words, whole = _words(column), _whole_and_non_negative(table[column])
        if words & _COUNT_WORDS and whole:
            counts.append(column)
        elif words & _DERIVED_WORDS:
            derived.append(column)
        elif not words <= _LABEL_WORDS:
            (counts if whole else derived).append(column)
    return counts, derived


def _words(name) -> set[str]:
    text = str(name).lower()
    return set(re.findall(r"[a-z0-9]+", text)) | ({"%"} if "%" in text else set())


def _small_complements(values: pd.DataFrame, table: pd.DataFrame, denominators: Mapping[str, str],
                       threshold: int) -> pd.DataFrame:
    flags = pd.DataFrame(False, index=values.index, columns=values.columns)
    for column, total_column in denominators.items():
        if column in values.columns and total_column in table.columns:
            rest = pd.to_numeric(table[total_column], errors="coerce") - values[column]
            flags[column] = ((rest > 0) & (rest < threshold)).to_numpy()
    return flags


def _secondary_cells(values: pd.DataFrame, hidden: pd.DataFrame) -> pd.DataFrame:
    """In each column with exactly one hidden cell, also hide the smallest other non-zero count."""
    extra = pd.DataFrame(False, index=values.index, columns=values.columns)
    lone = hidden.sum() == 1
    for position, column in enumerate(values.columns):
        if not lone.iloc[position]:
            continue
        candidates = values.iloc[:, position].where(~hidden.iloc[:, position] & (values.iloc[:, position] > 0)).to_numpy(float)
        if not np.isnan(candidates).all():
            extra.iloc[int(np.nanargmin(candidates)), position] = True
    return extra


def _integers_where_possible(cells: pd.Series) -> pd.Series:
    def plain(value):
        if isinstance(value, (float, np.floating)) and not np.isnan(value) and float(value).is_integer():
            return int(value)
        return value
    return cells.map(plain)


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _whole_and_non_negative(series: pd.Series) -> bool:
    present = series.dropna().astype(float)
    return bool(((present % 1) == 0).all() and (present >= 0).all())
