"""Shared statistical building blocks: a point estimate with its interval, and proportions.

Every outcome area and the claims engine report numbers as an `Estimate`, so a verdict, a
chart's error bar and the JSON summary all read the same fields.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from statsmodels.stats.proportion import proportion_confint

# Below this many observations, or with 0 or all events, the exact interval is used.
EXACT_BELOW_N = 30


@dataclass(frozen=True)
class Estimate:
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    method: str
    numerator: int | None = None

    def as_dict(self) -> dict:
        return {k: _plain(v) for k, v in asdict(self).items()}


def _plain(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def proportion(successes: int, total: int, alpha: float = 0.05, method: str | None = None) -> Estimate:
    """Share with a two-sided 95% interval: Wilson, or Clopper-Pearson (exact) for small n or 0/n, n/n."""
    successes, total = int(successes), int(total)
    if total == 0:
        return Estimate(None, None, None, 0, "no observations", 0)
    if method is None:
        method = "beta" if total < EXACT_BELOW_N or successes in (0, total) else "wilson"
    low, high = proportion_confint(successes, total, alpha=alpha, method=method)
    name = {"beta": "Clopper-Pearson exact interval", "wilson": "Wilson interval"}.get(method, method)
    return Estimate(successes / total, float(low), float(high), total, name, successes)
