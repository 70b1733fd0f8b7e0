"""The privacy rule at every boundary: no shown share, count or text lets a reader recover a count of 1-4.

Written as properties over every k of n up to 40 (and hand-worked edge cases), so that moving any
comparison by one (`rest > 0` to `rest > 1`, `n < 5` to `n <= 5`) fails a test.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.stats.suppression import (
    SUPPRESSED,
    bar_heights,
    blank_rows,
    classify_columns,
    complementary_cells,
    count_label,
    count_labels,
    hatch_pattern,
    hidden_bars,
    hidden_bars_note,
    hidden_cells,
    hidden_shares,
    how_many,
    inferred_totals,
    is_small,
    numerator_labels,
    pooled,
    redact_small_counts,
    share_labels,
    small_counts,
    small_label,
    suppress_any_table,
    suppress_count,
    suppress_table,
    withheld_note,
    withheld_reasons,
)

SMALL = range(1, 5)
PAIRS = [(k, n) for n in range(41) for k in range(n + 1)]


def revealing(k: int, n: int, threshold: int = 5) -> bool:
    """Whether k of n would give a count under the threshold away: n, k or n - k is 1 .. threshold - 1."""
    return any(0 < value < threshold for value in (n, k, n - k))


def shares_table() -> pd.DataFrame:
    k, n = np.array(PAIRS).T
    return pd.DataFrame({"n": n, "events": k, "percent": np.where(n > 0, 100 * k / np.maximum(n, 1), 0.0)})


def test_a_share_is_shown_exactly_when_neither_its_count_nor_its_complement_nor_its_total_is_small():
    out = suppress_table(shares_table(), ["n", "events"], percent_columns=["percent"], denominators={"events": "n"})
    shown = out["percent"] != SUPPRESSED
    assert shown.tolist() == [not revealing(k, n) for k, n in PAIRS]
    # 20 of 20 and 15 of 20 (complement 0 and 5) are shown; 19 of 20 and 16 of 20 (complement 1 and 4) are not
    assert [shown[PAIRS.index(pair)] for pair in [(20, 20), (15, 20), (19, 20), (16, 20)]] == [True, True, False, False]


def test_a_shown_count_never_lets_its_complement_or_itself_be_recovered():
    out = suppress_table(shares_table(), ["n", "events"], percent_columns=["percent"], denominators={"events": "n"})
    for (k, n), events, total in zip(PAIRS, out["events"], out["n"]):
        if isinstance(events, (int, np.integer)):
            assert events == k and k not in SMALL and (n - k) not in SMALL
        else:
            assert events == ("<5" if k in SMALL else SUPPRESSED)
        assert total == ("<5" if n in SMALL else n)


@pytest.mark.parametrize(
    "k, n, shown",
    [
        (19, 20, SUPPRESSED),
        (20, 20, 20),
        (15, 20, 15),
        (16, 20, SUPPRESSED),
        (0, 20, 0),
        (0, 4, SUPPRESSED),
        (5, 9, SUPPRESSED),
        (5, 10, 5),
    ],
)
def test_complement_edges_in_a_one_row_table(k, n, shown):
    table = pd.DataFrame({"n": [n], "events": [k], "percent": [100 * k / n]})
    out = suppress_table(table, ["n", "events"], percent_columns=["percent"], denominators={"events": "n"})
    assert out.loc[0, "events"] == shown
    assert (out.loc[0, "percent"] == SUPPRESSED) == revealing(k, n)


def test_the_complement_rule_follows_the_threshold():
    table = pd.DataFrame({"n": [20, 20, 20], "events": [11, 10, 12]})
    out = suppress_table(table, ["n", "events"], threshold=10, denominators={"events": "n"})
    assert out["events"].tolist() == [SUPPRESSED, 10, SUPPRESSED]  # complements 9, 10, 8


def test_chart_shares_hide_exactly_the_revealing_pairs():
    k, n = np.array(PAIRS).T
    assert hidden_shares(k, n, 5).tolist() == [revealing(a, b) for a, b in PAIRS]
    assert not hidden_shares(k, n, None).any()
    assert hidden_shares([0, 5, 0], [5, 5, 4], 5).tolist() == [False, False, True]


def test_chart_numerators_read_small_or_suppressed_as_the_table_does():
    k, n = np.array(PAIRS).T
    expected = ["<5" if a in SMALL else SUPPRESSED if (b - a) in SMALL else f"{a:,}" for a, b in PAIRS]
    assert numerator_labels(k, n, 5).tolist() == expected


@given(st.integers(0, 40), st.integers(0, 40))
@settings(max_examples=60, deadline=None)
def test_k_of_n_in_text_never_shows_a_small_count_or_complement(k, n):
    k, n = min(k, n), max(k, n)
    text = redact_small_counts(f"{k} of {n}")
    expected_k = "<5" if k in SMALL else SUPPRESSED if (n - k) in SMALL else str(k)
    assert text == f"{expected_k} of {'<5' if n in SMALL else n}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4 courses", "<5 courses"),
        ("5 courses", "5 courses"),
        ("0 events", "0 events"),
        ("n = 4", "n = <5"),
        ("n=5", "n=5"),
        ("1 patient", "<5 patient"),
        ("1,234 courses", "1,234 courses"),
        ("2.5 courses", "2.5 courses"),
        ("4% of courses", "4% of courses"),
        ("month 4", "month 4"),
        ("18 of 20", "suppressed of 20"),
        ("3 of 3", "<5 of <5"),
    ],
)
def test_counts_written_in_words(text, expected):
    assert redact_small_counts(text) == expected


def test_redaction_follows_the_threshold():
    assert redact_small_counts("9 courses, n = 10, 12 of 20", threshold=10) == "<10 courses, n = 10, suppressed of 20"


# ---------------------------------------------------------------------------------------------
# Undeclared tables: which columns are counts, and which is a count's total


def test_an_identical_copy_of_a_count_is_not_its_total():
    # 'patients' equals 'events': taken as the total it would make the rest 0 and show 18 of 20 courses.
    table = pd.DataFrame({"group": ["a", "b"], "events": [18, 30], "patients": [18, 30], "courses": [20, 40]})
    assert inferred_totals(table, ["events", "patients", "courses"]) == {"events": "courses", "patients": "courses"}
    out = suppress_any_table(table)
    assert out.loc[0, "events"] != 18 and out.loc[0, "patients"] != 18


def test_a_total_may_equal_its_part_in_some_rows():
    # 20 of 20 and 38 of 40: 'courses' covers 'events' though equal in one row, so the 38 (rest 2) is hidden.
    table = pd.DataFrame({"events": [20, 38, 50], "courses": [20, 40, 60]})
    assert inferred_totals(table, ["events", "courses"]) == {"events": "courses"}
    assert suppress_any_table(table).loc[1, "events"] == SUPPRESSED


def test_the_smallest_covering_column_is_the_total():
    table = pd.DataFrame({"events": [3, 10], "courses": [20, 40], "patients": [25, 50]})
    assert inferred_totals(table, ["events", "courses", "patients"]) == {"events": "courses", "courses": "patients"}
    table["patients"] = [25, 30]  # now the smaller sum, and still covering events (not courses)
    assert inferred_totals(table, ["events", "courses", "patients"]) == {"events": "patients"}


def test_a_non_whole_column_named_like_a_count_is_derived():
    # Taken as counts, 12.5 would stay beside the hidden 3 and 2.5 would read "<5".
    table = pd.DataFrame({"group": ["a", "b", "c"], "courses": [3, 40, 50], "mean courses": [12.5, 3.2, 2.5]})
    assert classify_columns(table) == (["courses"], ["mean courses"])
    out = suppress_any_table(table)
    assert out["mean courses"].tolist() == [SUPPRESSED, SUPPRESSED, 2.5]


@pytest.mark.parametrize(
    "column, values, kind",
    [
        ("n", [3, 40], "count"),
        ("n", [-1, 40], "derived"),
        ("courses", [2.5, 40], "derived"),
        ("percent", [3, 40], "derived"),
        ("month", [3, 40], "label"),
        ("upper limit", [3, 40], "label"),
        ("yes", [3, 40], "count"),
        ("yes", [0.5, 40], "derived"),
        ("rate", [0.5, 1.5], "derived"),
        ("flag", [True, False], "label"),
        ("courses rate", [3, 40], "count"),
    ],
)
def test_columns_are_classified_by_name_then_content(column, values, kind):
    counts, derived = classify_columns(pd.DataFrame({column: values}))
    assert (counts, derived) == {"count": ([column], []), "derived": ([], [column]), "label": ([], [])}[kind]


def test_an_undeclared_table_keeps_every_count_a_part_of_its_row():
    # Taken as a total, 'courses' would be left out of the row; the row's lone '<5' would then stand alone.
    table = pd.DataFrame({"g": ["a", "b", "c"], "events": [3, 20, 30], "courses": [30, 40, 50]})
    out = suppress_any_table(table)
    hidden = out[["events", "courses"]].isin(["<5", SUPPRESSED]).to_numpy()
    assert out.loc[0, "events"] == "<5" and (hidden.sum(axis=1) != 1).all() and (hidden.sum(axis=0) != 1).all()


# ---------------------------------------------------------------------------------------------
# Single counts and chart text


@pytest.mark.parametrize(
    "n, small",
    [
        (0, False),
        (1, True),
        (4, True),
        (4.99, True),
        (5, False),
        (-1, False),
        (0.5, True),
        (np.nan, False),
        (None, False),
        ("3", True),
        ("x", False),
    ],
)
def test_is_small_at_its_edges(n, small):
    assert is_small(n) is small


def test_a_whole_float_count_is_shown_as_an_integer():
    assert suppress_count(7.0) == 7 and isinstance(suppress_count(7.0), int)
    assert suppress_count(7.5) == 7.5 and suppress_count("7") == "7"


def test_chart_count_text():
    assert count_labels([0, 1, 4, 5, 1234, np.nan, 7.5], 5).tolist() == ["0", "<5", "<5", "5", "1,234", "–", "7.5"]
    assert count_labels([1, 4], None).tolist() == ["1", "4"]
    assert count_label(3, 5) == "<5" and count_label(3) == "3" and small_label(10) == "<10"
    assert small_counts([0, 1, 4, 5], 5).tolist() == [False, True, True, False]
    assert not small_counts([1, 2], None).any()


def test_share_text_says_suppressed_where_hidden():
    assert share_labels([0.5, 0.25, np.nan], [False, True, False]).tolist() == ["50.0%", SUPPRESSED, "–"]
    assert share_labels([0.5], [False], ".0%").tolist() == ["50%"]


def test_bars_small_and_protecting():
    heights, text, hidden = bar_heights([0, 3, 10, 7, 20], 5)
    assert heights.tolist() == [0, 5, 10, 5, 20]
    assert text.tolist() == ["0", "<5", "10", SUPPRESSED, "20"]
    assert hidden.tolist() == [False, True, False, True, False]
    heights, text, hidden = bar_heights([0, 3, 10], None)
    assert heights.tolist() == [0, 3, 10] and not hidden.any()


@pytest.mark.parametrize(
    "counts, small, protecting",
    [
        ([4, 0, 0], [True, False, False], [False, True, False]),  # a lone 4 among zeros: a zero hides with it
        ([1, 1, 9, 30], [True, True, False, False], [False, False, True, False]),  # all 1: their sum pins them
        ([4, 4, 9, 30], [True, True, False, False], [False, False, True, False]),  # all 4 likewise
        ([1, 4, 9, 30], [True, True, False, False], [False, False, False, False]),  # 1 + 4 could be 2 + 3
        ([2, 2, 9, 30], [True, True, False, False], [False, False, False, False]),
        ([5, 6, 9], [False] * 3, [False] * 3),
    ],
)
def test_a_series_protects_its_small_bars_only_when_its_total_pins_them(counts, small, protecting):
    got_small, got_protecting = hidden_bars(counts, 5)
    assert got_small.tolist() == small and got_protecting.tolist() == protecting


def test_grid_cells_are_protected_row_by_row():
    small, protecting = hidden_cells(pd.DataFrame({"a": [3, 10], "b": [10, 20], "c": [30, 2]}), 5)
    assert small.to_numpy().tolist() == [[True, False, False], [False, False, True]]
    assert protecting.to_numpy().tolist() == [[False, True, False], [True, False, False]]


def test_complementary_cells_grows_a_lone_hidden_cell_into_a_rectangle():
    values = np.array([[3.0, 10.0], [20.0, 30.0]])
    small = values < 5
    assert complementary_cells(values, small, small, 5).tolist() == [[True, True], [True, True]]
    parts = np.array([True, False])  # the second column is the rows' total: rows need no partner
    assert complementary_cells(values, small, small, 5, parts).tolist() == [[True, False], [True, False]]


def test_pooled_shares_keep_their_stack_height():
    values = pd.DataFrame({"a": [0.1, 0.5], "b": [0.3, 0.5], "c": [0.6, 0.0]})
    hidden = pd.DataFrame({"a": [True, False], "b": [True, False], "c": [False, False]})
    assert pooled(values, hidden).to_numpy().tolist() == [[0.2, 0.2, 0.6], [0.5, 0.5, 0.0]]


def test_notes_and_patterns():
    assert hatch_pattern([True, False]) == {"shape": ["/", ""], "solidity": 0.45}
    assert hidden_bars_note(5) == (
        "Hatched: fewer than 5 courses (or hidden with one so totals cannot reveal it), drawn at 5"
    )
    assert hidden_bars_note(5, "results", pooled_parts=True).endswith(
        "results (or hidden with one so totals cannot reveal it), sharing their combined height"
    )
    assert how_many(1, "group") == "1 group" and how_many(2, "group") == "2 groups" and how_many(0, "x", "ys") == "0 ys"
    assert withheld_note(5, "2 groups", "patients") == (
        "Not drawn: 2 groups (a count under 5: fewer than 5 patients, or fewer than 5 with or without it)"
    )


def test_blank_rows_makes_hidden_rows_missing():
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]})
    out = blank_rows(frame, [False, True])
    assert out.loc[0].tolist() == [1.0, 3.0] and out.loc[1].isna().all()


# ---------------------------------------------------------------------------------------------
# Tables: which further cells a hidden one pulls with it, and what a table without counts keeps


def _shown(table: dict, counts: tuple, **options) -> list[dict]:
    return suppress_table(pd.DataFrame(table), counts, **options).to_dict("records")


def test_two_small_cells_that_do_not_pin_their_total_hide_nothing_else():
    """2 + 3 = 5: neither their number (2) nor their number times 4 (8), so no reader can solve them."""
    assert _shown({"a": [2], "b": [3], "c": [50], "d": [60]}, ("a", "b", "c", "d")) == [
        {"a": "<5", "b": "<5", "c": 50, "d": 60}
    ]


@pytest.mark.parametrize("small", [1, 4])
def test_small_cells_all_one_or_all_four_take_the_smallest_other_cell_with_them(small):
    """1 + 1 = their number, 4 + 4 = their number times 4: the row's total would give both away."""
    assert _shown({"a": [small], "b": [small], "c": [50], "d": [60]}, ("a", "b", "c", "d")) == [
        {"a": "<5", "b": "<5", "c": SUPPRESSED, "d": 60}
    ]


def test_a_cell_hidden_for_its_small_complement_is_protected_in_its_column_too():
    """18 of 20 hides 18 (its complement is 2); the column's total would give it away, so 10 goes too."""
    shown = _shown({"cases": [18, 10], "n": [20, 40]}, ("cases", "n"), denominators={"cases": "n"})
    assert shown == [{"cases": SUPPRESSED, "n": 20}, {"cases": SUPPRESSED, "n": 40}]


def test_a_denominator_column_the_table_lacks_is_ignored():
    shown = _shown({"cases": [18, 10], "n": [20, 40]}, ("cases",), denominators={"cases": "total"})
    assert shown == [{"cases": 18, "n": 20}, {"cases": 10, "n": 40}]


def test_a_table_without_rows_or_without_its_count_columns_comes_back_unchanged():
    empty = pd.DataFrame({"n": pd.Series([], dtype=float), "rate": pd.Series([], dtype=float)})
    assert suppress_table(empty, ("n",), percent_columns=("rate",)).equals(empty)
    labels = pd.DataFrame({"label": ["a"], "rate": [0.5]})
    assert suppress_table(labels, ("n",), percent_columns=("rate",)).equals(labels)


def test_a_column_named_both_count_and_derived_is_treated_as_a_count():
    shown = _shown({"n": [2, 40], "rate": [0.1, 0.2]}, ("n",), percent_columns=("n", "rate"))
    assert shown[0] == {"n": "<5", "rate": SUPPRESSED}


def test_whole_counts_stored_as_floats_are_shown_as_whole_numbers():
    shown = suppress_table(pd.DataFrame({"n": [40.0, 30.0]}), ("n",))["n"].tolist()
    assert shown == [40, 30] and all(type(value) is int for value in shown)


def test_k_of_n_in_words_with_a_small_k_reads_under_the_threshold_not_suppressed():
    """3 of 6: 3 is small itself, so it reads "<5" (its rest, 3, is small too, but k already says so)."""
    assert redact_small_counts("3 of 6 courses") == "<5 of 6 courses"


def test_percent_signs_and_statistics_written_as_text_are_derived_columns():
    counts, derived = classify_columns(pd.DataFrame({"% filled": [12], "median days": ["143"], "courses": [12]}))
    assert counts == ["courses"] and derived == ["% filled", "median days"]


def test_a_withheld_share_says_which_count_is_small():
    """A group of 28 courses is not "a count under 5": when its share is withheld because few are without
    the effect, the note says it is the rest of the group that is small."""
    reasons = withheld_reasons([26, 2, 2, 10, 0], [28, 40, 3, 40, 40], 5)
    assert list(reasons) == [
        "not shown: the rest of the group (without it) is under 5",
        "count under 5: not shown",
        "fewer than 5 courses: not shown",
        "",
        "",
    ]
    assert list(withheld_reasons([26], [28], None)) == [""]
    assert (withheld_reasons([26, 2, 2, 10], [28, 40, 3, 40], 5) != "").tolist() == list(
        hidden_shares([26, 2, 2, 10], [28, 40, 3, 40], 5)
    )


def test_a_count_column_with_a_fraction_shows_it_as_written():
    """Only whole numbers become integers: 12.5 shown as 12 would misstate the value."""
    assert _shown({"n": [12.5, 40.0]}, ("n",)) == [{"n": 12.5}, {"n": 40}]


@pytest.mark.parametrize("column", ["n", "yes"])
def test_a_column_of_counts_may_hold_zeros(column):
    assert classify_columns(pd.DataFrame({column: [0, 3, 40]})) == ([column], [])


def test_a_grid_wider_than_tall_is_protected_by_columns_then_rows():
    # 3 alone in column a hides the 30 under it; rows a-b then each hold one hidden cell, so 10 and 40 go too.
    values = np.array([[3.0, 10.0, 20.0], [30.0, 40.0, 50.0]])
    small = values < 5
    assert complementary_cells(values, small, small, 5).tolist() == [[True, True, False], [True, True, False]]
