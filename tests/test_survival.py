"""Kaplan-Meier, log-rank and Cox helpers against a hand-worked example and reference libraries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines.statistics import logrank_test
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from analysis.stats.survival import (
    KM_METHOD,
    complement,
    cox_hazard_ratios,
    fit_km,
    fit_km_by_group,
    logrank,
    number_at_risk,
    risk_table,
)

# Ties at day 2 (two events and one censoring on the same day) and day 4 (one of each).
DURATIONS = np.array([1, 2, 2, 2, 3, 4, 4, 5])
EVENTS = np.array([1, 1, 1, 0, 0, 1, 0, 1], dtype=bool)
# Worked by hand: a course censored on an event day is still at risk on that day.
HAND = pd.DataFrame(
    {
        "day": [0.0, 1, 2, 3, 4, 5],
        "at_risk": [8, 8, 7, 4, 3, 1],
        "events": [0, 1, 2, 0, 1, 1],
        "censored": [0, 0, 1, 1, 1, 0],
        "survival": [1, 7 / 8, 7 / 8 * 5 / 7, 7 / 8 * 5 / 7, 7 / 8 * 5 / 7 * 2 / 3, 0],
    }
)


def loglog_interval(survival: float, greenwood_sum: float) -> tuple[float, float]:
    """The log(-log) 95% interval written out: S ** exp(-/+ 1.96 * sqrt(sum d/(n(n-d))) / |log S|)."""
    spread = 1.959964 * math.sqrt(greenwood_sum) / abs(math.log(survival))
    return survival ** math.exp(spread), survival ** math.exp(-spread)


def test_km_table_matches_hand_worked_example():
    km = fit_km(DURATIONS, EVENTS)
    pd.testing.assert_frame_equal(km.table[HAND.columns.tolist()], HAND, check_dtype=False)
    assert (km.n, km.events) == (8, 5)


def test_km_interval_is_loglog_greenwood():
    km = fit_km(DURATIONS, EVENTS)
    row = km.table.set_index("day").loc[2.0]
    low, high = loglog_interval(0.625, 1 / (8 * 7) + 2 / (7 * 5))
    assert row["ci_low"] == pytest.approx(low, abs=1e-6)
    assert row["ci_high"] == pytest.approx(high, abs=1e-6)
    assert (low, high) == pytest.approx((0.22934, 0.86070), abs=1e-4)


def test_km_matches_statsmodels_estimate_and_standard_error():
    km = fit_km(DURATIONS, EVENTS)
    reference = SurvfuncRight(DURATIONS, EVENTS.astype(int))
    ours = km.table.set_index("day").loc[reference.surv_times, "survival"].to_numpy()
    np.testing.assert_allclose(ours, reference.surv_prob, atol=1e-12)


def test_median_is_first_day_at_or_below_half():
    km = fit_km(DURATIONS, EVENTS)
    assert km.median_day == 4.0


def test_survival_at_reads_the_step_on_or_before_the_day():
    km = fit_km(DURATIONS, EVENTS)
    assert km.survival_at(2.5).estimate == pytest.approx(0.625)
    assert km.survival_at(0.5).estimate == 1.0
    estimate = km.survival_at(2.5)
    assert estimate.method == KM_METHOD
    assert (estimate.n, estimate.numerator) == (8, 3)


def test_survival_beyond_follow_up_is_not_estimable_unless_curve_reached_zero():
    short = fit_km([1, 2, 3], [1, 0, 0])
    assert short.survival_at(10).estimate is None
    assert "no course followed" in short.survival_at(10).method
    assert fit_km(DURATIONS, EVENTS).survival_at(10).estimate == 0.0


def test_failure_flips_the_interval():
    km = fit_km(DURATIONS, EVENTS)
    surv, fail = km.survival_at(2), km.failure_at(2)
    assert fail.estimate == pytest.approx(1 - surv.estimate)
    assert (fail.ci_low, fail.ci_high) == pytest.approx((1 - surv.ci_high, 1 - surv.ci_low))
    assert complement(fit_km([1], [0]).survival_at(5)).estimate is None


def test_empty_input_gives_an_empty_curve():
    km = fit_km([], [])
    assert km.n == 0 and km.survival_at(1).estimate is None


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 60), st.booleans()), min_size=1, max_size=60),
    st.lists(st.integers(0, 70), min_size=1, max_size=8),
)
def test_at_risk_from_curve_equals_count_of_durations_at_least_day(rows, days):
    durations = np.array([r[0] for r in rows])
    km = fit_km(durations, np.array([r[1] for r in rows]))
    expected = np.array([(durations >= d).sum() for d in days])
    np.testing.assert_array_equal(km.at_risk_at(np.array(days)), expected)
    np.testing.assert_array_equal(number_at_risk(durations, np.array(days)), expected)


def test_groups_follow_the_given_order_and_risk_table_is_long():
    groups = pd.Series(["b", "a", "b", "a", "c", "c", "a", "b"])
    curves = fit_km_by_group(pd.Series(DURATIONS), pd.Series(EVENTS), groups, order=["c", "a"])
    assert list(curves) == ["c", "a", "b"]
    table = risk_table(curves, np.array([0, 2]))
    at_risk = table.set_index(["group", "day"])["at_risk"]
    assert (at_risk[("a", 2)], at_risk[("c", 2)], at_risk[("b", 0)]) == (3, 2, 3)  # a: days 2, 2, 4; c: 3, 4


def test_logrank_two_groups_matches_lifelines_and_statsmodels():
    rng = np.random.default_rng(3)
    durations = rng.integers(1, 100, 200)
    events = rng.random(200) < 0.6
    groups = pd.Series(np.where(rng.random(200) < 0.5, "F", "M"))
    ours = logrank(durations, events, groups)
    mask = (groups == "F").to_numpy()
    direct = logrank_test(durations[mask], durations[~mask], events[mask], events[~mask])
    statistic, p_value = survdiff(durations, events.astype(int), groups.to_numpy())
    assert ours.p_value == pytest.approx(direct.p_value, rel=1e-9)
    assert ours.statistic == pytest.approx(statistic, rel=1e-6)
    assert ours.p_value == pytest.approx(p_value, rel=1e-6)
    assert ours.degrees_of_freedom == 1


def test_logrank_three_groups_matches_statsmodels_and_leaves_missing_out():
    rng = np.random.default_rng(4)
    durations = rng.integers(1, 100, 300)
    events = rng.random(300) < 0.5
    labels = rng.choice(["<120", "120-220", ">220"], 300)
    groups = pd.Series(labels, dtype="object")
    groups[:20] = None
    ours = logrank(durations, events, groups)
    statistic, p_value = survdiff(durations[20:], events[20:].astype(int), labels[20:])
    assert ours.statistic == pytest.approx(statistic, rel=1e-6)
    assert ours.p_value == pytest.approx(p_value, rel=1e-6)
    assert (ours.groups, ours.degrees_of_freedom) == (3, 2)


def test_logrank_says_why_when_impossible():
    assert logrank(DURATIONS, EVENTS, pd.Series(["a"] * 8)).reason == "fewer than two groups with data"
    assert logrank(DURATIONS, np.zeros(8, bool), pd.Series(list("abababab"))).reason == "no events in any group"


def test_cox_matches_statsmodels_efron():
    rng = np.random.default_rng(5)
    n = 400
    data = pd.DataFrame({"dose": rng.normal(15, 3, n), "female": rng.integers(0, 2, n).astype(float)})
    hazard = np.exp(-0.1 * data["dose"] + 0.4 * data["female"])
    data["days"] = np.ceil(rng.exponential(200 / hazard))
    data["event"] = rng.random(n) < 0.7
    table = cox_hazard_ratios(data, "days", "event", {"dose": "Dose", "female": "Female"})
    reference = PHReg(data["days"], data[["dose", "female"]], status=data["event"].astype(int), ties="efron").fit()
    np.testing.assert_allclose(np.log(table["hazard_ratio"]), reference.params, rtol=1e-5)
    low, high = reference.conf_int().T
    np.testing.assert_allclose(np.log(table["ci_low"]), low, rtol=1e-4)
    np.testing.assert_allclose(np.log(table["ci_high"]), high, rtol=1e-4)
    assert table["term"].tolist() == ["Dose", "Female"]
    assert table["events"].iloc[0] == int(data["event"].sum())
