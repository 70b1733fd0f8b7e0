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

Charts follow the same rule, because a mark's position is a number too. Every figure function of
`analysis` takes `suppress_below` (the threshold, or None to draw every count as it is); the app
passes it in presenter mode and the shared report always:

- Counts drawn as bars (histogram bins, category bars, stacked bars, heat-map cells): a bar of 1 to
  threshold - 1 is drawn hatched at the height of the threshold, with "<5" in its hover. A series
  (a histogram, one stack) has a known total, so when its small bars could be worked out from it
  (a lone small bar, or small bars all 1 or all threshold - 1) the smallest other bar is hatched
  too and reads "suppressed". Zero stays 0.
- Stacks of shares that make 100% (IGA grades per month, how episodes ended): the hidden parts of a
  stack share their combined height equally, so the stack still reads 100% and no hidden part
  shows its own size.
- Stacks of shares that do not make 100% (worst lab grade per test): a hidden part is not drawn
  and is named at the end of its row.
- Shares with a confidence interval (k of n): the point and its interval are not drawn when n is
  under the threshold (too few to estimate), or k or n - k is 1 to threshold - 1 (the share times
  n would give the small count back). A line leaves a gap; a chart with one row per category keeps
  the row and says "count under 5" in it; the subtitle says what was left out.
- Medians and other summaries per time point: not drawn when based on fewer results or courses
  than the threshold.
- Kaplan-Meier curves are cumulative and stay; a curve of fewer courses than the threshold is not
  drawn; the number at risk, event counts in hovers and the n in the legend read "<5".
- Charts of single courses (eDISH, individual-course lines) are not drawn at all: one point per
  course names nobody, but it shows a recognisable patient's values.
- Every count written in a chart (hover, text, axis labels such as "n=<5", subtitles) reads "<5",
  and every share computed from a hidden count reads "suppressed".

The module works on plain DataFrames, never imports streamlit, and is shared by the app's
presenter mode, the CSV/Excel downloads, the charts and the HTML report.
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


# ---------------------------------------------------------------------------------------------
# Charts: counts and shares as a figure may show them (threshold None: everything as it is)

HATCH = "/"


def _numbers(values) -> np.ndarray:
    """Any list, array or Series of counts as floats (missing and non-numbers as NaN)."""
    return pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce").to_numpy(float)


def small_counts(values, threshold: int | None) -> np.ndarray:
    """True where a count must not be drawn or written (1 .. threshold - 1); nothing without a threshold."""
    counts = _numbers(values)
    if threshold is None:
        return np.zeros(counts.shape, dtype=bool)
    return (counts > 0) & (counts < threshold)


def count_label(n, threshold: int | None = None) -> str:
    """One count as a chart writes it: "1,234"; "<5" for 1-4 under a threshold of 5; "–" when missing."""
    return str(count_labels([n], threshold)[0])


def count_labels(values, threshold: int | None = None) -> np.ndarray:
    """Counts as chart text (hover, labels, ticks): thousands separators, small ones as "<threshold"."""
    counts = _numbers(values)
    small = small_counts(counts, threshold)
    text = np.array(["–" if np.isnan(c) else f"{int(c):,}" if float(c).is_integer() else f"{c:,}" for c in counts], dtype=object)
    if small.any():
        text[small] = small_label(threshold)
    return text


def hidden_shares(numerators, totals, threshold: int | None) -> np.ndarray:
    """Shares k of n that must not be drawn: n under the threshold, or k or n - k from 1 to threshold - 1."""
    k = _numbers(numerators)
    n = _numbers(totals)
    if threshold is None:
        return np.zeros(k.shape, dtype=bool)
    too_few = (n > 0) & (n < threshold)
    return too_few | small_counts(k, threshold) | small_counts(n - k, threshold)


def numerator_labels(numerators, totals, threshold: int | None) -> np.ndarray:
    """The k of "k of n" as chart text: "<5" when small, "suppressed" when n - k is small (18 of 20
    would reveal the 2 without it), else the count."""
    text = count_labels(numerators, threshold)
    k = _numbers(numerators)
    n = _numbers(totals)
    text[small_counts(n - k, threshold) & ~small_counts(k, threshold)] = SUPPRESSED
    return text


def share_labels(values, hidden, number_format: str = ".1%") -> np.ndarray:
    """Shares as chart text: formatted, or "suppressed" where the count behind them is hidden."""
    shares = _numbers(values)
    text = np.array(["–" if np.isnan(v) else format(v, number_format) for v in shares], dtype=object)
    text[np.asarray(hidden, dtype=bool)] = SUPPRESSED
    return text


def hidden_bars(counts, threshold: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(small, protecting) masks for bars of one series whose total is known (a histogram, one stack).

    The small bars are hidden; when their total would pin them down (a lone small bar, or small
    bars that are all 1 or all threshold - 1), the smallest other non-zero bar is hidden too."""
    values = _numbers(counts)
    small = small_counts(values, threshold)
    protecting = np.zeros(values.shape, dtype=bool)
    hidden, total = int(small.sum()), float(values[small].sum())
    if hidden and (hidden == 1 or total in (hidden, hidden * (threshold - 1))):
        others = np.where(~small & (values > 0), values, np.nan)
        if not np.isnan(others).all():
            protecting[int(np.nanargmin(others))] = True
    return small, protecting


def bar_heights(counts, threshold: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heights to draw and chart text for a series of count bars, with the mask of hatched bars.

    A hidden bar is drawn at the threshold; its text is "<threshold" (small) or "suppressed"
    (hidden to protect a small one)."""
    values = _numbers(counts)
    small, protecting = hidden_bars(values, threshold)
    hidden = small | protecting
    heights = np.where(hidden, threshold or 0, values)
    text = count_labels(values, threshold)
    text[protecting] = SUPPRESSED
    return heights, text, hidden


def hidden_cells(counts: pd.DataFrame, threshold: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(small, protecting) masks for a grid whose rows are series with a known total (stacked bars,
    heat-map rows), each row protected as `hidden_bars` protects a series."""
    values = counts.apply(pd.to_numeric, errors="coerce").to_numpy(float)
    masks = [hidden_bars(row, threshold) for row in values]
    small = np.array([m[0] for m in masks], dtype=bool).reshape(values.shape)
    protecting = np.array([m[1] for m in masks], dtype=bool).reshape(values.shape)
    return (pd.DataFrame(small, index=counts.index, columns=counts.columns),
            pd.DataFrame(protecting, index=counts.index, columns=counts.columns))


def pooled(values: pd.DataFrame, hidden: pd.DataFrame) -> pd.DataFrame:
    """Values of a grid with each row's hidden cells sharing their row's hidden total equally: a
    stack of shares keeps its true height while no hidden part shows its own size."""
    numbers = values.astype(float)
    hidden_total = numbers.where(hidden, 0).sum(axis=1)
    hidden_number = hidden.sum(axis=1).replace(0, np.nan)
    share = (hidden_total / hidden_number).to_numpy()[:, None]
    return numbers.mask(hidden, np.broadcast_to(share, numbers.shape), axis=None)


def hatch_pattern(hidden) -> dict:
    """Plotly marker pattern: hatched where a bar stands for a hidden count, plain elsewhere."""
    return {"shape": [HATCH if h else "" for h in np.asarray(hidden, dtype=bool)], "solidity": 0.45}


def hidden_bars_note(threshold: int, unit: str = "courses", pooled_parts: bool = False) -> str:
    """Subtitle words for a chart with hatched bars (`pooled_parts`: hidden parts of a stack of shares)."""
    drawn = "sharing their combined height" if pooled_parts else f"drawn at {threshold}"
    return f"Hatched: fewer than {threshold} {unit} (or hidden with one so totals cannot reveal it), {drawn}"


def how_many(n: int, singular: str, plural: str | None = None) -> str:
    """'1 group', '3 groups': for the notes of left-out points."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def withheld_note(threshold: int, what: str, unit: str = "courses") -> str:
    """Subtitle words for points left out: `what` names them ("months 1, 14", "2 groups")."""
    return f"Not drawn: {what} (a count under {threshold}: fewer than {threshold} {unit}, or fewer than {threshold} with or without it)"


def blank_rows(frame: pd.DataFrame, hidden) -> pd.DataFrame:
    """`frame` with the values of hidden rows made missing (so a chart leaves them out)."""
    mask = np.broadcast_to(np.asarray(hidden, dtype=bool)[:, None], frame.shape)
    return frame.mask(mask)
