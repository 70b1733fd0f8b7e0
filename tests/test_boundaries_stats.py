"""Proportions at their edges: where the interval switches from exact to Wilson, empty counts, JSON values."""

import dataclasses
import json
import math

import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import proportion_confint

from analysis.stats.intervals import EXACT_BELOW_N, Estimate, proportion


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The exact interval from beta quantiles (0 and 1 at the ends)."""
    low = 0.0 if k == 0 else scipy_stats.beta.ppf(0.025, k, n - k + 1)
    high = 1.0 if k == n else scipy_stats.beta.ppf(0.975, k + 1, n - k)
    return low, high


def wilson(k: int, n: int) -> tuple[float, float]:
    z = scipy_stats.norm.ppf(0.975)
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


@pytest.mark.parametrize(
    "k, n, exact",
    [
        (15, 29, True),
        (15, 30, False),
        (1, 29, True),
        (1, 30, False),
        (0, 30, True),
        (30, 30, True),
        (0, 500, True),
        (500, 500, True),
        (250, 500, False),
    ],
)
def test_exact_below_30_or_at_0_and_n_else_wilson(k, n, exact):
    result = proportion(k, n)
    expected = clopper_pearson(k, n) if exact else wilson(k, n)
    assert (result.ci_low, result.ci_high) == pytest.approx(expected, abs=1e-9)
    assert result.method == ("Clopper-Pearson exact interval" if exact else "Wilson interval")
    assert (result.estimate, result.n, result.numerator) == (k / n, n, k)
    assert EXACT_BELOW_N == 30


def test_a_method_asked_for_is_used_whatever_n():
    assert proportion(3, 10, method="wilson").method == "Wilson interval"
    asked = proportion(3, 10, method="wilson")
    assert (asked.ci_low, asked.ci_high) == pytest.approx(wilson(3, 10))
    other = proportion(3, 10, method="normal")
    assert other.method == "normal" and other.ci_low == pytest.approx(proportion_confint(3, 10, method="normal")[0])


def test_a_wider_alpha_narrows_the_interval():
    assert proportion(15, 29, alpha=0.1).ci_low == pytest.approx(scipy_stats.beta.ppf(0.05, 15, 15))


def test_no_observations():
    assert proportion(0, 0) == Estimate(None, None, None, 0, "no observations", 0)
    assert proportion(0, 0).as_dict() == {
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "n": 0,
        "method": "no observations",
        "numerator": 0,
    }


def test_as_dict_holds_no_nan_so_json_is_valid():
    values = Estimate(float("nan"), 0.2, float("nan"), 10, "m", 3).as_dict()
    assert values == {"estimate": None, "ci_low": 0.2, "ci_high": None, "n": 10, "method": "m", "numerator": 3}
    json.dumps(values, allow_nan=False)
    assert proportion(3, 10).as_dict()["ci_high"] == pytest.approx(clopper_pearson(3, 10)[1])


def test_an_estimate_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        proportion(3, 10).n = 11
