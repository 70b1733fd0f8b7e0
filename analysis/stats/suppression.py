"""Small-cell suppression: counts too small to show in a shared output, and what would reveal them.

The rule (applied in presenter mode and to every export made in it):

- A count from 1 to threshold - 1 is shown as the text "<threshold" (default "<5"): a handful
  of patients in a subgroup can be recognised by colleagues who know the clinic.
- Zero is kept as 0. A zero names nobody, and hiding it would also hide "no case of X", which
  is often the finding; this follows the common disclosure policies that suppress 1-4 and keep 0.
- Every percentage, rate or interval in a row whose count was suppressed becomes "suppressed":
  9% of 33 courses is 3 courses. So does every statistic of that row's group (a median, mean or
  quartile, even one written as text such as "143 days" or "not reached"): the median of 3 courses
  is one of them.
- Complementary suppression, across columns and rows: a column or row of counts has a total the
  reader may know (a two-row table "yes 3 / no 17" of 20 courses, a shift table's row of grades),
  so when its hidden cells could be worked out from that total (exactly one hidden cell, or hidden
  cells that are all 1 or all threshold - 1) its smallest other non-zero count (a zero when it has
  none) is suppressed as well ("suppressed"), repeated until no column or row gives a hidden cell
  away. A column named as the total of a row (a denominator, below) is not one of the row's parts.
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

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 5
SUPPRESSED = "suppressed"

# For a table whose columns were not declared (a page's table, a download), a column's name is
# split into words. Words of counts win (when the values are whole numbers); then words of values
# derived from counts (percentages, rates, interval bounds, summaries, even when whole numbers);
# a name made only of label words (month, iga, upper limit, ...) names a label, not a count.
_COUNT_WORDS = frozenset({"n", "count", "counts", "courses", "patients", "events", "cases", "results", "rows"})
_DERIVED_WORDS = frozenset(
    {
        "pct",
        "percent",
        "percentage",
        "share",
        "rate",
        "proportion",
        "estimate",
        "ci",
        "ratio",
        "fraction",
        "mean",
        "median",
        "sd",
        "std",
        "iqr",
        "q1",
        "q3",
        "quartile",
        "percentile",
        "min",
        "max",
        "p",
        "hazard",
        "probability",
        "survival",
        "incidence",
        "change",
        "%",
    }
)
_LABEL_WORDS = frozenset(
    {
        "month",
        "months",
        "week",
        "weeks",
        "day",
        "days",
        "year",
        "years",
        "date",
        "grade",
        "iga",
        "band",
        "number",
        "idx",
        "id",
        "age",
        "dose",
        "weight",
        "horizon",
        "threshold",
        "visit",
        "phq9",
        "order",
        "rank",
        "uln",
        "lln",
        "lower",
        "upper",
        "limit",
        "kg",
        "mg",
        "baseline",
        "start",
        "end",
        "default",
        "course",
        "per",
        "of",
        "the",
        "in",
        "reference",
        "value",
        "values",
    }
)


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


# A count written in words: "3 courses", "2 of 40", "n = 4" (a count word after the number, or "n =" before it).
_COUNT_IN_TEXT = re.compile(
    r"(?<![\w.,\-+<])(?P<k>\d[\d,]*)(?![\d.%])(?P<rest>\s+of\s+(?P<n>\d[\d,]*)(?![\d.%])"
    r"|\s*(?:courses?|patients?|people|episodes?|events?|results?|rows?|cases?|relapses?|visits?|side effects?)\b)"
    r"|(?P<eq>\bn\s*=\s*)(?P<m>\d[\d,]*)(?![\d.])",
    re.IGNORECASE,
)


def redact_small_counts(text: str, threshold: int = DEFAULT_THRESHOLD) -> str:
    """`text` with every small count written in it as "<threshold": a number from 1 to threshold - 1
    before a count word or after "n =", and in "k of n" also a k whose rest n - k is small ("suppressed")."""

    def replace(match: re.Match) -> str:
        if match["eq"]:
            return match["eq"] + _shown_in_text(_number(match["m"]), threshold, match["m"])
        k, rest = _number(match["k"]), match["rest"]
        if match["n"]:
            n = _number(match["n"])
            shown_k = (
                SUPPRESSED
                if is_small(n - k, threshold) and not is_small(k, threshold)
                else _shown_in_text(k, threshold, match["k"])
            )
            return (
                f"{shown_k}{rest[: match.start('n') - match.start('rest')]}{_shown_in_text(n, threshold, match['n'])}"
            )
        return _shown_in_text(k, threshold, match["k"]) + rest

    return _COUNT_IN_TEXT.sub(replace, text)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _shown_in_text(n: int, threshold: int, written: str) -> str:
    return small_label(threshold) if is_small(n, threshold) else written


def suppress_table(
    table: pd.DataFrame,
    count_columns: Iterable[str],
    threshold: int = DEFAULT_THRESHOLD,
    percent_columns: Iterable[str] = (),
    denominators: Mapping[str, str] | None = None,
    row_totals: Iterable[str] | None = None,
) -> pd.DataFrame:
    """A copy of `table` safe to show: small counts as "<threshold", revealing values as "suppressed".

    `count_columns` hold counts of people or courses; `percent_columns` hold values computed from
    them (percentages, rates, intervals); `denominators` maps a count column to the column holding
    its total, so that a small complement (total - count) is protected too. `row_totals` are the
    count columns that are not parts of their row (by default the denominators' columns). Columns
    that are absent are ignored, so one call serves tables with and without optional columns.
    """
    out = table.copy()
    counts = [c for c in dict.fromkeys(count_columns) if c in out.columns]
    derived = [c for c in dict.fromkeys(percent_columns) if c in out.columns and c not in counts]
    if not counts or out.empty:
        return out
    values = out[counts].apply(pd.to_numeric, errors="coerce")
    primary = (values > 0) & (values < threshold)
    complement = _small_complements(values, out, denominators or {}, threshold) & ~primary
    totals = set((denominators or {}).values() if row_totals is None else row_totals)
    row_parts = [c not in totals for c in counts]
    secondary = pd.DataFrame(
        complementary_cells(
            values.to_numpy(float),
            primary.to_numpy(),
            (primary | complement).to_numpy(),
            threshold,
            np.array(row_parts, dtype=bool),
        ),
        index=values.index,
        columns=values.columns,
    ) & ~(primary | complement)
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
    A count column never smaller than another is taken as its total, so "18 of 20" hides the 18
    (`inferred_totals`); every count column stays a part of its row, since that guess may be wrong.
    """
    counts, derived = classify_columns(table)
    return suppress_table(table, counts, threshold, derived, inferred_totals(table, counts), row_totals=())


def inferred_totals(table: pd.DataFrame, counts: list) -> dict:
    """count column -> the smallest other count column at least as large in every row (its likely
    total: courses counted for courses clear, courses at risk for courses with a side effect)."""
    values = table[counts].apply(pd.to_numeric, errors="coerce")
    totals = {}
    for part in counts:
        covering = [
            c for c in counts if c != part and (values[c] >= values[part]).all() and not values[c].equals(values[part])
        ]
        if covering:
            totals[part] = min(covering, key=lambda c: values[c].sum())
    return totals


def classify_columns(table: pd.DataFrame) -> tuple[list, list]:
    """(count columns, derived columns) of a table, recognised by name and content."""
    counts, derived = [], []
    for column in table.columns:
        if not _numeric(table[column]):
            if _words(column) & _DERIVED_WORDS:  # a statistic written as text ("143", "not reached") is one still
                derived.append(column)
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


def _small_complements(
    values: pd.DataFrame, table: pd.DataFrame, denominators: Mapping[str, str], threshold: int
) -> pd.DataFrame:
    flags = pd.DataFrame(False, index=values.index, columns=values.columns)
    for column, total_column in denominators.items():
        if column in values.columns and total_column in table.columns:
            rest = pd.to_numeric(table[total_column], errors="coerce") - values[column]
            flags[column] = ((rest > 0) & (rest < threshold)).to_numpy()
    return flags


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
    text = np.array(
        ["–" if np.isnan(c) else f"{int(c):,}" if float(c).is_integer() else f"{c:,}" for c in counts], dtype=object
    )
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


def withheld_reasons(numerators, totals, threshold: int | None, unit: str = "courses") -> np.ndarray:
    """Why each share k of n is not drawn, in words for the row that stands in for it: the group is
    small, few have the event, or few do not (the rest of the group is small: 26 of 28 would reveal
    the 2 without it). "" where the share is drawn. Says no more than the "<5" / "suppressed" labels
    of `numerator_labels` beside it."""
    k = _numbers(numerators)
    n = _numbers(totals)
    reasons = np.full(k.shape, "", dtype=object)
    if threshold is None:
        return reasons
    reasons[small_counts(n - k, threshold)] = f"not shown: the rest of the group (without it) is under {threshold}"
    reasons[small_counts(k, threshold)] = f"count under {threshold}: not shown"
    reasons[(n > 0) & (n < threshold)] = f"fewer than {threshold} {unit}: not shown"
    return reasons


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
    """(small, protecting) masks for bars of one series whose total is known (a histogram, one stack):
    the small bars, and the bar hidden with them when their total would pin them down."""
    values = _numbers(counts)
    small = small_counts(values, threshold)
    if threshold is None:
        return small, np.zeros(values.shape, dtype=bool)
    hidden = complementary_cells(values[None, :], small[None, :], small[None, :], threshold)[0]
    return small, hidden & ~small


def complementary_cells(
    values: np.ndarray, small: np.ndarray, hidden: np.ndarray, threshold: int, row_parts: np.ndarray | None = None
) -> np.ndarray:
    """`hidden` grown until no column, and no row (over its `row_parts` columns), gives a hidden cell away.

    A line whose total may be known gives its hidden cells away when there is one, or when they are
    all small and add up to their number or to their number times threshold - 1 (all 1, all 4); its
    smallest other non-zero cell (a zero when there is none) is then hidden too. Each added cell may
    expose another line, hence the repetition; columns go first, so a cell added for a column can
    serve its row too. Rows and columns are the same rule, and the charts' series use it as well.
    """
    hidden = hidden.copy()
    parts = np.ones(values.shape[1], dtype=bool) if row_parts is None else np.asarray(row_parts, dtype=bool)
    while True:
        by_columns = _protect_lines(values.T, small.T, hidden.T, threshold).T
        by_rows = _protect_lines(
            values, small, hidden | by_columns, threshold, parts
        )  # after the columns' cells: fewer added
        if not (by_columns | by_rows).any():
            return hidden
        hidden |= by_columns | by_rows


def _protect_lines(
    values: np.ndarray, small: np.ndarray, hidden: np.ndarray, threshold: int, parts: np.ndarray | None = None
) -> np.ndarray:
    """For each row of `values` (over its `parts` columns) that gives its hidden cells away, its smallest
    other non-zero cell, or a zero when nothing else is left (a lone 4 among zeros is its line's total)."""
    parts = np.ones(values.shape[1], dtype=bool) if parts is None else parts
    in_line = hidden & parts
    count = in_line.sum(axis=1)
    total = np.where(in_line, values, 0).sum(axis=1)
    only_small = ~(in_line & ~small).any(axis=1)
    pinned = (count == 1) | ((count > 1) & only_small & ((total == count) | (total == count * (threshold - 1))))
    others = np.where(~hidden & parts & (values >= 0), np.where(values > 0, values, np.finfo(float).max), np.inf)
    smallest = others.argmin(axis=1) if values.shape[1] else np.zeros(len(values), dtype=int)
    chosen = pinned & np.isfinite(others.min(axis=1, initial=np.inf))
    added = np.zeros(values.shape, dtype=bool)
    added[np.flatnonzero(chosen), smallest[chosen]] = True
    return added


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
    return (
        pd.DataFrame(small, index=counts.index, columns=counts.columns),
        pd.DataFrame(protecting, index=counts.index, columns=counts.columns),
    )


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
