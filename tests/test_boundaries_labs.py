"""CTCAE grading where it can go wrong silently: missing or zero limits, baselines, tests without a rule, rows.

The grade edges themselves are in test_labs.py; here the values that must give no grade (NaN)
rather than a wrong one, and the row-wise grading used by every lab table.
"""

import numpy as np
import pandas as pd
import pytest

from analysis.areas.labs.compute import ctcae_grade, grade_rows

NAN = float("nan")


def same(got, expected) -> bool:
    return np.array_equal(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), equal_nan=True)


@pytest.mark.parametrize("test", ["ALT", "AST", "CK"])
@pytest.mark.parametrize("uln", [NAN, 0.0, -40.0, None, np.inf])
def test_no_usable_upper_limit_gives_no_grade(test, uln):
    assert same(ctcae_grade(test, [10.0, 500.0], uln), [NAN, NAN])


@pytest.mark.parametrize("test", ["ALT", "AST", "CK", "TG", "TC"])
def test_a_missing_value_gives_no_grade(test):
    assert same(ctcae_grade(test, [NAN, np.inf * 0], 40.0), [NAN, NAN])


@pytest.mark.parametrize("test", ["LDL", "HDL", "GLU", "alt", ""])
def test_tests_without_a_ctcae_rule_here_give_no_grade(test):
    assert same(ctcae_grade(test, [1000.0, 5.0], 40.0), [NAN, NAN])


@pytest.mark.parametrize(
    "baseline, baseline_uln, grade",
    [
        (60.0, 40.0, 0),  # baseline above its limit: 80 U/L is 1.33x the baseline, under 1.5x
        (40.0, 40.0, 1),  # baseline at its limit is normal: 80 is 2x ULN
        (NAN, 40.0, 1),  # unknown baseline: graded as if normal
        (60.0, NAN, 1),  # baseline without its limit: as if normal
        (60.0, None, 1),
        (np.inf, 40.0, 1),  # an infinite baseline or limit is no reference either
        (60.0, -np.inf, 1),
    ],
)
def test_a_raised_baseline_changes_the_reference_only_when_known(baseline, baseline_uln, grade):
    assert ctcae_grade("ALT", [80.0], 40.0, baseline=[baseline], baseline_uln=[baseline_uln])[0] == grade


def test_a_limit_under_one_grades_by_multiples_too():
    # ALT in µkat/L: ULN 0.58; 0.59 is above it (G1), 1.75 above 3x (1.74, G2)
    assert same(ctcae_grade("ALT", [0.58, 0.59, 1.74, 1.75], 0.58), [0, 1, 1, 2])


@pytest.mark.parametrize(
    "test, uln, at_cut, grade",
    [
        ("ALT", 0.58, 1.74, 1),  # 3 x 0.58 is 1.7399999999999998 in floating point
        ("ALT", 34.8, 104.4, 1),  # 104.4 / 34.8 is 3.0000000000000004
        ("ALT", 34.8, 174.0, 2),  # 5x
        ("CK", 0.58, 1.45, 1),  # 2.5x
        ("CK", 34.8, 348.0, 3),  # 10x
    ],
)
def test_a_value_at_a_multiple_of_a_decimal_limit_is_at_the_cut_not_above_it(test, uln, at_cut, grade):
    assert same(ctcae_grade(test, [at_cut, at_cut * 1.001], uln), [grade, grade + 1])


def test_relative_grades_need_a_positive_baseline():
    # baseline 0 above a limit of -1 (nonsense limits): no reference to grade against
    assert np.isnan(ctcae_grade("ALT", [80.0], 40.0, baseline=[0.0], baseline_uln=[-1.0])[0])


def test_grades_of_many_values_at_once_with_one_limit_each():
    values = [40.0, 40.01, 120.01, 200.01, 800.01, NAN]
    assert same(ctcae_grade("ALT", values, [40.0] * 6), [0, 1, 2, 3, 4, NAN])
    assert same(ctcae_grade("CK", [201.0, 201.0], [200.0, 300.0]), [1, 0])


def test_triglycerides_ignore_the_labs_limit_and_cholesterol_uses_it_when_given():
    assert same(ctcae_grade("TG", [149.0, 150.0, 1000.01], [100.0, 500.0, NAN]), [0, 1, 4])
    assert same(ctcae_grade("TC", [210.0, 210.0, 201.0], [200.0, 220.0, None]), [1, 0, 1])


def labs_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "test": ["ALT", "CK", "LDL", "TG", "ALT", "TC"],
            "value": [130.0, 600.0, 200.0, 320.0, 80.0, NAN],
            "upper_limit": [40.0, 200.0, 130.0, 150.0, 40.0, 200.0],
            "baseline": [30.0, NAN, NAN, NAN, 60.0, NAN],
            "baseline_upper": [40.0, NAN, NAN, NAN, 40.0, NAN],
        }
    )


def test_every_row_is_graded_by_its_own_test():
    # ALT 130 = 3.25x ULN: G2; CK 600 = 3x: G2; LDL: no rule; TG 320: G2; ALT 80 with baseline 60 (>ULN): 1.33x, G0
    assert same(grade_rows(labs_frame()), [2, 2, NAN, 2, 0, NAN])


def test_without_baselines_every_transaminase_is_graded_by_its_limit():
    assert same(grade_rows(labs_frame(), with_baseline=False), [2, 2, NAN, 2, 1, NAN])
    assert same(grade_rows(labs_frame().drop(columns=["baseline", "baseline_upper"])), [2, 2, NAN, 2, 1, NAN])


def test_rows_can_be_given_by_position_per_test():
    positions = {"ALT": np.array([0, 4]), "TG": np.array([3])}  # CK, TC not asked for: left ungraded
    assert same(grade_rows(labs_frame(), positions=positions), [2, NAN, NAN, 2, 0, NAN])
    as_dict = {name: labs_frame()[name].to_numpy() for name in labs_frame().columns}
    assert same(grade_rows(as_dict), [2, 2, NAN, 2, 0, NAN])
