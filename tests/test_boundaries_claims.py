"""The verdict rule at its edges: a closed interval touching the threshold, for every direction.

Supported means every value of the 95% CI satisfies the claim, contradicted that none does; the
bounds count as values of the interval. Rare-event claims with no event use the one-sided bound.
"""

import dataclasses
import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from analysis.areas.claims import compute as claims
from analysis.areas.claims.compute import CONTRADICTED, DESCRIBED, INCONCLUSIVE, SUPPORTED
from analysis.stats.intervals import Estimate

OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
GRID = [i / 20 for i in range(21)]  # 0, 0.05, ..., 1: bounds that often touch a threshold exactly


def expected_verdict(low: float, high: float, threshold: float, direction: str) -> str:
    """The rule from the bounds: an interval is monotone, so its ends say whether all, none or some values hold."""
    holds = OPERATORS[direction]
    ends = [holds(low, threshold), holds(high, threshold)]
    return SUPPORTED if all(ends) else CONTRADICTED if not any(ends) else INCONCLUSIVE


@given(st.sampled_from(GRID), st.sampled_from(GRID), st.sampled_from(GRID[1:-1]), st.sampled_from(list(OPERATORS)))
@settings(max_examples=300, deadline=None)
def test_the_verdict_follows_the_closed_interval(a, b, threshold, direction):
    low, high = min(a, b), max(a, b)
    assert claims.decide(low, high, 100, threshold, direction, 20) == expected_verdict(low, high, threshold, direction)


@pytest.mark.parametrize(
    "low, high, direction, expected",
    [
        (0.05, 0.10, "<=", SUPPORTED),  # touching "<= 10%" from below: 10% itself satisfies it
        (0.10, 0.20, "<=", INCONCLUSIVE),  # touching from above: only 10% satisfies it
        (0.11, 0.20, "<=", CONTRADICTED),
        (0.10, 0.10, "<=", SUPPORTED),
        (0.10, 0.10, "<", CONTRADICTED),
        (0.10, 0.10, ">=", SUPPORTED),
        (0.10, 0.10, ">", CONTRADICTED),
        (0.05, 0.10, ">=", INCONCLUSIVE),
    ],
)
def test_an_interval_touching_the_threshold(low, high, direction, expected):
    assert claims.decide(low, high, 100, 0.10, direction, 20) == expected


@pytest.mark.parametrize("low, high", [(None, 0.9), (0.6, None), (None, None)])
def test_a_missing_bound_is_inconclusive(low, high):
    assert claims.decide(low, high, 100, 0.5, ">", 20) == INCONCLUSIVE


def test_the_minimum_count_is_inclusive_and_described_is_never_tested():
    assert claims.decide(0.6, 0.7, 20, 0.5, ">", 20) == SUPPORTED
    assert claims.decide(0.6, 0.7, 19, 0.5, ">", 20) == INCONCLUSIVE
    assert claims.decide(0.6, 0.7, 0, None, "described", 20) == DESCRIBED


@pytest.mark.parametrize("n", [1, 2, 10, 59, 299, 2995])
def test_one_sided_upper_bound_is_the_beta_quantile(n):
    # Clopper-Pearson with no event: the 95% quantile of Beta(1, n), which is 1 - 0.05^(1/n).
    assert claims.one_sided_upper(n) == pytest.approx(scipy_stats.beta.ppf(0.95, 1, n), rel=1e-9)
    assert claims.one_sided_upper(n, alpha=0.1) == pytest.approx(1 - 0.1 ** (1 / n), rel=1e-9)


@pytest.mark.parametrize("threshold, needed", [(0.1, 29), (0.05, 59), (0.01, 299), (0.001, 2995), (0.0001, 29956)])
def test_courses_to_rule_out_is_the_first_count_whose_bound_is_below(threshold, needed):
    # Hand-worked: the smallest n with 1 - 0.05^(1/n) < threshold (the "rule of three": about 3 / threshold).
    assert claims.courses_to_rule_out(threshold) == needed
    assert 1 - 0.05 ** (1 / needed) < threshold <= 1 - 0.05 ** (1 / (needed - 1))


def test_courses_to_rule_out_with_another_alpha():
    assert claims.courses_to_rule_out(0.01, alpha=0.1) == 230  # ln 0.1 / ln 0.99 = 229.1


def rare(direction: str) -> claims.ClaimSpec:
    return dataclasses.replace(claims.claim_spec("C11"), direction=direction)


def zero_events(n: int) -> Estimate:
    return Estimate(0.0, 0.0, 0.5, n, "Clopper-Pearson exact interval", 0)


@pytest.mark.parametrize("direction", ["<", "<="])
def test_a_rare_event_claim_with_no_event_uses_the_one_sided_bound(direction):
    bounded = claims.with_rare_event_bound(rare(direction), zero_events(3000))
    assert (bounded.ci_low, bounded.method) == (0.0, claims.ONE_SIDED_METHOD)
    assert bounded.ci_high == pytest.approx(1 - 0.05 ** (1 / 3000))
    assert claims.decide(bounded.ci_low, bounded.ci_high, 3000, 0.001, direction, 20) == SUPPORTED


def test_one_course_without_event_gets_the_bound_too():
    assert claims.with_rare_event_bound(rare("<"), zero_events(1)).ci_high == pytest.approx(0.95)


@pytest.mark.parametrize(
    "spec, estimate",
    [
        (rare(">"), zero_events(3000)),  # a claim that the event is common is not helped by a one-sided upper bound
        (rare(">="), zero_events(3000)),
        (rare("<"), Estimate(0.001, 0.0002, 0.003, 3000, "Clopper-Pearson exact interval", 3)),  # events were seen
        (rare("<"), Estimate(None, None, None, 0, "no observations", 0)),  # nothing counted
    ],
)
def test_the_one_sided_bound_is_only_for_zero_events_of_a_rare_claim(spec, estimate):
    assert claims.with_rare_event_bound(spec, estimate) == estimate
