"""Kaplan-Meier curves, medians and log-rank tests at their edges, checked against lifelines.

The last day of follow-up, a curve ending exactly at one half, a curve reaching zero, no events
at all: each is where a comparison moved by one would change a number shown on a page.
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from analysis.stats.intervals import Estimate
from analysis.stats.survival import (
    DAYS_PER_YEAR,
    KM_METHOD,
    LOGRANK_METHOD,
    complement,
    fit_km,
    fit_km_by_group,
    logrank,
    risk_table,
)


def lifelines_km(durations, events) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(np.asarray(durations, dtype=float), np.asarray(events, dtype=bool))


courses = st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=1, max_size=25)


@given(courses)
@settings(max_examples=25, deadline=None)
def test_every_step_and_its_interval_equal_lifelines(rows):
    durations, events = zip(*rows)
    ours, theirs = fit_km(durations, events), lifelines_km(durations, events)
    reference = theirs.survival_function_.join(theirs.confidence_interval_)
    reference = reference.reindex(ours.table["day"].to_numpy())
    np.testing.assert_allclose(ours.table["survival"], reference.iloc[:, 0], rtol=1e-9)
    np.testing.assert_allclose(ours.table["ci_low"], reference.iloc[:, 1], rtol=1e-9)
    np.testing.assert_allclose(ours.table["ci_high"], reference.iloc[:, 2], rtol=1e-9)
    expected_median = theirs.median_survival_time_
    assert ours.median_day == (None if np.isinf(expected_median) else expected_median)


def test_the_value_on_the_last_day_is_known():
    km = fit_km([2, 4, 6], [True, False, False])  # S = 2/3 from day 2, last followed on day 6
    at_last = km.survival_at(6)
    assert at_last.estimate == pytest.approx(2 / 3) and at_last.method == KM_METHOD
    assert km.survival_at(6.5).estimate is None
    assert km.survival_at(6.5).method == f"{KM_METHOD}: no course followed 6.5 days"
    assert km.last_day == 6.0


def test_events_on_the_day_asked_are_counted():
    km = fit_km([2, 4, 4, 6], [True, True, True, False])
    assert [km.survival_at(day).numerator for day in (1, 2, 3, 4, 5)] == [0, 1, 1, 3, 3]


def test_a_day_before_the_first_step_reads_day_zero():
    km = fit_km([2, 4], [True, True])
    assert km.survival_at(-1).estimate == 1.0 and km.survival_at(-1).ci_low == 1.0


def test_a_curve_that_reached_zero_is_zero_beyond_follow_up():
    km = fit_km([2, 4], [True, True])
    assert km.survival_at(100).estimate == 0.0 and km.failure_at(100).estimate == 1.0


def test_a_curve_ending_exactly_at_one_half_has_its_median_there():
    km = fit_km([1, 2], [True, False])  # S = 0.5 from day 1 to the end
    assert km.median_day == lifelines_km([1, 2], [True, False]).median_survival_time_ == 1.0


def test_a_curve_just_above_one_half_has_no_median_until_it_falls():
    durations = [1] * 99 + [2] * 101  # S = 101/200 = 0.505 after day 1, 0 after day 2
    events = [True] * 200
    assert fit_km(durations, events).median_day == lifelines_km(durations, events).median_survival_time_ == 2.0
    durations, events = [1] * 99 + [2] * 101, [True] * 99 + [False] * 101  # ends at 0.505
    assert fit_km(durations, events).median_day is None
    durations, events = [1] * 101 + [2] * 99, [True] * 101 + [False] * 99  # ends at 0.495
    assert fit_km(durations, events).median_day == 1.0


def test_the_median_and_its_bounds_are_none_where_they_never_fall_to_one_half():
    km = fit_km([1, 2, 3, 4], [True, False, False, False])  # S = 0.75, interval 0.128-0.961 from day 1
    assert km.median_day is None and km.median_ci == (1.0, None)


def test_an_empty_curve():
    km = fit_km([], [])
    assert (km.n, km.events, km.median_day, km.median_ci, km.last_day) == (0, 0, None, (None, None), 0.0)
    assert km.survival_at(10).as_dict() == {
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "n": 0,
        "method": "no courses to analyse",
        "numerator": 0,
    }


def test_missing_or_infinite_durations_are_refused():
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_km([1.0, np.nan], [True, False])
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_km([1.0, np.inf], [True, False])


def test_negative_durations_start_the_curve_earlier():
    km = fit_km([-2, 3], [False, True])
    assert km.table["day"].tolist() == [-2.0, 3.0] and km.table["at_risk"].tolist() == [2, 1]


def test_complement_keeps_missing_bounds_missing():
    flipped = complement(Estimate(0.3, None, 0.4, 10, "m", 3))
    assert (flipped.estimate, flipped.ci_low, flipped.ci_high) == (pytest.approx(0.7), pytest.approx(0.6), None)
    assert complement(Estimate(None, None, None, 0, "m", 0)).estimate is None


def test_results_are_frozen():
    km = fit_km([1, 2], [True, False])
    with pytest.raises(dataclasses.FrozenInstanceError):
        km.n = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        logrank(pd.Series([1, 2]), pd.Series([True, True]), pd.Series(["a", "b"])).groups = 3


def test_a_year_is_365_25_days():
    assert DAYS_PER_YEAR == 365.25


# ---------------------------------------------------------------------------------------------
# Groups, risk tables and the log-rank test


def test_groups_follow_the_order_given_and_skip_values_absent_from_the_data():
    durations, events = pd.Series([1, 2, 3, 4]), pd.Series([True, False, True, False])
    groups = pd.Series(["b", "a", "c", "a"])
    assert list(fit_km_by_group(durations, events, groups)) == ["a", "b", "c"]
    assert list(fit_km_by_group(durations, events, groups, order=["c", "x", "a"])) == ["c", "a", "b"]
    assert fit_km_by_group(durations, events, groups, order=["c"])["a"].n == 2


def test_risk_table_is_long_with_a_fresh_index_and_empty_without_curves():
    curves = {"x": fit_km([1, 5], [True, False]), "y": fit_km([2], [True])}
    table = risk_table(curves, np.array([0, 2]))
    assert table.index.tolist() == [0, 1, 2, 3] and table["at_risk"].tolist() == [2, 1, 1, 1]
    empty = risk_table({}, np.array([0, 2]))
    assert empty.empty and list(empty.columns) == ["group", "day", "at_risk"]


def test_logrank_with_fewer_than_two_groups():
    result = logrank(pd.Series([1, 2]), pd.Series([True, True]), pd.Series(["a", None]))
    assert (result.statistic, result.degrees_of_freedom, result.p_value, result.groups) == (None, 0, None, 1)
    assert result.reason == "fewer than two groups with data"


def test_logrank_without_events_keeps_its_degrees_of_freedom():
    result = logrank(pd.Series([1, 2, 3]), pd.Series([False] * 3), pd.Series(["a", "b", "c"]))
    assert (result.statistic, result.degrees_of_freedom, result.p_value, result.groups) == (None, 2, None, 3)
    assert result.as_dict() == {
        "statistic": None,
        "degrees_of_freedom": 2,
        "p_value": None,
        "groups": 3,
        "method": LOGRANK_METHOD,
        "reason": "no events in any group",
    }


@pytest.mark.parametrize(
    "labels, method", [(["a", "b"], LOGRANK_METHOD), (["a", "b", "c"], f"{LOGRANK_METHOD} (3 groups)")]
)
def test_logrank_names_the_number_of_groups_beyond_two(labels, method):
    durations = pd.Series([3, 5, 7, 2, 4, 9, 6, 8, 1, 10, 11, 12])
    events = pd.Series([True, False, True, True, True, False, True, True, True, False, True, True])
    groups = pd.Series([labels[i % len(labels)] for i in range(12)])
    result = logrank(durations, events, groups)
    reference = multivariate_logrank_test(durations, groups, events)
    assert result.method == method and result.degrees_of_freedom == len(labels) - 1
    assert result.statistic == pytest.approx(reference.test_statistic)
    assert result.p_value == pytest.approx(reference.p_value)
