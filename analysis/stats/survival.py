"""Kaplan-Meier curves, log-rank tests and Cox models on durations in days.

The curves give lifelines' numbers exactly (the same sums in the same order, vectorised over
groups, so a million courses and many groups cost one sort); the log-rank test and the Cox model
are lifelines'.

Generic over the event: relapse after a course, a second course, time to clearance. Every
outcome area that estimates "the share who have had X by day t" uses these, so the curves,
their intervals and the numbers at risk are computed one way across the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.statistics import multivariate_logrank_test
from scipy import stats as scipy_stats

from analysis.stats.intervals import Estimate

KM_METHOD = "Kaplan-Meier, log-log 95% CI"
LOGRANK_METHOD = "log-rank test"
DAYS_PER_YEAR = 365.25
KM_COLUMNS = ("day", "at_risk", "events", "censored", "survival", "ci_low", "ci_high")


@dataclass(frozen=True)
class KaplanMeier:
    """One fitted curve: the step table at every day something happened, and its totals."""

    label: str
    table: pd.DataFrame  # KM_COLUMNS, one row per distinct day (day 0 always present)
    n: int
    events: int
    median_day: float | None
    median_ci: tuple[float | None, float | None]

    @property
    def last_day(self) -> float:
        return float(self.table["day"].max()) if len(self.table) else 0.0

    def survival_at(self, day: float) -> Estimate:
        """S(day) with its interval; None when nobody was followed that long and S > 0."""
        if self.n == 0:
            return Estimate(None, None, None, 0, "no courses to analyse", 0)
        row = self.table.iloc[_step_index(self.table["day"].to_numpy(), day)]
        events_by = int(self.table.loc[self.table["day"] <= day, "events"].sum())
        if day > self.last_day and row["survival"] > 0:
            return Estimate(None, None, None, self.n, f"{KM_METHOD}: no course followed {day:g} days", events_by)
        return Estimate(
            float(row["survival"]), _float(row["ci_low"]), _float(row["ci_high"]), self.n, KM_METHOD, events_by
        )

    def at_risk_at(self, days: np.ndarray) -> np.ndarray:
        """Courses with a duration >= each day (the first step on or after it holds that count)."""
        at_risk = np.append(self.table["at_risk"].to_numpy(dtype="int64"), 0)
        return at_risk[np.searchsorted(self.table["day"].to_numpy(), np.asarray(days, dtype="float"), side="left")]

    def failure_at(self, day: float) -> Estimate:
        """1 - S(day): the share who have had the event by that day, interval flipped."""
        return complement(self.survival_at(day))


def complement(estimate: Estimate) -> Estimate:
    if estimate.estimate is None:
        return estimate
    return Estimate(
        1 - estimate.estimate,
        _flip(estimate.ci_high),
        _flip(estimate.ci_low),
        estimate.n,
        estimate.method,
        estimate.numerator,
    )


def _flip(value: float | None) -> float | None:
    return None if value is None else 1 - value


def _float(value) -> float | None:
    return None if pd.isna(value) else float(value)


def _step_index(days: np.ndarray, day: float) -> int:
    """Row holding the curve's value at `day`: the last step on or before it."""
    return max(int(np.searchsorted(days, day, side="right")) - 1, 0)


def fit_km(
    durations: pd.Series | np.ndarray, events: pd.Series | np.ndarray, label: str = "all", alpha: float = 0.05
) -> KaplanMeier:
    """Kaplan-Meier estimate with the log(-log) (exponential Greenwood) interval, computed as
    lifelines' KaplanMeierFitter does (the same sums in the same order, so the same numbers), in a
    few vectorised passes instead of its table joins."""
    durations = np.asarray(durations, dtype="float")
    events = np.asarray(events, dtype="bool")
    if durations.size == 0:
        empty = pd.DataFrame({c: pd.Series(dtype="float") for c in KM_COLUMNS})
        return KaplanMeier(label, empty, 0, 0, None, (None, None))
    if not np.isfinite(durations).all():
        raise ValueError("durations contain NaN or infinite values")
    # Every course enters at day 0 (or at the earliest duration, if negative): that day is a step too.
    days, step = np.unique(np.append(durations, min(0.0, durations.min())), return_inverse=True)
    step = step[:-1]
    removed = np.bincount(step, minlength=days.size)
    observed = np.bincount(step, weights=events, minlength=days.size).astype("int64")
    at_risk = durations.size - np.concatenate([[0], np.cumsum(removed)[:-1]])
    survival, ci_low, ci_high = _km_curve(at_risk.astype("float"), observed.astype("float"), alpha)
    table = pd.DataFrame(
        {
            "day": days,
            "at_risk": at_risk.astype("int64"),
            "events": observed,
            "censored": removed - observed,
            "survival": survival,
            "ci_low": ci_low,
            "ci_high": ci_high,
        }
    )
    median_ci = (_finite(_crossing(ci_low, days)), _finite(_crossing(ci_high, days)))
    return KaplanMeier(
        label, table, int(durations.size), int(events.sum()), _finite(_crossing(survival, days)), median_ci
    )


def _km_curve(at_risk: np.ndarray, deaths: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Survival and its interval at each step: S = exp(sum log((n - d) / n)), Greenwood's sum
    d / (n (n - d)), and the log(-log) bounds (1 where S = 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.exp(np.cumsum(np.log(at_risk - deaths) - np.log(at_risk)))
        greenwood = deaths / (at_risk * (at_risk - deaths))
        greenwood = np.cumsum(np.where(greenwood == np.inf, 0.0, greenwood))
        log_survival = np.log(survival)
        spread = scipy_stats.norm.ppf(1 - alpha / 2) * np.sqrt(greenwood) / log_survival
        low = np.exp(-np.exp(np.log(-log_survival) - spread))
        high = np.exp(-np.exp(np.log(-log_survival) + spread))
    return survival, np.where(np.isnan(low), 1.0, low), np.where(np.isnan(high), 1.0, high)


def _crossing(curve: np.ndarray, days: np.ndarray) -> float:
    """The first day at which the curve is at or below one half (infinite if it never is)."""
    if curve[-1] > 0.5:
        return np.inf
    return float(days[np.searchsorted(-curve, -0.5)])


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def fit_km_by_group(
    durations: pd.Series, events: pd.Series, groups: pd.Series, order: list | None = None
) -> dict[str, KaplanMeier]:
    """One curve per group value (in `order` when given), keyed by the value as text."""
    codes, values = pd.factorize(groups.astype("object").map(str))
    durations, events = np.asarray(durations, dtype="float"), np.asarray(events, dtype="bool")
    present = list(values)
    ordered = [str(v) for v in order if str(v) in present] if order else sorted(present)
    ordered += [v for v in present if v not in ordered]
    position = {value: code for code, value in enumerate(present)}
    return {
        value: fit_km(durations[codes == position[value]], events[codes == position[value]], label=value)
        for value in ordered
    }


def number_at_risk(durations: pd.Series | np.ndarray, days: np.ndarray) -> np.ndarray:
    """Courses still followed and event-free at each day: those with a duration >= day."""
    ordered = np.sort(np.asarray(durations, dtype="float"))
    return ordered.size - np.searchsorted(ordered, np.asarray(days, dtype="float"), side="left")


def risk_table(curves: dict[str, KaplanMeier], days: np.ndarray) -> pd.DataFrame:
    """Numbers at risk per curve at the given days, long format (group, day, at_risk)."""
    parts = [
        pd.DataFrame({"group": label, "day": days, "at_risk": km.at_risk_at(days)}) for label, km in curves.items()
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["group", "day", "at_risk"])


@dataclass(frozen=True)
class LogRank:
    statistic: float | None
    degrees_of_freedom: int
    p_value: float | None
    groups: int
    method: str = LOGRANK_METHOD
    reason: str = ""

    def as_dict(self) -> dict:
        return {
            "statistic": self.statistic,
            "degrees_of_freedom": self.degrees_of_freedom,
            "p_value": self.p_value,
            "groups": self.groups,
            "method": self.method,
            "reason": self.reason,
        }


def logrank(durations: pd.Series, events: pd.Series, groups: pd.Series) -> LogRank:
    """Log-rank test of equal event curves across the groups (rows with a missing group left out)."""
    known = groups.notna().to_numpy()
    labels = groups[known].astype("object").map(str).to_numpy()
    count = len(set(labels))
    if count < 2:
        return LogRank(None, 0, None, count, reason="fewer than two groups with data")
    if not np.asarray(events)[known].any():
        return LogRank(None, count - 1, None, count, reason="no events in any group")
    result = multivariate_logrank_test(
        np.asarray(durations, dtype="float")[known], labels, np.asarray(events, dtype="bool")[known]
    )
    method = LOGRANK_METHOD if count == 2 else f"{LOGRANK_METHOD} ({count} groups)"
    return LogRank(float(result.test_statistic), int(result.degrees_of_freedom), float(result.p_value), count, method)


def cox_hazard_ratios(data: pd.DataFrame, duration: str, event: str, labels: dict[str, str]) -> pd.DataFrame:
    """Cox proportional-hazards fit (Efron ties): one row per covariate with HR, 95% CI and p."""
    fitter = CoxPHFitter().fit(
        data[[duration, event, *labels]], duration_col=duration, event_col=event, batch_mode=True
    )
    summary = fitter.summary
    return pd.DataFrame(
        {
            "term": [labels[c] for c in summary.index],
            "hazard_ratio": summary["exp(coef)"].to_numpy(),
            "ci_low": summary["exp(coef) lower 95%"].to_numpy(),
            "ci_high": summary["exp(coef) upper 95%"].to_numpy(),
            "p_value": summary["p"].to_numpy(),
            "courses": len(data),
            "events": int(data[event].sum()),
        }
    )
