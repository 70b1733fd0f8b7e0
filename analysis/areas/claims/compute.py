"""The claims scorecard: every claim of the source document held against the data.

Each claim (data/claims.toml, or any claim set in the same schema) has one or more readings; each
reading names a quantity of the catalogue (`CATALOGUE`: what the outcome areas measure, with its
parameters), which reuses the areas' public functions, and a threshold. A claim's verdict is its
readings' verdict when they agree, else "depends on the reading" (`reading_rule`). A reading's
verdict follows PRODUCT.md:

- supported: every value of the 95% CI satisfies the claim's inequality (e.g. > 0.5);
- contradicted: no value of the CI satisfies it;
- inconclusive: the CI holds values on both sides, or fewer than `min_n` were counted;
- described: the wording has no figure: the estimate is shown, not tested;
- not testable: the data lacks what the quantity needs (the reason names it), an outcome area is
  not available, or the calculation failed (logged; a defect to fix, never hidden).

The CI is a closed interval, so a bound that touches the threshold counts as a value on the
threshold: with "> 50%", a CI of 50-60% is inconclusive (50% does not satisfy "> 50%") and a CI
of 40-50% is contradicted (no value in it satisfies "> 50%"). With ">= 1/100", a CI starting at
exactly 1/100 is supported.

Rare-event claims ("rare", "very rare") with no event at all are judged by the one-sided upper
95% Clopper-Pearson bound, 1 - 0.05^(1/n): 0 of 2,000 gives 0.15%, still above 1 in 1,000, so
"rare" is inconclusive until about 3,000 courses show no event.

Settings are the flat `--set` pairs of the command line. A claim's settings are its own defaults
(claims.toml `defaults`), then the shared area settings (e.g. `clearance.missing=locf`), then
settings for this claim only (`claims.C01.clearance.missing=nri`); `claims.C01.threshold=0.6`
and `claims.C01.min_n=50` (or `claims.min_n` for all) change what the claim is held against.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache, partial
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analysis import DATA_DIR
from analysis.areas.base import SummaryOptions
from analysis.areas.claims.specs import DIRECTIONS, Checks, ClaimSet, ClaimSetError, ClaimSpec, read_claim_set
from analysis.areas.clearance import compute as clearance
from analysis.areas.labs import compute as labs
from analysis.areas.literature import reference, references
from analysis.areas.measured import area_default, check_area_settings
from analysis.areas.relapse import compute as relapse
from analysis.areas.side_effects import compute as side_effects
from analysis.cohort.filters import MISSING_LABEL
from analysis.cohort.grouping import group_text
from analysis.cohort.model import Cohort
from analysis.schema import DAYS_PER_MONTH
from analysis.stats.intervals import Estimate, proportion
from analysis.stats.survival import KaplanMeier

log = logging.getLogger(__name__)

CLAIMS_FILE = DATA_DIR / "claims.toml"
SUPPORTED, CONTRADICTED, INCONCLUSIVE, DESCRIBED, NOT_TESTABLE = (
    "supported",
    "contradicted",
    "inconclusive",
    "described",
    "not testable",
)
DEPENDS = "depends on the reading"  # a claim whose readings get different verdicts
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, DESCRIBED, NOT_TESTABLE, DEPENDS)
SETTINGS_PREFIX = "claims."
CLAIM_SET_KEY = "claims.set"  # settings key holding the active ClaimSet (absent: the bundled article)
__all__ = ["ClaimSetError", "ClaimSpec", "DIRECTIONS"]
CLAIM_LIMITS = ("threshold", "min_n")
ONE_SIDED_METHOD = "Clopper-Pearson one-sided upper 95% bound (no events)"
# A result's own keys, in the order the JSON summary gives them, for a claim and for each of its readings.
RESULT_KEYS = ("verdict", "estimate", "ci_low", "ci_high", "n", "threshold", "direction", "method", "explanation")
JSON_KEYS = (
    "id",
    "quote",
    *RESULT_KEYS,
    "label",
    "definition",
    "literature",
    "reason",
    "page",
    "min_n",
    "related",
    "parts",
    "verdict_rule",
    "readings",
)
# Each reading in a claim's `readings`: which reading, how it reads the words, and its own result.
READING_KEYS = (
    "reading",
    "id",
    "reads_as",
    "label",
    "measure",
    *RESULT_KEYS,
    "definition",
    "literature",
    "reason",
    "min_n",
    "related",
    "parts",
)
ADULT, ADOLESCENT = "adult (18+)", "adolescent (<18)"

# Alternative values the sensitivity view tries for each setting, and how each reads.
ALTERNATIVES: dict[str, tuple] = {
    "clearance.definition": ("iga01", "iga_success", "lesion_reduction"),
    "clearance.missing": ("observed", "locf", "nri"),
    "relapse.retreatment_counts_as_relapse": (True, False),
    "adverse_events.treatment_emergent": (True, False),
    "labs.baseline_days": (30, 90, 180),
    "completed_only": (True, False),
}


def variant_text(key: str, value, settings: dict) -> str:
    """One alternative setting in plain words, e.g. 'clear = IGA 0/1'."""
    if key == "clearance.definition":
        percent = _float(settings.get("clearance.reduction_percent", 80))
        return {
            "iga01": "clear = IGA 0/1",
            "iga_success": "clear = IGA success (0/1 and 2 grades better)",
            "lesion_reduction": f"clear = at least {percent:g}% fewer lesions",
        }.get(value, str(value))
    if key == "clearance.missing":
        return {
            "observed": "missed visits: observed cases only",
            "locf": "missed visits: last observation carried forward",
            "nri": "missed visits: counted as not clear",
        }.get(value, str(value))
    if key == "relapse.retreatment_counts_as_relapse":
        return "a further course counts as relapse" if _truthy(value) else "a further course is censored"
    if key == "adverse_events.treatment_emergent":
        return (
            "side effects from the first dose to 30 days after the last"
            if _truthy(value)
            else "all recorded side effects"
        )
    if key == "labs.baseline_days":
        return f"baseline = last result in the {int(value)} days up to the first dose"
    if key == "completed_only":
        return "completed courses only" if _truthy(value) else "every course with a known last dose"
    return f"{key} = {value}"


# ---------------------------------------------------------------------------------------------
# The claims as data


@cache
def bundled_claim_set() -> ClaimSet:
    """The source document's claims (data/claims.toml), the set in use unless another is chosen."""
    return load_claim_set(CLAIMS_FILE)


def load_claim_set(source: str | bytes | Path, name: str = "") -> ClaimSet:
    """A claim set from TOML (text, bytes or a file), checked against the catalogue of measured
    quantities; ClaimSetError names the claim and field of anything that cannot be used."""
    checks = Checks(
        measures={key: entry.check_params for key, entry in CATALOGUE.items()},
        literature=frozenset(references()),
        settings=check_area_settings,
        sensitivity=frozenset(ALTERNATIVES),
    )
    return read_claim_set(source, checks, name)


def active_claim_set(settings: dict | None = None) -> ClaimSet:
    """The claim set chosen in the settings (CLAIM_SET_KEY), else the bundled article's."""
    chosen = (settings or {}).get(CLAIM_SET_KEY)
    return chosen if isinstance(chosen, ClaimSet) else bundled_claim_set()


def set_description(claim_set: ClaimSet) -> str:
    """Where the claims come from, completing "20 claims ..."."""
    if claim_set == bundled_claim_set():
        return "quoted word for word from a widely read article on isotretinoin 20 mg"
    source = f", {claim_set.source}" if claim_set.source and claim_set.source != claim_set.title else ""
    link = f" ({claim_set.link})" if claim_set.link else ""
    return f"from the claim set “{claim_set.title}”{source}{link}"


def claim_specs(claim_set: ClaimSet | None = None) -> dict[str, ClaimSpec]:
    """Every claim of the set (default: the bundled article) by id, in file order; each is its first reading."""
    return (claim_set or bundled_claim_set()).by_id()


def claim_spec(claim_id: str, claim_set: ClaimSet | None = None) -> ClaimSpec:
    """A claim (C01) or one of its further readings (C01b)."""
    readings = (claim_set or bundled_claim_set()).reading_specs()
    try:
        return readings[claim_id]
    except KeyError:
        known = ", ".join(claim_specs(claim_set))
        raise ValueError(f"Unknown claim {claim_id!r}: the claims are {known}.") from None


# ---------------------------------------------------------------------------------------------
# What a claim function returns, and what the engine makes of it


@dataclass(frozen=True)
class Related:
    """A figure shown beside the claim's estimate (e.g. the difference to adolescents)."""

    label: str
    estimate: Estimate | None = None
    text: str = ""

    def describe(self) -> str:
        if self.estimate is None or self.estimate.estimate is None:
            return f"{self.label}: {self.text or 'not estimable'}"
        e = self.estimate
        figure = signed_percent(e.estimate) if self.text == "difference" else percent(e.estimate)
        interval = (
            f" (95% CI {interval_text(e.ci_low, e.ci_high, signed=self.text == 'difference')})"
            if e.ci_low is not None
            else ""
        )
        return f"{self.label}: {figure}{interval}, n = {e.n:,}"

    def as_dict(self) -> dict:
        values = self.estimate.as_dict() if self.estimate is not None else {}
        return {
            "label": self.label,
            "estimate": values.get("estimate"),
            "ci_low": values.get("ci_low"),
            "ci_high": values.get("ci_high"),
            "n": values.get("n"),
            "text": self.describe(),
        }


@dataclass(frozen=True)
class Part:
    """One item of a claim that names several (C09's five side effects)."""

    label: str
    measured: Measured
    literature: tuple[str, ...] = ()
    compare: str | None = None


@dataclass(frozen=True)
class Bound:
    """The claim's time point lies beyond the follow-up, but the quantity can only rise (a share ever
    cleared, ever relapsed) or only fall (a share still relapse-free): its value at the last point
    observed is then a bound that may already settle the verdict."""

    rising: bool
    last: str  # the last point observed, e.g. "month 5"
    wanted: str  # the claim's own time point, e.g. "month 6"
    needs: str  # what would make the claim testable at its own time point
    after: str = ""  # what times count from, e.g. "the end of the course" (months of a course need none)

    @property
    def last_phrase(self) -> str:
        kind = "the last month with follow-up" if self.last.startswith("month") else "the longest follow-up"
        return f"{self.last}, {kind}"

    @property
    def ends(self) -> str:
        """Where the follow-up ends, e.g. 'at month 5' or '9.9 months after the end of the course'."""
        return f"{self.last} after {self.after}" if self.after else f"at {self.last}"

    def widened(self, estimate: Estimate) -> tuple[float | None, float | None]:
        """Where the claim's value can lie: from the lower bound up, or from the upper bound down."""
        return (estimate.ci_low, 1.0) if self.rising else (0.0, estimate.ci_high)


@dataclass(frozen=True)
class Measured:
    """A claim function's answer: the estimate, what it counts in words, and the definition used."""

    estimate: Estimate
    what: str  # completes "62% of 1,840 courses ...", e.g. "ended the course at IGA 0/1"
    definition: str
    unit: str = "courses"
    related: tuple[Related, ...] = ()
    parts: tuple[Part, ...] = ()
    bound: Bound | None = None  # set when the estimate is at the last point observed, not the claim's
    needs: str = ""  # what would make the claim testable, said when nothing could be counted


class NotTestable(Exception):
    """The data lacks what the claim needs; the message names it."""


@dataclass(frozen=True)
class ClaimResult:
    id: str
    quote: str
    verdict: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    threshold: float | None
    direction: str
    method: str
    explanation: str
    definition: str
    literature: str
    page: str
    reason: str = ""
    label: str = ""
    min_n: int = 20
    numerator: int | None = None
    unit: str = "courses"
    compare_value: float | None = None
    related: tuple[Related, ...] = ()
    parts: tuple[ClaimResult, ...] = ()
    reading: str = "a"
    reads_as: str = ""
    measure: str = ""
    verdict_rule: str = ""
    readings: tuple[ClaimResult, ...] = ()  # every reading's own result (the claim's first reading first)

    def as_dict(self, keys: tuple[str, ...] = JSON_KEYS) -> dict:
        """The claim in the JSON summary (keys: JSON_KEYS; a reading: READING_KEYS)."""
        nested = ("related", "parts", "readings")
        values = {key: getattr(self, key) for key in keys if key not in nested}
        values = {
            key: (None if isinstance(value, float) and not math.isfinite(value) else value)
            for key, value in values.items()
        }
        inner = {"related": (), "parts": JSON_KEYS, "readings": READING_KEYS}
        for key in nested:
            if key in keys:
                values[key] = [item.as_dict(*((inner[key],) if inner[key] else ())) for item in getattr(self, key)]
        return {key: values[key] for key in keys}

    @property
    def several_readings(self) -> bool:
        return len(self.readings) > 1


# ---------------------------------------------------------------------------------------------
# Verdict rules


def decide(
    ci_low: float | None, ci_high: float | None, n: int, threshold: float | None, direction: str, min_n: int
) -> str:
    """The verdict from a closed 95% CI (see the module docstring for touching bounds)."""
    if direction == "described":
        return DESCRIBED
    if ci_low is None or ci_high is None or n < min_n:
        return INCONCLUSIVE
    holds = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}[direction]
    low_holds, high_holds = bool(holds(ci_low, threshold)), bool(holds(ci_high, threshold))
    if low_holds and high_holds:
        return SUPPORTED
    if not low_holds and not high_holds:
        return CONTRADICTED
    return INCONCLUSIVE


def one_sided_upper(n: int, alpha: float = 0.05) -> float:
    """Clopper-Pearson one-sided upper (1 - alpha) bound with no events: 1 - alpha^(1/n)."""
    return float(proportion_confint(0, n, alpha=2 * alpha, method="beta")[1])


def courses_to_rule_out(threshold: float, alpha: float = 0.05) -> int:
    """How many event-free courses make the one-sided upper bound fall below the threshold."""
    return int(math.floor(math.log(alpha) / math.log1p(-threshold))) + 1


def with_rare_event_bound(spec: ClaimSpec, estimate: Estimate) -> Estimate:
    """For rare-event claims with zero events, the interval becomes [0, one-sided upper bound]."""
    if spec.rare_event and spec.direction in ("<", "<=") and estimate.numerator == 0 and estimate.n > 0:
        return replace(estimate, ci_low=0.0, ci_high=one_sided_upper(estimate.n), method=ONE_SIDED_METHOD)
    return estimate


# ---------------------------------------------------------------------------------------------
# Numbers in words


def percent(value: float | None) -> str:
    """A share as a percentage with sensible precision: 62%, 2.7%, 0.75%, 0.012%."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    points = value * 100
    if points == 0:
        return "0%"
    if abs(points) >= 10:
        return f"{points:.0f}%"
    if abs(points) >= 1:
        return f"{points:.1f}%"
    if abs(points) >= 0.1:
        return f"{points:.2f}%"
    return f"{points:.2g}%"


def signed_percent(value: float) -> str:
    text = f"{value * 100:+.0f}" if abs(value) >= 0.1 else f"{value * 100:+.1f}"
    return f"{text} percentage points"


def interval_text(low: float | None, high: float | None, signed: bool = False) -> str:
    if low is None or high is None:
        return "not estimable"
    if signed:
        return f"{low * 100:+.1f} to {high * 100:+.1f} points"
    return f"{percent(low)[:-1]}-{percent(high)}"


def threshold_text(threshold: float | None) -> str:
    """'50%', or '1 in 1,000' for small shares (the CIOMS wording)."""
    if threshold is None:
        return ""
    if 0 < threshold <= 0.01 and abs(1 / threshold - round(1 / threshold)) < 1e-6:
        return f"1 in {round(1 / threshold):,}"
    return percent(threshold)


def rule_text(direction: str, threshold: float | None) -> str:
    """The claim's rule as read, e.g. '> 50%' or '< 1 in 1,000'."""
    return "described" if direction == "described" else f"{DIRECTIONS[direction]} {threshold_text(threshold)}"


def literature_text(keys: tuple[str, ...]) -> str:
    return "; ".join(reference(key).describe() for key in keys)


def literature_short(keys: tuple[str, ...]) -> str:
    """The first published figure in a few words, e.g. '87% (Patel, Baquerizo Nole, Fleischer 2021)'."""
    if not keys:
        return ""
    ref = reference(keys[0])
    figure = ref.short or (
        ref.band if ref.unit == "band" else percent(ref.value) if ref.unit == "share" else f"{ref.value:g} {ref.unit}"
    )
    source = re.split(r"(?<=\b(?:19|20)\d\d)\b", ref.source, maxsplit=1)[0]
    more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
    return f"{figure} ({source}){more}"


# ---------------------------------------------------------------------------------------------
# Settings


def parse_share(value, key: str) -> float:
    """A share from 0.6, '0.6', '60%' or '1/1000'."""
    text = str(value).strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1]) / 100
        elif "/" in text:
            top, bottom = text.split("/", 1)
            share = float(top.replace(",", "")) / float(bottom.replace(",", ""))
        else:
            share = float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"Setting {key} must be a share like 0.5, 50% or 1/1000 (got {value!r}).") from None
    if not 0 <= share <= 1:
        raise ValueError(f"Setting {key} must lie between 0 and 1 (got {value!r}).")
    return share


def parse_min_n(value, key: str) -> int:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        raise ValueError(f"Setting {key} must be a whole number (got {value!r}).") from None
    if number < 1:
        raise ValueError(f"Setting {key} must be at least 1 (got {value!r}).")
    return number


def check_claim_settings(settings: dict) -> None:
    """Unknown claims and malformed thresholds are the user's mistake: say so before evaluating."""
    if CLAIM_SET_KEY in settings and not isinstance(settings[CLAIM_SET_KEY], ClaimSet):
        raise ValueError(f"Setting {CLAIM_SET_KEY} takes a claim file: use --claims FILE on the command line.")
    claim_set = active_claim_set(settings)
    for key, value in settings.items():
        if not key.startswith(SETTINGS_PREFIX) or key == CLAIM_SET_KEY:
            continue
        rest = key[len(SETTINGS_PREFIX) :]
        if rest == "min_n":
            parse_min_n(value, key)
            continue
        claim_id, _, name = rest.partition(".")
        spec = claim_spec(claim_id, claim_set)
        if not name:
            raise ValueError(f"Setting {key} names no setting: use e.g. {key}.threshold=0.6")
        if name == "threshold":
            if not spec.tested:
                raise ValueError(f"Claim {claim_id} is described, not tested: it has no threshold to set.")
            parse_share(value, key)
        elif name == "min_n":
            parse_min_n(value, key)


def claim_settings(spec: ClaimSpec, settings: dict | None) -> dict:
    """The settings this claim uses: its defaults, then shared area settings, then its own."""
    settings = settings or {}
    own_prefix = f"{SETTINGS_PREFIX}{spec.id}."
    shared = {k: v for k, v in settings.items() if not k.startswith(SETTINGS_PREFIX)}
    own = {
        k[len(own_prefix) :]: v
        for k, v in settings.items()
        if k.startswith(own_prefix) and k[len(own_prefix) :] not in CLAIM_LIMITS
    }
    return {**dict(spec.defaults), **shared, **own}


def claim_limits(spec: ClaimSpec, settings: dict | None) -> tuple[float | None, int]:
    """Threshold and minimum n for this claim after the user's changes."""
    settings = settings or {}
    key = f"{SETTINGS_PREFIX}{spec.id}.threshold"
    threshold = parse_share(settings[key], key) if key in settings and spec.tested else spec.threshold
    min_n = spec.min_n
    for key in (f"{SETTINGS_PREFIX}min_n", f"{SETTINGS_PREFIX}{spec.id}.min_n"):
        if key in settings:
            min_n = parse_min_n(settings[key], key)
    return threshold, min_n


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    return bool(value)


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


# ---------------------------------------------------------------------------------------------
# The context a claim function works in: the cohort, its settings, area results shared across claims


def has_values(table: pd.DataFrame, column: str) -> bool:
    return column in table.columns and bool(table[column].notna().any())


def recorded(cohort: Cohort, table: str, column: str) -> bool:
    """Does the column have at least one value in the cohort? A subset answers from the courses
    that have one (flags kept with the whole cohort), without cutting the table's column."""
    if cohort.parent() is None:
        return cohort.has_values(table, column)
    return bool(courses_with_values(cohort, table, column).any())


def courses_with_values(cohort: Cohort, table: str, column: str) -> np.ndarray:
    """Per course_idx: does the course have a value in the column (False for courses not in the cohort)?"""
    return cohort.derived_from_whole(
        ("claims.courses_with_values", table, column),
        lambda c: _courses_with_values(c, table, column),
        lambda whole, lineage, _: whole & lineage.courses_kept(whole.size),
    )


def _courses_with_values(cohort: Cohort, table: str, column: str) -> np.ndarray:
    course_idx = cohort.courses["course_idx"]
    flags = np.zeros(int(course_idx.max()) + 1 if len(course_idx) else 0, dtype=bool)
    values = cohort.column(table, column)
    if values is not None:
        course = cohort.column(table, "course_idx").to_numpy(dtype=np.int64, na_value=-1)
        course = course[values.notna().to_numpy() & (course >= 0) & (course < flags.size)]
        flags[course] = True
    return flags


class ClaimContext:
    """What a claim function needs; expensive area results are computed once per settings."""

    def __init__(
        self, cohort: Cohort, settings: dict, memo: dict | None = None, min_n: int = 20, params: dict | None = None
    ):
        self.cohort = cohort
        self.settings = settings
        self.min_n = min_n  # the fewest counted for a verdict, named in what would make a claim testable
        self.params = params or {}  # the quantity's own parameters (a month, a term, a test)
        self._memo = {} if memo is None else memo

    def param(self, name: str):
        return self.params[name]

    def setting(self, key: str, default=None):
        return self.settings.get(key, default)

    def memo(self, key: tuple, compute: Callable):
        full_key = (id(self.cohort), *key)
        if full_key not in self._memo:
            self._memo[full_key] = compute()
        return self._memo[full_key]

    def require(self, table: str, column: str, reason: str) -> None:
        if not recorded(self.cohort, table, column):
            raise NotTestable(reason)

    # Areas -------------------------------------------------------------------------------

    def clearance_settings(self):
        return clearance.ClearanceSettings.from_settings(self.settings)

    def side_effect_data(self):
        module = side_effects
        chosen = module.SideEffectSettings.from_settings(self.settings)
        return self.memo(("side_effects", chosen), lambda: module.event_data(self.cohort, chosen))

    def relapse_settings(self):
        return relapse.RelapseSettings.from_settings(self.settings)

    def relapse_curve(self):
        module = relapse
        chosen = self.relapse_settings()
        return self.memo(("relapse", chosen), lambda: module.fit_relapse(self.cohort, chosen))

    def lab_data(self):
        module = labs
        chosen = module.LabSettings.from_settings(self.settings)
        return self.memo(("labs", chosen), lambda: module.lab_data(self.cohort, chosen))


# ---------------------------------------------------------------------------------------------
# One small function per claim


@dataclass(frozen=True)
class Param:
    """One parameter of a measured quantity: a month, a number of years, side-effect terms, a lab test."""

    name: str
    kind: str  # "int", "float", "terms" (a list of text), "choice", "text"
    default: object
    label: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None

    def parse(self, value):
        """The value typed and checked; ValueError says what is expected."""
        if self.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{self.name} must be a number (got {value!r})")
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                raise ValueError(f"{self.name} must lie between {self.low:g} and {self.high:g} (got {value!r})")
            return int(value) if self.kind == "int" and float(value).is_integer() else float(value)
        if self.kind == "terms":
            values = (value,) if isinstance(value, str) else value
            if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in values):
                raise ValueError(f"{self.name} must be a list of text (got {value!r})")
            return tuple(v.strip() for v in values)
        if not isinstance(value, str):
            raise ValueError(f"{self.name} must be text (got {value!r})")
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)} (got {value!r})")
        return value


@dataclass(frozen=True)
class Measure:
    """A quantity the outcome areas measure, which any claim (built in or a user's) can be held against."""

    key: str
    label: str
    area: str
    page: str
    function: Callable[[ClaimContext], Measured]
    params: tuple[Param, ...] = ()

    def check_params(self, given: dict) -> dict:
        """The parameters with defaults filled in; ValueError names an unknown or malformed one."""
        known = {param.name: param for param in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(known) or "none"
            raise ValueError(f"{self.key} has no parameter {unknown[0]!r} (its parameters: {names})")
        return {name: param.parse(given[name]) if name in given else param.default for name, param in known.items()}


CATALOGUE: dict[str, Measure] = {}


def measure(key: str, label: str, area: str, page: str, params: tuple[Param, ...] = ()):
    """Registers a measured quantity in the catalogue."""

    def register(function: Callable[[ClaimContext], Measured]):
        CATALOGUE[key] = Measure(key, label, area, page, function, params)
        return function

    return register


MONTH = Param("month", "int", 6, "Month of the course", low=1, high=36)


def years_param(default: float) -> Param:
    return Param("years", "float", default, "Years after the course", low=0.25, high=20)


# Clearance (C01-C04, C15-C17) ------------------------------------------------------------------

END_OF_COURSE_RULE = "end of course = last assessment from 30 days before to 14 days after the last dose"


def clear_phrase(settings) -> str:
    return {
        "iga01": "at IGA 0/1 (clear or almost clear)",
        "iga_success": "at IGA success (IGA 0/1 and at least 2 grades better than baseline)",
        "lesion_reduction": f"with at least {settings.reduction_percent:g}% fewer total lesions than at baseline",
    }[settings.definition]


NO_LESION_COUNTS = (
    "no visit has a lesion count; visits with total_lesions (or inflammatory_lesions, noninflammatory_lesions "
    "and nodules) at baseline and during the course would make it testable"
)
NO_IGA = "no visit has an IGA grade; visits with iga (0-4) during the course would make it testable"
NO_END_DAY = (
    "no course has a last-dose day, so the end of the course is unknown; courses.end_day would make it testable"
)


def require_clearance_data(ctx: ClaimContext, settings, needs_end: bool = True) -> None:
    if settings.definition == "lesion_reduction":
        ctx.require("visits", "total_lesions", NO_LESION_COUNTS)
    else:
        ctx.require("visits", "iga", NO_IGA)
    if settings.definition == "iga_success":
        ctx.require(
            "courses",
            "baseline_iga",
            "no course has a baseline IGA, which IGA success needs; courses.baseline_iga would make it testable",
        )
    if needs_end:
        ctx.require("courses", "end_day", NO_END_DAY)


def end_of_course(ctx: ClaimContext, lead: str, first_courses: bool = False) -> Measured:
    settings = ctx.clearance_settings()
    require_clearance_data(ctx, settings)
    measure = clearance.first_course_clearance if first_courses else clearance.end_of_course_clearance
    return Measured(
        measure(ctx.cohort, settings),
        f"{lead} {clear_phrase(settings)}",
        f"{settings.describe()}; {END_OF_COURSE_RULE}",
    )


@measure("clear_at_end", "Clear at the end of the course (every course)", "clearance", "views/clearance.py")
def clear_at_end(ctx: ClaimContext) -> Measured:
    return end_of_course(ctx, "ended the course")


@measure(
    "clear_at_month",
    "Clear at a month of the course (missed-visit rule applies)",
    "clearance",
    "views/clearance.py",
    (MONTH,),
)
def clear_at_month(ctx: ClaimContext) -> Measured:
    month = ctx.param("month")
    settings = ctx.clearance_settings()
    require_clearance_data(ctx, settings, needs_end=False)
    table = ctx.memo(("clearance.by_month", settings), lambda: clearance.clearance_by_month(ctx.cohort, settings))
    row = table[table["month"] == month]
    if row.empty or int(row["n"].iloc[0]) == 0:
        raise NotTestable(
            f"no course was assessed in month {month}; visits in month {month} (around day "
            f"{round(month * DAYS_PER_MONTH)}) in at least {ctx.min_n:,} courses would make it testable"
        )
    row = row.iloc[0]
    return Measured(
        proportion(int(round(row["cleared"])), int(round(row["n"]))),
        f"were {clear_phrase(settings)} in month {month}",
        f"{settings.describe()}; month {month} = days {round((month - 0.5) * DAYS_PER_MONTH)}-"
        f"{round((month + 0.5) * DAYS_PER_MONTH)}",
    )


@measure(
    "clear_at_end_first_courses", "Clear at the end of the course (first courses)", "clearance", "views/clearance.py"
)
def first_course_clear(ctx: ClaimContext) -> Measured:
    measured = end_of_course(ctx, "ended", first_courses=True)
    return replace(measured, unit="first courses", definition=f"first courses only; {measured.definition}")


@measure(
    "improved_month_2_3", "Fewer inflammatory lesions in month 2-3 than at baseline", "clearance", "views/clearance.py"
)
def early_improvement(ctx: ClaimContext) -> Measured:
    ctx.require(
        "visits",
        "inflammatory_lesions",
        "no visit has an inflammatory lesion count; visits with inflammatory_lesions at baseline and in months 2-3 "
        "would make it testable",
    )
    tested = clearance.improvement_by_month_2_3(ctx.cohort)
    test = tested.test + ("" if tested.p_value is None else f", p = {tested.p_value:.2g}")
    estimate = Estimate(
        tested.estimate, tested.ci_low, tested.ci_high, tested.n, f"{tested.method}; {test}", tested.numerator
    )
    return Measured(
        estimate,
        "had fewer inflammatory lesions in month 2-3 than at baseline",
        "latest inflammatory lesion count in months 2-3 against the baseline count (on or before day 0); an equal count is not fewer",
        related=(Related("Paired test of any change", text=test),),
    )


@measure("initial_flare", "Initial flare (lesions up in the first weeks)", "clearance", "views/clearance.py")
def initial_flare(ctx: ClaimContext) -> Measured:
    ctx.require("visits", "total_lesions", NO_LESION_COUNTS)
    settings = ctx.clearance_settings()
    result = clearance.flare(ctx.cohort, settings)
    low, high = settings.flare_window_days
    return Measured(
        result.estimate,
        f"had total lesions at least {settings.flare_percent:g}% above baseline at a visit on days {low}-{high}",
        f"initial flare: total lesions >= {settings.flare_percent:g}% above baseline on days {low}-{high}; "
        f"courses with a baseline count and a visit in that window (observed cases)",
    )


def group_claim(
    ctx: ClaimContext, column: str, group: str, other: str, courses_words: str, names: tuple[str, str]
) -> Measured:
    """C02's quantity within one group of first courses, with the difference to the other group."""
    settings = ctx.clearance_settings()
    require_clearance_data(ctx, settings)
    comparison = clearance.compare_first_course_groups(ctx.cohort, column, settings)
    table = comparison.table.set_index("group")
    if group not in table.index:
        raise NotTestable(
            f"none of the {courses_words} was assessed at the end of the course; a visit within 30 days before to "
            f"14 days after the last dose in at least {ctx.min_n:,} of them would make it testable"
        )
    row = table.loc[group]
    estimate = Estimate(
        float(row["rate"]),
        _none(row["ci_low"]),
        _none(row["ci_high"]),
        int(row["n"]),
        str(row["method"]),
        int(row["cleared"]),
    )
    related = []
    if other in table.index:
        base = table.loc[other]
        related.append(
            Related(
                f"First courses of {names[1]}",
                Estimate(
                    float(base["rate"]),
                    _none(base["ci_low"]),
                    _none(base["ci_high"]),
                    int(base["n"]),
                    str(base["method"]),
                    int(base["cleared"]),
                ),
            )
        )
        related.append(Related(f"Difference, {names[0]} minus {names[1]}", difference(row, base), "difference"))
        if comparison.p_value is not None:
            related.append(Related("Test", text=f"{comparison.test}, p = {comparison.p_value:.2g}"))
    return Measured(
        estimate,
        f"ended {clear_phrase(settings)}",
        f"{courses_words}; {settings.describe()}; {END_OF_COURSE_RULE}",
        unit=courses_words,
        related=tuple(related),
    )


def difference(row: pd.Series, base: pd.Series) -> Estimate:
    """Difference of two shares with the Newcombe hybrid score interval."""
    k1, n1, k0, n0 = int(row["cleared"]), int(row["n"]), int(base["cleared"]), int(base["n"])
    low, high = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff")
    return Estimate(k1 / n1 - k0 / n0, float(low), float(high), n1 + n0, "Newcombe hybrid score interval", None)


def _none(value) -> float | None:
    return None if pd.isna(value) else float(value)


GROUPS = ("adults", "after_antibiotic")


@measure(
    "clear_at_end_first_courses_in_group",
    "Clear at the end of first courses within a group (adults; after an oral antibiotic)",
    "clearance",
    "views/clearance.py",
    (Param("group", "choice", "adults", "Group", GROUPS),),
)
def group_clear(ctx: ClaimContext) -> Measured:
    return adults_clear(ctx) if ctx.param("group") == "adults" else after_antibiotics_clear(ctx)


def adults_clear(ctx: ClaimContext) -> Measured:
    if not (has_values(ctx.cohort.courses, "age") or has_values(ctx.cohort.courses, "age_band")):
        raise NotTestable(
            "neither age nor age band is recorded; courses.age or courses.age_band would make it testable"
        )
    return group_claim(
        ctx, "age_group", ADULT, ADOLESCENT, "first courses of adults (18 or over)", ("adults", "adolescents")
    )


def after_antibiotics_clear(ctx: ClaimContext) -> Measured:
    ctx.require(
        "courses",
        "prior_treatments",
        "prior treatments are not recorded; courses.prior_treatments (e.g. oral_antibiotic) would make it testable",
    )
    return group_claim(
        ctx,
        "prior_systemic_antibiotic",
        "yes",
        "no",
        "first courses after an oral/systemic antibiotic",
        ("after an antibiotic", "patients without one"),
    )


@measure(
    "cleared_by_month",
    "Had been clear by a month of the course (Kaplan-Meier)",
    "clearance",
    "views/clearance.py",
    (MONTH,),
)
def cleared_within_months(ctx: ClaimContext) -> Measured:
    month = ctx.param("month")
    settings = ctx.clearance_settings()
    require_clearance_data(ctx, settings, needs_end=False)
    curve = clearance.time_to_clearance(ctx.cohort, settings)
    if curve.n == 0:
        raise NotTestable(
            "no course has an assessment after its baseline; visits with "
            f"{'lesion counts' if settings.definition == 'lesion_reduction' else 'IGA'} during the course would make it testable"
        )
    needs = (
        f"visits up to month {month} (day {round(month * DAYS_PER_MONTH)} of the course) "
        f"in at least {ctx.min_n:,} courses would make it testable"
    )
    estimate, bound = curve_at(curve, month, True, month_text, needs)
    by = bound.last if bound else f"month {month}"
    return Measured(
        estimate,
        f"had reached {settings.definition_text()} at an assessment by {by}",
        f"Clear = {settings.definition_text()}; first clear assessment by month {month} "
        f"(day {round((month + 0.5) * DAYS_PER_MONTH)}); "
        "courses never clear are censored at their last assessment",
        bound=bound,
    )


def month_text(month: float) -> str:
    return f"month {month:g}"


def years_text(days: float) -> str:
    """A time after the course in years or months, never in fractional days: '2 years', '13.1 months'."""
    years = days / relapse.DAYS_PER_YEAR
    if years >= 1 and abs(years - round(years)) < 1e-9:
        return f"{round(years)} year{'s' if round(years) > 1 else ''}"
    months = days / DAYS_PER_MONTH
    text = f"{months:.1f}".removesuffix(".0")
    if abs(round(years) * 12 - months) < 0.05 and round(years) >= 1:  # just short of a whole year: say by how much
        return f"{round(days):,} days (just under {round(years)} year{'s' if round(years) > 1 else ''})"
    return f"{text} months"


def curve_at(
    curve: KaplanMeier, point: float, rising: bool, when: Callable[[float], str], needs: str
) -> tuple[Estimate, Bound | None]:
    """The curve's share at the claim's time point (the share with the event when `rising`, else the
    share without it), or, when nobody was followed that long, at its last point with a bound."""
    estimate = curve.failure_at(point) if rising else curve.survival_at(point)
    if estimate.estimate is not None or curve.n == 0:
        return estimate, None
    last = curve.last_day
    at_last = curve.failure_at(last) if rising else curve.survival_at(last)
    return at_last, Bound(rising, when(last), when(point), needs)


# Course length (C05) ----------------------------------------------------------------------------


@measure(
    "course_length_within",
    "Course length within a range of days",
    "overview",
    "views/overview.py",
    (
        Param("low_days", "int", 120, "Shortest (days)", low=1, high=2000),
        Param("high_days", "int", 183, "Longest (days)", low=1, high=2000),
    ),
)
def typical_length(ctx: ClaimContext) -> Measured:
    ctx.require("courses", "end_day", NO_END_DAY)
    courses = ctx.cohort.courses
    duration = pd.to_numeric(courses["duration_days"], errors="coerce")
    keep = duration.notna()
    if _truthy(ctx.setting("completed_only", True)) and has_values(courses, "end_reason"):
        keep &= (courses["end_reason"] == "completed").fillna(False).astype(bool)
        unit, scope = "completed courses", "courses with end_reason = completed"
    elif _truthy(ctx.setting("completed_only", True)):
        unit, scope = "courses", "every course with a known last dose (why courses ended is not recorded)"
    else:
        unit, scope = "courses", "every course with a known last dose, however it ended"
    low, high = ctx.param("low_days"), ctx.param("high_days")
    within = duration[keep].between(low, high)
    months = f"{low / DAYS_PER_MONTH:.0f}-{high / DAYS_PER_MONTH:.0f} months"
    return Measured(
        proportion(int(within.sum()), int(keep.sum())),
        f"lasted {low}-{high} days ({months})",
        f"{scope}; length = last dose day + 1, between {low} and {high} days",
        unit=unit,
    )


# Relapse (C06-C08) -------------------------------------------------------------------------------


def require_follow_up(ctx: ClaimContext) -> None:
    if ctx.cohort.time_origin == "start" and "relapse.origin" not in ctx.settings:
        raise NotTestable(
            "this data's event times count from the first dose (a trial's time-to-event table), and the claim speaks "
            "of the time after the course ends; follow-up after the last dose (courses.followup_end_day, "
            "relapse_day) would make it testable"
        )
    courses = ctx.cohort.courses
    if not any(has_values(courses, c) for c in ("followup_end_day", "relapse_day", "retreat_day")):
        raise NotTestable(
            "no course has follow-up after its end; courses.followup_end_day (with relapse_day or retreat_day where "
            "they happened) would make it testable"
        )


def after_origin(settings) -> str:
    return "the end of the course" if settings.origin == "end" else "the first dose"


def follow_up_needs(ctx: ClaimContext, years: float) -> str:
    return (
        f"follow-up of at least {years_text(years * relapse.DAYS_PER_YEAR)} after {after_origin(ctx.relapse_settings())} "
        f"(courses.followup_end_day) in at least {ctx.min_n:,} courses would make it testable"
    )


def relapse_curve_at(
    ctx: ClaimContext, curve: KaplanMeier, years: float, rising: bool
) -> tuple[Estimate, Bound | None]:
    if curve.n == 0:
        raise NotTestable(f"no course could enter the follow-up analysis; {follow_up_needs(ctx, years)}")
    estimate, bound = curve_at(curve, years * relapse.DAYS_PER_YEAR, rising, years_text, follow_up_needs(ctx, years))
    return estimate, (replace(bound, after=after_origin(ctx.relapse_settings())) if bound else None)


def follow_up_share(
    ctx: ClaimContext, curve_of: Callable[[], KaplanMeier], rising: bool
) -> tuple[Estimate, Bound | None, str]:
    """A Kaplan-Meier share at the claim's `years` after the course, the bound from the last follow-up
    when that settles it, and when it is read ("2 years", or where the follow-up ends)."""
    require_follow_up(ctx)
    years = ctx.param("years")
    estimate, bound = relapse_curve_at(ctx, curve_of(), years, rising)
    return estimate, bound, bound.last if bound else years_text(years * relapse.DAYS_PER_YEAR)


@measure(
    "relapse_free_at",
    "Relapse-free a time after the course (Kaplan-Meier)",
    "relapse",
    "views/relapse.py",
    (years_param(2),),
)
def relapse_free(ctx: ClaimContext) -> Measured:
    estimate, bound, when = follow_up_share(ctx, ctx.relapse_curve, rising=False)
    settings = ctx.relapse_settings()
    return Measured(
        estimate, f"were relapse-free {when} after {after_origin(settings)}", settings.describe(), bound=bound
    )


@measure(
    "relapsed_by",
    "Relapsed within a time after the course (Kaplan-Meier)",
    "relapse",
    "views/relapse.py",
    (years_param(1),),
)
def relapse_within(ctx: ClaimContext) -> Measured:
    estimate, bound, when = follow_up_share(ctx, ctx.relapse_curve, rising=True)
    settings = ctx.relapse_settings()
    return Measured(estimate, f"relapsed within {when} of {after_origin(settings)}", settings.describe(), bound=bound)


@measure(
    "further_course_by",
    "Started a further course within a time after the course (Kaplan-Meier)",
    "relapse",
    "views/relapse.py",
    (years_param(2),),
)
def second_course(ctx: ClaimContext) -> Measured:
    settings = ctx.relapse_settings()
    curve = partial(relapse.second_course_curve, ctx.cohort, settings)
    estimate, bound, when = follow_up_share(ctx, curve, rising=True)
    return Measured(
        estimate,
        f"started a second course within {when} of {after_origin(settings)}",
        settings.describe(relapse.SECOND_COURSE),
        bound=bound,
    )


# Side effects (C09-C12) ---------------------------------------------------------------------------


SIDE_EFFECTS_NEEDED = "an adverse_events table (term and onset_day per side effect) would make it testable"


def side_effect_measured(estimate: Estimate, what: str, data) -> Measured:
    return Measured(estimate, what, data.settings.describe(), needs=SIDE_EFFECTS_NEEDED)


@measure(
    "named_side_effects",
    "Each side effect the source names (the bundled article's five common ones)",
    "side_effects",
    "views/side_effects.py",
    (Param("claim", "choice", "C09", "Named in claim", ("C09",)),),
)
def common_side_effects(ctx: ClaimContext) -> Measured:
    data = ctx.side_effect_data()
    parts = tuple(
        Part(
            effect.label,
            side_effect_measured(
                side_effects.named_effect_estimate(data, effect), f"had {' or '.join(effect.terms).lower()}", data
            ),
            effect.literature,
            next((key for key in effect.literature if reference(key).unit == "share"), None),
        )
        for effect in side_effects.NAMED_EFFECTS
        if effect.claim == ctx.param("claim")
    )
    return Measured(parts[0].measured.estimate, "had each named side effect", data.settings.describe(), parts=parts)


@measure(
    "side_effects_resolved",
    "Side effects resolved within the resolution window after the last dose",
    "side_effects",
    "views/side_effects.py",
)
def side_effects_subside(ctx: ClaimContext) -> Measured:
    data = ctx.side_effect_data()
    days = data.settings.resolution_days
    estimate = side_effects.resolved_share(data, days)
    stopped = side_effects.discontinuation_estimate(data)
    return Measured(
        estimate,
        f"had resolved by {days} days after the last dose",
        f"{data.settings.describe()}; resolved = resolution day no later than {days} days after the last dose; "
        "side effects without a resolution day count as not resolved",
        unit="side effects",
        needs="side effects with resolved_day, and courses with end_day, would make it testable",
        related=(Related("Courses stopped because of a side effect", stopped),),
    )


@measure(
    "side_effect_incidence",
    "Courses with a side effect (preferred terms, or a body system)",
    "side_effects",
    "views/side_effects.py",
    (
        Param("terms", "terms", side_effects.VISION_TERMS, "Preferred terms (any of)"),
        Param("body_system", "text", "", "Or a body system (instead of terms)"),
    ),
)
def side_effect_incidence(ctx: ClaimContext) -> Measured:
    data = ctx.side_effect_data()
    body_system = ctx.param("body_system")
    if body_system:
        estimate = side_effects.terms_estimate(data, (body_system,), column="body_system")
        return side_effect_measured(estimate, f"had a side effect of the body system {body_system.lower()}", data)
    terms = ctx.param("terms")
    words = " or ".join(terms).lower()
    article = "an " if words[:1] in "aeiou" else "a "
    return side_effect_measured(side_effects.terms_estimate(data, terms), f"had {article}{words}", data)


@measure(
    "discontinued_for_side_effects",
    "Courses stopped because of a side effect",
    "side_effects",
    "views/side_effects.py",
)
def discontinued(ctx: ClaimContext) -> Measured:
    data = ctx.side_effect_data()
    return side_effect_measured(
        side_effects.discontinuation_estimate(data), "were stopped because of a side effect", data
    )


@measure(
    "mood_change",
    "Depression or mood change (side effect, or PHQ-9 rising to 10 or more)",
    "side_effects",
    "views/side_effects.py",
)
def mood_changes(ctx: ClaimContext) -> Measured:
    data = ctx.side_effect_data()
    measured = side_effect_measured(side_effects.mood_estimate(data), "had depression or a mood change", data)
    return replace(
        measured,
        definition=f"{measured.definition}; or PHQ-9 rising from below 10 at baseline to 10 or more on treatment",
    )


# Lab values (C13, C14, C18, C19) --------------------------------------------------------------------


def lab_reason(tests: str) -> str:
    return (
        f"the labs have no {tests} result; labs rows for it at baseline and during treatment, with their unit, "
        "would make it testable"
    )


def require_tests(ctx: ClaimContext, tests: tuple[str, ...], reason: str):
    if ctx.cohort.n_rows("labs") == 0:
        raise NotTestable(reason)
    data = ctx.lab_data()
    if not any(data.has(test) for test in tests):
        raise NotTestable(reason)
    return data


def new_abnormal_measured(ctx: ClaimContext, tests: tuple[str, ...], words: str) -> Measured:
    data = ctx.lab_data()
    estimate = labs.new_abnormal(data, tests)
    if estimate.n == 0:
        raise NotTestable(
            f"no course has a normal baseline {words} and a result on treatment; courses with a result in the "
            f"{data.settings.baseline_days} days before the first dose and another during the course would make it testable"
        )
    return Measured(
        estimate,
        f"with a normal baseline {words} had a result above the upper limit on treatment",
        f"{data.settings.describe()}; normal baseline = at or below the upper limit; on treatment = day 1 to the last dose",
    )


TEST_WORDS = {"ALT/AST": "ALT/AST", "TC": "total cholesterol", "TG": "triglycerides"}


@measure(
    "lab_new_abnormal",
    "Normal baseline, above the upper limit on treatment (any lab test)",
    "labs",
    "views/labs.py",
    (
        Param("tests", "terms", ("ALT", "AST"), "Tests (any of)"),
        Param("beside", "terms", (), "Tests shown beside"),
    ),
)
def lab_new_abnormal(ctx: ClaimContext) -> Measured:
    tests = ctx.param("tests")
    name = "/".join(tests)
    words = TEST_WORDS.get(name, name)
    data = require_tests(ctx, tests, lab_reason(" or ".join(tests) if len(tests) > 1 else f"{words} ({name})"))
    measured = new_abnormal_measured(ctx, tests, words)
    beside = tuple(
        Related(
            f"{TEST_WORDS.get(test, test).capitalize()} above the upper limit, normal baseline",
            labs.new_abnormal(data, (test,)),
        )
        for test in ctx.param("beside")
        if data.has(test)
    )
    return replace(measured, related=beside) if beside else measured


@measure(
    "lab_grade_at_least",
    "Reached a CTCAE grade on treatment (a graded lab test)",
    "labs",
    "views/labs.py",
    (Param("test", "text", "ALT", "Test"), Param("grade", "int", 3, "Grade at least", low=1, high=4)),
)
def lab_grade(ctx: ClaimContext) -> Measured:
    test, grade = ctx.param("test"), ctx.param("grade")
    data = require_tests(ctx, (test,), lab_reason(test))
    estimate = labs.grade_at_least(data, test, grade)
    return Measured(
        estimate,
        f"reached CTCAE grade {grade} or more for {test} on treatment",
        f"{data.settings.describe()}; worst CTCAE v5 grade on treatment, courses with a {test} result on treatment",
    )


@measure(
    "monitoring_compliance",
    "Liver and lipid tests both at baseline and during treatment",
    "labs",
    "views/labs.py",
)
def blood_tests_done(ctx: ClaimContext) -> Measured:
    if ctx.cohort.n_rows("labs") == 0:
        raise NotTestable(
            "the data has no lab results; a labs table with liver (ALT or AST) and lipid (TG or TC) results "
            "would make it testable"
        )
    flags = labs.monitoring_flags(ctx.lab_data())  # once for both shares (as labs.monitoring_compliance counts)
    estimate = proportion(int(flags["baseline_and_on_treatment"].sum()), len(flags))
    schedule = proportion(int(flags["eu_schedule"].sum()), len(flags))
    return Measured(
        estimate,
        "had liver (ALT or AST) and lipid (TG or TC) tests both at baseline and during treatment",
        "every course counts; a course without lab results counts as not monitored",
        related=(Related("Full EU schedule (baseline, month 1, every 3 months)", schedule),),
    )


@measure(
    "pregnancy_test_compliance",
    "Treatment months with a pregnancy test (courses that can become pregnant)",
    "labs",
    "views/labs.py",
)
def pregnancy_tests_done(ctx: ClaimContext) -> Measured:
    courses = ctx.cohort.courses
    if (
        not has_values(courses, "can_become_pregnant")
        or not (courses["can_become_pregnant"].astype(str).str.lower() == "yes").any()
    ):
        raise NotTestable(
            "no course is marked as able to become pregnant; courses.can_become_pregnant = yes would make it testable"
        )
    data = require_tests(
        ctx,
        ("HCG",),
        "the labs have no pregnancy test; labs rows with test HCG during the course would make it testable",
    )
    estimate = labs.pregnancy_test_compliance(data)
    return Measured(
        estimate,
        "had a pregnancy test",
        "courses with can_become_pregnant = yes and a known last dose; month 0 includes "
        "the 30 days before the first dose; months of one course are not independent, so the interval is a guide",
        unit="treatment months",
    )


# Scars (C20) ----------------------------------------------------------------------------------------

SCAR_COLUMNS = ("scar_score_baseline", "scar_score_end")


@measure("scar_reduction", "Lower scar score at the end than at baseline", "clearance", "views/data.py")
def scars_reduced(ctx: ClaimContext) -> Measured:
    courses = ctx.cohort.courses
    baseline_column = str(ctx.setting("scar.baseline_column", SCAR_COLUMNS[0]))
    end_column = str(ctx.setting("scar.end_column", SCAR_COLUMNS[1]))
    missing = [c for c in (baseline_column, end_column) if not has_values(courses, c)]
    if missing:
        present = [c for c in courses.columns if "scar" in c.lower()]
        seen = f" (found {', '.join(present)}, which is not both)" if present else ", which the data lacks"
        raise NotTestable(
            f"needs a scar score at baseline and at the end of the course{seen}; course columns {baseline_column} "
            f"and {end_column} (e.g. mapped as custom fields) would make it testable"
        )
    baseline = pd.to_numeric(courses[baseline_column], errors="coerce")
    end = pd.to_numeric(courses[end_column], errors="coerce")
    known = baseline.notna() & end.notna()
    return Measured(
        proportion(int((end[known] < baseline[known]).sum()), int(known.sum())),
        "had a lower scar score at the end of the course than at baseline",
        f"{end_column} below {baseline_column}, courses with both",
    )


# ---------------------------------------------------------------------------------------------
# The engine


def evaluate_claims(cohort: Cohort, settings: dict | None = None, ids: list[str] | None = None) -> list[ClaimResult]:
    """Every claim (or those named) under the given settings, each with its verdict.

    A claim whose calculation fails becomes "not testable" with the error as its reason and is
    logged, so one defect never hides the rest of the scorecard.
    """
    settings = dict(settings or {})
    check_claim_settings(settings)
    check_area_settings(settings)
    memo: dict = {}
    claim_set = active_claim_set(settings)
    specs = claim_specs(claim_set) if ids is None else {i: claim_spec(i, claim_set) for i in ids}
    return [evaluate_claim(spec, cohort, settings, memo) for spec in specs.values()]


def evaluate_claim(
    spec: ClaimSpec, cohort: Cohort, settings: dict | None = None, memo: dict | None = None
) -> ClaimResult:
    """The claim under each of its readings; its verdict follows the rule of `reading_rule`."""
    results = tuple(evaluate_reading(reading, cohort, settings, memo) for reading in spec.all_readings)
    return combine_readings(results)


def evaluate_reading(
    spec: ClaimSpec, cohort: Cohort, settings: dict | None = None, memo: dict | None = None
) -> ClaimResult:
    """One reading of a claim: its quantity measured under its settings, and its verdict."""
    effective = claim_settings(spec, settings)
    threshold, min_n = claim_limits(spec, settings)
    entry = CATALOGUE.get(spec.measure)
    try:
        if entry is None:
            raise NotTestable(f"the catalogue has no quantity {spec.measure!r}; choose one it lists")
        context = ClaimContext(cohort, effective, memo, min_n, entry.check_params(spec.param_dict))
        measured = entry.function(context)
    except NotTestable as reason:
        result = not_testable(spec, str(reason), threshold, min_n)
    except Exception as error:  # a defect in an area or here: shown, logged, and caught by the tests
        log.exception("claim %s could not be evaluated", spec.id)
        result = not_testable(spec, f"the calculation failed ({type(error).__name__}: {error})", threshold, min_n)
    else:
        judged = judge_parts if measured.parts else judge
        result = judged(spec, measured, threshold, min_n)
    return replace(result, reading=spec.reading, reads_as=spec.reads_as or spec.quantity, measure=spec.measure)


def reading_rule(results: tuple[ClaimResult, ...]) -> tuple[str, str]:
    """The claim's verdict from its readings' verdicts, and the rule in words.

    One reading: its verdict. Several: the shared verdict when every testable reading agrees
    ("supported under every reading"), else "depends on the reading", naming each."""
    if len(results) == 1:
        return results[0].verdict, results[0].verdict
    testable = [r for r in results if r.verdict != NOT_TESTABLE]
    if not testable:
        return NOT_TESTABLE, "not testable under any reading"
    verdicts = {r.verdict for r in testable}
    if len(verdicts) == 1:
        verdict = verdicts.pop()
        if len(testable) == len(results):
            return verdict, f"{verdict} under every reading"
        untestable = " or ".join(r.reads_as for r in results if r.verdict == NOT_TESTABLE)
        return verdict, f"{verdict} under every testable reading (not testable read as {untestable})"
    each = "; ".join(f"{r.verdict} read as {r.reads_as}" for r in results)
    return DEPENDS, f"depends on the reading: {each}"


def combine_readings(results: tuple[ClaimResult, ...]) -> ClaimResult:
    """The claim's result: its first reading's figures, the verdict by rule, and every reading."""
    first = results[0]
    verdict, rule = reading_rule(results)
    if len(results) == 1:
        return replace(first, verdict_rule=rule, readings=results)
    sentences = " ".join(f"Read as {r.reads_as}: {r.explanation}" for r in results)
    return replace(
        first,
        verdict=verdict,
        verdict_rule=rule,
        explanation=f"{rule[0].upper()}{rule[1:]}. {sentences}",
        readings=results,
    )


def not_testable(
    spec: ClaimSpec,
    reason: str,
    threshold: float | None,
    min_n: int,
    definition: str = "",
    label: str = "",
    literature: tuple[str, ...] | None = None,
) -> ClaimResult:
    return ClaimResult(
        id=spec.id,
        quote=spec.quote,
        verdict=NOT_TESTABLE,
        estimate=None,
        ci_low=None,
        ci_high=None,
        n=0,
        threshold=threshold,
        direction=spec.direction,
        method="",
        explanation=f"Not testable: {reason}.",
        definition=definition or spec.quantity,
        literature=literature_text(spec.literature if literature is None else literature),
        page=claim_page(spec),
        reason=reason,
        label=label or spec.label,
        min_n=min_n,
    )


def judge(
    spec: ClaimSpec,
    measured: Measured,
    threshold: float | None,
    min_n: int,
    label: str = "",
    literature: tuple[str, ...] | None = None,
    compare: str | None = None,
) -> ClaimResult:
    """The verdict and its sentence for one measured quantity."""
    literature = spec.literature if literature is None else literature
    estimate = measured.estimate
    if estimate.estimate is None:
        return not_testable(spec, nothing_counted(measured), threshold, min_n, measured.definition, label, literature)
    estimate = with_rare_event_bound(spec, estimate)
    verdict = decide(*interval_for_verdict(measured, estimate), estimate.n, threshold, spec.direction, min_n)
    if measured.bound is not None and verdict not in (SUPPORTED, CONTRADICTED, DESCRIBED):
        reason = unsettled_reason(spec, measured, estimate, threshold, min_n)
        result = not_testable(spec, reason, threshold, min_n, measured.definition, label, literature)
        return replace(result, n=estimate.n, numerator=estimate.numerator)  # the reason quotes them: suppressible
    compare_key = spec.compare if literature is spec.literature else compare
    compare = reference(compare_key) if compare_key else None
    return ClaimResult(
        id=spec.id,
        quote=spec.quote,
        verdict=verdict,
        estimate=estimate.estimate,
        ci_low=estimate.ci_low,
        ci_high=estimate.ci_high,
        n=estimate.n,
        threshold=threshold,
        direction=spec.direction,
        method=bound_method(measured.bound, estimate.method),
        explanation=explain(spec, measured, estimate, verdict, threshold, min_n),
        definition=measured.definition,
        literature=literature_text(literature),
        page=claim_page(spec),
        label=label or spec.label,
        min_n=min_n,
        numerator=estimate.numerator,
        unit=measured.unit,
        related=measured.related,
        compare_value=compare.value if compare is not None and compare.unit == "share" else None,
    )


def claim_page(spec: ClaimSpec) -> str:
    """The page with the details: the claim's own, else its quantity's (a user claim need not name one)."""
    entry = CATALOGUE.get(spec.measure)
    return spec.page or (entry.page if entry else "views/overview.py")


def wording(spec: ClaimSpec) -> str:
    """The source's word for the quantity ("most", "rare"), or how the reading reads it."""
    return spec.says or spec.reads_as


def nothing_counted(measured: Measured) -> str:
    """Why nothing could be counted, in one sentence that says what would make the claim testable."""
    method = measured.estimate.method or ""
    reason = method.removeprefix("not testable: ") if method.startswith("not testable: ") else ""
    reason = reason or f"no {measured.unit} could be counted ({measured.definition})"
    return f"{reason}; {measured.needs}" if measured.needs else reason


def interval_for_verdict(measured: Measured, estimate: Estimate) -> tuple[float | None, float | None]:
    """The CI, or with a bound the range the claim's value can still take (the CI's one side onward)."""
    if measured.bound is None:
        return estimate.ci_low, estimate.ci_high
    return measured.bound.widened(estimate)


def bound_method(bound: Bound | None, method: str) -> str:
    if bound is None:
        return method
    side = "a lower" if bound.rising else "an upper"
    return f"{method}; at {bound.last_phrase}, {side} bound for {bound.wanted}"


def unsettled_reason(
    spec: ClaimSpec, measured: Measured, estimate: Estimate, threshold: float | None, min_n: int
) -> str:
    """The follow-up ends before the claim's time point and the value at its end does not settle it."""
    bound = measured.bound
    found = f"{percent(estimate.estimate)} ({interval_text(estimate.ci_low, estimate.ci_high)})"
    if estimate.n < min_n:
        unsettled = f"and only {estimate.n:,} {measured.unit} were followed (at least {min_n:,} are needed)"
    else:
        moves = "can still rise" if bound.rising else "can still fall"
        unsettled = (
            f"and {found} by then does not settle {rule_text(spec.direction, threshold)}, since the share {moves}"
        )
    return f"the follow-up ends {bound.ends}, before {bound.wanted}, {unsettled}; {bound.needs}"


def judge_parts(spec: ClaimSpec, measured: Measured, threshold: float | None, min_n: int) -> ClaimResult:
    """A claim naming several items holds when each does; the least frequent item is shown."""
    parts = tuple(
        judge(spec, part.measured, threshold, min_n, label=part.label, literature=part.literature, compare=part.compare)
        for part in measured.parts
    )
    testable = [p for p in parts if p.verdict != NOT_TESTABLE]
    if not testable:
        return replace(not_testable(spec, parts[0].reason, threshold, min_n, measured.definition), parts=parts)
    verdicts = {p.verdict for p in testable}
    if CONTRADICTED in verdicts:
        verdict = CONTRADICTED
    elif verdicts == {SUPPORTED} and len(testable) == len(parts):
        verdict = SUPPORTED
    else:
        verdict = INCONCLUSIVE
    deciding = [p for p in testable if p.verdict == verdict] or testable
    shown = min(deciding, key=lambda p: p.estimate)
    items = ", ".join(
        f"{p.label} {percent(p.estimate)} ({interval_text(p.ci_low, p.ci_high)}, {p.verdict})" for p in parts
    )
    changed = (
        "" if threshold == spec.threshold else f", changed from the default {rule_text(spec.direction, spec.threshold)}"
    )
    explanation = (
        f"Share of {shown.n:,} courses with each named side effect: {items}; the article says {spec.says} "
        f"({rule_text(spec.direction, threshold)}{changed}): {verdict}."
    )
    return replace(
        shown,
        label=spec.label,
        verdict=verdict,
        explanation=explanation,
        parts=parts,
        method=f"least frequent shown ({shown.label}): {shown.method}",
        literature=literature_text(spec.literature),
    )


def explain(
    spec: ClaimSpec, measured: Measured, estimate: Estimate, verdict: str, threshold: float | None, min_n: int
) -> str:
    """One plain sentence: what was found, how sure, what the article says, the verdict."""
    if estimate.method == ONE_SIDED_METHOD:
        found = f"0 of {estimate.n:,} {measured.unit} {measured.what} (one-sided upper 95% bound {percent(estimate.ci_high)})"
    else:
        survival = "Kaplan-Meier" in estimate.method
        found = (
            f"{'an estimated ' if survival else ''}{percent(estimate.estimate)} of {estimate.n:,} {measured.unit} {measured.what} "
            f"(95% CI {interval_text(estimate.ci_low, estimate.ci_high)}{', Kaplan-Meier' if survival else ''})"
        )
    found = found[0].upper() + found[1:]
    if not spec.tested:
        few = f"; only {estimate.n:,} {measured.unit} were counted" if estimate.n < min_n else ""
        return f"{found}{few}; the article gives no figure ('{wording(spec) or spec.quote}'): described, not tested."
    changed = (
        "" if threshold == spec.threshold else f", changed from the default {rule_text(spec.direction, spec.threshold)}"
    )
    rule = f"{rule_text(spec.direction, threshold)}{changed}"
    says = f"the article says {wording(spec)} ({rule})" if wording(spec) else f"the claim holds at {rule}"
    if measured.bound is not None:
        bound = measured.bound
        moves = "can only rise" if bound.rising else "can only fall"
        return (
            f"{found}; {says} by {bound.wanted}: {verdict} already by {bound.last_phrase}: "
            f"{percent(estimate.estimate)} ({interval_text(estimate.ci_low, estimate.ci_high)}), and the share {moves}."
        )
    return f"{found}; {says}: {verdict_reason(verdict, estimate, measured.unit, threshold, min_n)}."


def verdict_reason(verdict: str, estimate: Estimate, unit: str, threshold: float | None, min_n: int) -> str:
    if verdict != INCONCLUSIVE:
        return verdict
    if estimate.n < min_n:
        return f"inconclusive, only {estimate.n:,} {unit} were counted (at least {min_n:,} are needed)"
    if estimate.method == ONE_SIDED_METHOD and threshold:
        return (
            f"inconclusive, {estimate.n:,} {unit} without an event cannot rule out a rate of {threshold_text(threshold)} "
            f"(about {courses_to_rule_out(threshold):,} would be needed)"
        )
    return "inconclusive, the interval includes the threshold"


# ---------------------------------------------------------------------------------------------
# Article lines: where a chart of another area may draw a claim, always naming the reading


def clear_at_end_readings(claim_set: ClaimSet, definition: str, percent: float = 80.0) -> list[ClaimSpec]:
    """Tested readings about every course's clearance at the end under this definition of clear."""
    found = []
    for spec in claim_set.reading_specs().values():
        defaults = dict(spec.defaults)
        reduction = _float(defaults.get("clearance.reduction_percent", 80))
        same = defaults.get("clearance.definition", "iga01") == definition and (
            definition != "lesion_reduction" or reduction == percent
        )
        if spec.measure == "clear_at_end" and spec.tested and same:
            found.append(spec)
    return found


def article_line(
    claim_set: ClaimSet | None, kind: str, definition: str = "iga01", percent: float = 80.0
) -> tuple[float, str] | None:
    """A reading's line on another area's chart ("share_clear" under this definition, "median_reduction",
    "lab_new_abnormal"), named by its reading; None when no reading of the claims tested uses it."""
    if claim_set is None:
        return None
    if kind == "share_clear":
        return share_clear_line(claim_set, definition, percent)
    if kind == "lab_new_abnormal":
        return new_abnormal_line(claim_set)
    return median_reduction_line(claim_set)


def article_line_text(spec: ClaimSpec, figure: str) -> str:
    return f"Article, read as {spec.reads_as} ({spec.id}): {figure}"


def share_clear_line(claim_set: ClaimSet, definition: str, percent: float = 80.0) -> tuple[float, str] | None:
    """The threshold of a reading about the share of courses clear at the end, under this definition."""
    readings = clear_at_end_readings(claim_set, definition, percent)
    if not readings:
        return None
    spec = readings[0]
    return spec.threshold, article_line_text(spec, rule_text(spec.direction, spec.threshold))


def median_reduction_line(claim_set: ClaimSet, percent: float = 80.0) -> tuple[float, str] | None:
    """'More than half end with at least X% fewer lesions' is 'the median change is X% or more down':
    drawn on the median change from baseline."""
    for spec in clear_at_end_readings(claim_set, "lesion_reduction", percent):
        if spec.threshold == 0.5 and spec.direction in (">", ">="):
            return -percent, article_line_text(spec, f"median at -{percent:g}%")
    return None


def new_abnormal_line(claim_set: ClaimSet) -> tuple[float, str] | None:
    """The threshold of readings holding new abnormal lab values below a rate (C13, C14: under 1 in 1,000)."""
    readings = [
        spec
        for spec in claim_set.reading_specs().values()
        if spec.measure == "lab_new_abnormal" and spec.direction in ("<", "<=")
    ]
    if not readings:
        return None
    threshold = readings[0].threshold
    ids = ", ".join(spec.id for spec in readings if spec.threshold == threshold)
    words = "under" if readings[0].direction == "<" else "at most"
    return threshold, f"Article, read as {words} {threshold_text(threshold)} courses ({ids})"


# ---------------------------------------------------------------------------------------------
# Sensitivity: each claim under every alternative definition


def variants(spec: ClaimSpec) -> list[dict]:
    """Every combination of the alternative values of the claim's sensitivity settings."""
    keys = list(spec.sensitivity)
    return [dict(zip(keys, values)) for values in itertools.product(*(ALTERNATIVES[k] for k in keys))]


def sensitivity(cohort: Cohort, claim_id: str | None = None, settings: dict | None = None) -> pd.DataFrame:
    """One row per reading of each claim and alternative definition: the verdict it gets.

    Columns: id (the reading's: C01, C01b), label, variant, current (the variant the scorecard uses), verdict, estimate,
    ci_low, ci_high, n, explanation, and depends_on_definition (the claim's verdict differs
    across variants).
    """
    settings = dict(settings or {})
    check_claim_settings(settings)
    check_area_settings(settings)
    claim_set = active_claim_set(settings)
    claims = list(claim_specs(claim_set).values()) if claim_id in (None, "all") else [claim_spec(claim_id, claim_set)]
    specs = [reading for claim in claims for reading in claim.all_readings]
    memo: dict = {}
    rows = []
    for spec in specs:
        current = claim_settings(spec, settings)
        for variant in variants(spec) or [{}]:
            chosen = {**settings, **{f"{SETTINGS_PREFIX}{spec.id}.{k}": v for k, v in variant.items()}}
            result = evaluate_reading(spec, cohort, chosen, memo)
            rows.append(
                {
                    "id": spec.id,
                    "label": spec.label,
                    "variant": "; ".join(variant_text(k, v, current) for k, v in variant.items())
                    or "as defined (no alternative)",
                    "current": all(_same(current.get(k, area_default(k)), v) for k, v in variant.items()),
                    "verdict": result.verdict,
                    "estimate": result.estimate,
                    "ci_low": result.ci_low,
                    "ci_high": result.ci_high,
                    "n": result.n,
                    "explanation": result.explanation,
                }
            )
    table = pd.DataFrame(rows)
    table["depends_on_definition"] = table.groupby("id")["verdict"].transform("nunique") > 1
    return table


def _same(a, b) -> bool:
    if isinstance(b, bool):
        return _truthy(a) == b
    if isinstance(b, (int, float)):
        return _float(a) == float(b)
    return str(a) == str(b)


def fragile_claims(table: pd.DataFrame) -> list[str]:
    """Claims whose verdict changes with the definition."""
    return list(table.loc[table["depends_on_definition"], "id"].drop_duplicates())


# ---------------------------------------------------------------------------------------------
# Tables, groups and the JSON summary


def scorecard_table(results: list[ClaimResult]) -> pd.DataFrame:
    """One row per claim, per further reading and per item of a claim naming several, for the CSV download."""
    rows = []
    for result in results:
        further = [(reading, f"read as {reading.reads_as}") for reading in result.readings[1:]]
        items = [(result, "")] + [(part, part.label) for part in result.parts] + further
        for row, item in items:
            rows.append(
                {
                    "id": result.id,
                    "reading": row.reading,
                    "item": item,
                    "label": result.label,
                    "quote": result.quote,
                    "verdict": row.verdict,
                    "verdict_rule": result.verdict_rule if row is result else "",
                    "estimate": row.estimate,
                    "ci_low": row.ci_low,
                    "ci_high": row.ci_high,
                    "n": row.n,
                    "threshold": row.threshold,
                    "direction": row.direction,
                    "min_n": row.min_n,
                    "method": row.method,
                    "explanation": row.explanation,
                    "definition": row.definition,
                    "literature": row.literature,
                    "reason": row.reason,
                }
            )
    return pd.DataFrame(rows)


def verdict_counts(results: list[ClaimResult]) -> dict[str, int]:
    return {verdict: sum(r.verdict == verdict for r in results) for verdict in VERDICTS}


def group_labels(cohort: Cohort, column: str) -> pd.Series:
    """The group of each course as text (`grouping.group_text`; missing values form their own group)."""
    if column not in cohort.courses.columns:
        raise ValueError(f"courses has no column {column!r} to group by")
    return group_text(cohort.courses[column])


def evaluate_by_group(cohort: Cohort, column: str, settings: dict | None = None) -> dict[str, list[ClaimResult]]:
    """The scorecard within each group of a course column (e.g. sex, site, a trial arm)."""
    labels = group_labels(cohort, column)
    groups = {}
    for group in sorted(labels.unique(), key=lambda g: (g == MISSING_LABEL, g)):
        keep = cohort.courses.loc[(labels == group).to_numpy(), "course_idx"]
        groups[group] = evaluate_claims(cohort.subset(keep), settings)
    return groups


GROUP_KEYS = ("verdict", "estimate", "ci_low", "ci_high", "n", "explanation")


def summary_section(cohort: Cohort, options: SummaryOptions) -> list[dict]:
    """The `claims` section of the JSON summary: one entry per claim (JSON_KEYS), plus `by_group`
    (the same claim within each group) when a grouping column is given."""
    settings = dict(getattr(options, "settings", {}) or {})
    results = evaluate_claims(cohort, settings)
    rows = [result.as_dict() for result in results]
    group_by = getattr(options, "group_by", None)
    if group_by and group_by in cohort.courses.columns:
        for group, group_results in evaluate_by_group(cohort, group_by, settings).items():
            for row, result in zip(rows, group_results):
                row.setdefault("by_group", []).append(
                    {"group_by": group_by, "group": group, **{key: getattr(result, key) for key in GROUP_KEYS}}
                )
    return rows
