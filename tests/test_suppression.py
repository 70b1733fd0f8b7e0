"""Small-cell suppression at its edges: 4 is hidden, 5 is shown, 0 is kept, and nothing gives a hidden cell away."""

import numpy as np
import pandas as pd
import pytest

from analysis.stats.suppression import (
    DEFAULT_THRESHOLD,
    SUPPRESSED,
    hidden_bars,
    is_small,
    suppress_any_table,
    suppress_count,
    suppress_table,
)


def test_default_threshold_is_five():
    assert DEFAULT_THRESHOLD == 5


@pytest.mark.parametrize(
    "n, shown", [(0, 0), (1, "<5"), (4, "<5"), (5, 5), (6, 6), (1000, 1000), (4.0, "<5"), (5.0, 5)]
)
def test_count_edges(n, shown):
    assert suppress_count(n) == shown


def test_zero_is_kept_and_missing_passes_through():
    assert suppress_count(0) == 0
    assert np.isnan(suppress_count(float("nan")))
    assert suppress_count(None) is None
    assert not is_small(0) and not is_small(None) and not is_small("text")


def test_threshold_is_in_the_text():
    assert suppress_count(9, threshold=10) == "<10"
    assert suppress_count(10, threshold=10) == 10
    assert suppress_count(4, threshold=3) == 4


def test_percentages_of_a_suppressed_count_are_suppressed():
    table = pd.DataFrame(
        {
            "group": ["a", "b", "c"],
            "n": [40, 50, 60],
            "events": [3, 20, 30],
            "percent": [7.5, 40.0, 50.0],
            "ci_low": [1.6, 26.0, 37.0],
        }
    )
    out = suppress_table(table, ["n", "events"], percent_columns=["percent", "ci_low"], denominators={"events": "n"})
    assert out.loc[0, "events"] == "<5"
    assert out.loc[0, "percent"] == SUPPRESSED and out.loc[0, "ci_low"] == SUPPRESSED
    assert out.loc[0, "n"] == 40  # the group size, declared as the row's total, reveals nothing


def test_two_row_table_complement_is_secondarily_suppressed():
    # With the total of 20 known, "no 17" would give "yes 3" away.
    table = pd.DataFrame({"answer": ["yes", "no"], "courses": [3, 17], "percent": [15.0, 85.0]})
    out = suppress_table(table, ["courses"], percent_columns=["percent"])
    assert out["courses"].tolist() == ["<5", SUPPRESSED]
    assert out["percent"].tolist() == [SUPPRESSED, SUPPRESSED]


def test_secondary_suppression_picks_the_smallest_other_nonzero_cell():
    table = pd.DataFrame({"group": list("abcd"), "events": [2, 0, 40, 9]})
    out = suppress_table(table, ["events"])
    assert out["events"].tolist() == ["<5", 0, 40, SUPPRESSED]


def test_two_small_cells_need_no_secondary():
    table = pd.DataFrame({"group": list("abc"), "events": [2, 3, 40]})
    out = suppress_table(table, ["events"])
    assert out["events"].tolist() == ["<5", "<5", 40]


def test_small_complement_of_a_count_with_its_denominator():
    # 18 of 20 reveals 2 courses without the event.
    table = pd.DataFrame(
        {"group": ["a", "b", "c"], "n": [20, 50, 60], "events": [18, 20, 30], "percent": [90.0, 40.0, 50.0]}
    )
    out = suppress_table(table, ["n", "events"], percent_columns=["percent"], denominators={"events": "n"})
    assert out.loc[0, "events"] == SUPPRESSED and out.loc[0, "percent"] == SUPPRESSED
    # the lone hidden events cell is protected by a secondary one in the same column
    assert (out["events"] == SUPPRESSED).sum() == 2


def test_nothing_small_leaves_the_table_unchanged():
    table = pd.DataFrame({"group": ["a", "b"], "n": [10, 20], "percent": [1.0, 2.0]})
    out = suppress_table(table, ["n"], percent_columns=["percent"])
    pd.testing.assert_frame_equal(out, table, check_dtype=False)
    assert table is not out


def test_absent_columns_are_ignored_and_input_is_not_modified():
    table = pd.DataFrame({"n": [1, 10]})
    out = suppress_table(table, ["n", "missing"], percent_columns=["nope"])
    assert table["n"].tolist() == [1, 10]
    assert out["n"].tolist() == ["<5", SUPPRESSED]


def test_generic_table_finds_counts_and_derived_columns_by_name():
    table = pd.DataFrame(
        {
            "daily_dose_band": ["<0.5", ">1.0"],
            "course_number": [1, 2],
            "n_courses": [3, 80],
            "cleared": [1, 60],
            "percent_cleared": [33.3, 75.0],
            "ci_high": [90.0, 84.0],
        }
    )
    out = suppress_any_table(table)
    assert out["course_number"].tolist() == [1, 2]
    assert out["n_courses"].tolist() == ["<5", SUPPRESSED]
    assert out["percent_cleared"].tolist() == [SUPPRESSED, SUPPRESSED]
    assert out["ci_high"].tolist() == [SUPPRESSED, SUPPRESSED]


def test_generic_table_wide_counts_by_month_are_counts():
    # Number at risk by month: the month is in the column's name, the cells are counts.
    table = pd.DataFrame({"group": ["all"], "month 0": [2000], "month 24": [30], "month 48": [1]})
    out = suppress_any_table(table)
    assert out["month 0"].tolist() == [2000]
    assert out["month 48"].tolist() == ["<5"]
    assert out["month 24"].tolist() == [SUPPRESSED]  # the row's lone small cell is protected by its next-smallest


def test_generic_table_leaves_labels_alone_and_hides_summaries_of_small_rows():
    table = pd.DataFrame(
        {
            "month": [1, 2, 3],
            "upper_limit": [3, 40, 40],
            "results": [2, 50, 60],
            "median": [20.0, 22.0, 25.0],
            "q1": [3, 10, 11],
            "n_change": [2, 40, 41],
        }
    )
    out = suppress_any_table(table)
    assert out["month"].tolist() == [1, 2, 3]
    assert out["upper_limit"].tolist() == [3, 40, 40]
    assert out["results"].tolist() == ["<5", SUPPRESSED, 60]
    assert out.loc[0, "median"] == SUPPRESSED and out.loc[0, "q1"] == SUPPRESSED
    assert out.loc[2, "median"] == 25.0


def test_generic_table_with_a_custom_threshold():
    table = pd.DataFrame({"what": ["a", "b", "c"], "courses": [9, 10, 11]})
    assert suppress_any_table(table, threshold=10)["courses"].tolist() == ["<10", SUPPRESSED, 11]


def test_a_repeated_index_does_not_spread_secondary_suppression():
    table = pd.DataFrame({"group": ["a", "b", "c"], "courses": [2, 30, 8]}, index=[0, 0, 1])
    assert suppress_table(table, ["courses"])["courses"].tolist() == ["<5", 30, SUPPRESSED]


# ---------------------------------------------------------------------------------------------
# Complementary suppression across rows and columns (a cross-table such as a shift table)


def test_four_is_hidden_five_and_zero_are_shown_and_two_small_cells_need_no_partner():
    out = suppress_table(pd.DataFrame({"events": [4, 5, 0, 1, 40]}), ["events"])
    assert out["events"].tolist() == ["<5", 5, 0, "<5", 40]  # 4 + 1 = 5 could be 3 + 2: nothing is pinned down


def test_a_cross_table_protects_its_small_cell_in_its_row_and_its_column():
    grades = ["grade 0", "grade 1", "grade 2", "grade 3"]
    table = pd.DataFrame(
        {
            "baseline": ["0", "1", "2"],
            "grade 0": [40, 30, 50],
            "grade 1": [5, 7, 8],
            "grade 2": [4, 20, 9],
            "grade 3": [0, 6, 10],
        }
    )
    out = suppress_table(table, grades)
    assert out.loc[0, "grade 2"] == "<5"
    assert out.loc[0, "grade 1"] == SUPPRESSED  # its row's next-smallest
    assert out.loc[2, "grade 2"] == SUPPRESSED  # its column's next-smallest
    assert out.loc[2, "grade 1"] == SUPPRESSED  # which in turn needs a partner in its row: a rectangle of four
    assert out.loc[1, ["grade 0", "grade 1", "grade 2", "grade 3"]].tolist() == [30, 7, 20, 6]
    assert out.loc[0, "grade 3"] == 0  # a true zero names nobody, and a non-zero cell could protect instead
    hidden = out[grades].isin(["<5", SUPPRESSED])
    assert (hidden.sum(axis=1) != 1).all() and (hidden.sum(axis=0) != 1).all()


def test_a_row_total_cannot_reveal_a_lone_small_cell():
    # Without the row rule, 50 - 40 - 6 = 4 gives the hidden cell back from the row's total.
    table = pd.DataFrame(
        {
            "group": ["a", "b", "c"],
            "yes": [40, 60, 70],
            "no": [6, 80, 90],
            "unknown": [4, 0, 0],
            "total": [50, 140, 160],
        }
    )
    out = suppress_table(table, ["yes", "no", "unknown", "total"])
    assert out.loc[0, "unknown"] == "<5"
    assert out.loc[0, "no"] == SUPPRESSED  # the next-smallest cell of its row
    hidden = out[["yes", "no", "unknown", "total"]].isin(["<5", SUPPRESSED])
    assert (hidden.sum(axis=1) != 1).all() and (hidden.sum(axis=0) != 1).all()
    assert out.loc[1, "unknown"] == SUPPRESSED  # the 4 is its column's only non-zero cell: a zero hides with it


def test_protection_cascades_until_no_row_or_column_has_a_lone_hidden_cell():
    table = pd.DataFrame({"r": list("abc"), "x": [3, 10, 20], "y": [30, 12, 40], "z": [50, 60, 70]})
    out = suppress_table(table, ["x", "y", "z"])
    hidden = out[["x", "y", "z"]].isin(["<5", SUPPRESSED]).to_numpy()
    assert out.loc[0, "x"] == "<5"
    assert (hidden.sum(axis=0) != 1).all() and (hidden.sum(axis=1) != 1).all()
    assert hidden.sum() == 4  # x: 3 and 10; then row b's 12 and row a's 30 close the rectangle


def test_small_cells_that_add_up_to_their_number_are_protected_like_chart_bars():
    # Two hidden cells adding up to 2 are each 1: the column's total would pin them down.
    table = pd.DataFrame({"group": list("abcd"), "events": [1, 1, 40, 9]})
    assert suppress_table(table, ["events"])["events"].tolist() == ["<5", "<5", 40, SUPPRESSED]


def test_a_declared_total_is_not_a_part_of_its_row():
    table = pd.DataFrame({"group": ["a", "b", "c"], "n": [40, 30, 20], "cases": [3, 12, 6]})
    assert suppress_table(table, ["n", "cases"], denominators={"cases": "n"})["n"].tolist() == [40, 30, 20]
    # undeclared, n is a part of its row: 40 protects the 3, then 20 protects 40 in its column, and 6 protects 20 in its row
    out = suppress_table(table, ["n", "cases"])
    assert out["n"].tolist() == [SUPPRESSED, 30, SUPPRESSED] and out["cases"].tolist() == ["<5", 12, SUPPRESSED]


def test_chart_bars_and_table_columns_follow_one_rule():
    counts = [0, 3, 10, 7, 20]
    small, protecting = hidden_bars(counts, 5)
    table = suppress_table(pd.DataFrame({"courses": counts}), ["courses"])["courses"].tolist()
    assert [c == "<5" for c in table] == small.tolist() and [c == SUPPRESSED for c in table] == protecting.tolist()


def test_an_undeclared_table_hides_a_count_whose_rest_is_small():
    # 18 of 20 courses clear reveals the 2 who were not: the larger column is taken as the total.
    table = pd.DataFrame(
        {
            "month": [3, 6, 9],
            "courses_counted": [20, 40, 60],
            "courses_clear": [18, 20, 30],
            "share_clear": [0.9, 0.5, 0.5],
        }
    )
    out = suppress_any_table(table)
    assert out.loc[0, "courses_clear"] == SUPPRESSED and out.loc[0, "share_clear"] == SUPPRESSED
    assert out.loc[2, "courses_counted"] == 60 and out["month"].tolist() == [3, 6, 9]
