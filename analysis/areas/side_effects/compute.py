"""Side effects: how often each one happened, when it began, how bad it got and whether it went away.

Counting is per course: a patient's second course is a new exposure, so each course is one unit at
risk, and a course with the same effect recorded twice counts once for that effect. Free-text
terms are mapped to preferred terms by the dictionary in `data/ae_terms.csv`; a term the
dictionary does not know stays in every table under the words it was written in.

Frequencies are placed in the CIOMS bands that drug labels use (very common >= 1/10, common
>= 1/100, uncommon >= 1/1,000, rare >= 1/10,000, very rare below), so the data can be held against
the source document's wording ("common", "rare", "very rare").
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cache

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analysis import DATA_DIR
from analysis.areas.base import SummaryOptions, display_terms
from analysis.areas.literature import reference
from analysis.cohort.filters import MISSING_LABEL
from analysis.cohort.grouping import group_text
from analysis.cohort.model import Cohort, Lineage
from analysis.cohort.visits import visit_arrays
from analysis.schema import AGE_BAND_LABELS, CUMULATIVE_DOSE_BANDS, DAILY_DOSE_BANDS
from analysis.stats.intervals import EXACT_BELOW_N, Estimate, proportion

DICTIONARY_FILE = DATA_DIR / "ae_terms.csv"
NOT_CLASSIFIED = "Not classified"
MISSING_TERM = "(term not recorded)"
SETTINGS_PREFIX = "adverse_events."
PHQ9_THRESHOLD = 10  # PHQ-9 >= 10: at least moderate depressive symptoms
ANY_EFFECT = "Any side effect"

# CIOMS III frequency bands, rarest first, with the lower edge of every band above "very rare".
CIOMS_BANDS = ("very rare", "rare", "uncommon", "common", "very common")
CIOMS_LOWER_EDGES = (1 / 10_000, 1 / 1_000, 1 / 100, 1 / 10)
CIOMS_DEFINITIONS = {
    "very common": ">= 1 in 10",
    "common": "1 in 100 to < 1 in 10",
    "uncommon": "1 in 1,000 to < 1 in 100",
    "rare": "1 in 10,000 to < 1 in 1,000",
    "very rare": "< 1 in 10,000",
}

VISION_TERMS = ("Vision disorder",)
MOOD_TERMS = ("Depression / mood change", "Suicidal ideation")
AE_ACTION_LABELS = {
    "dose_reduced": "Dose reduced because of a side effect",
    "interrupted": "Treatment paused because of a side effect",
    "discontinued": "Treatment stopped because of a side effect",
}
# Groupings whose levels have a natural order (the first is the comparison's reference).
ORDERED_LEVELS = {
    "daily_dose_band": DAILY_DOSE_BANDS,
    "cumulative_dose_band": CUMULATIVE_DOSE_BANDS,
    "age_band": AGE_BAND_LABELS,
}


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SideEffectSettings:
    """Which events count and how terms are grouped; read from `adverse_events.*` settings."""

    treatment_emergent: bool = True
    window_days_after_end: int = 30
    resolution_days: int = 90
    # "preferred_term": group by the dictionary's preferred term; "term": by the term as written.
    term_column: str = "preferred_term"
    # Optional adverse-events column holding the data's own body system (e.g. CDISC AEBODSYS).
    body_system_column: str = "body_system"

    def __post_init__(self):
        if self.term_column not in ("preferred_term", "term"):
            raise ValueError(f"adverse_events.term_column must be 'preferred_term' or 'term', not {self.term_column!r}")
        if self.window_days_after_end < 0 or self.resolution_days < 0:
            raise ValueError("adverse_events day windows must be 0 or more")

    @classmethod
    def from_settings(cls, settings: dict | None) -> SideEffectSettings:
        """Settings from `adverse_events.<field>=value` entries (CLI strings or typed values)."""
        values = {}
        for spec in fields(cls):
            raw = (settings or {}).get(SETTINGS_PREFIX + spec.name)
            if raw is not None:
                values[spec.name] = _parse_setting(raw, type(spec.default), spec.name)
        return cls(**values)

    def describe(self) -> str:
        if not self.treatment_emergent:
            return "all recorded side effects, whatever their onset"
        return (
            f"treatment-emergent side effects: onset from the first dose to {self.window_days_after_end} days "
            "after the last dose (onset day unknown counted as treatment-emergent)"
        )


def _parse_setting(raw, kind: type, name: str):
    if kind is bool and isinstance(raw, str):
        text = raw.strip().lower()
        if text not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            raise ValueError(f"adverse_events.{name} must be true or false, not {raw!r}")
        return text in ("true", "yes", "1", "on")
    try:
        return kind(raw)
    except (TypeError, ValueError) as error:
        raise ValueError(f"adverse_events.{name} must be a {kind.__name__}, not {raw!r}") from error


# --------------------------------------------------------------------------------------------
# Term normalisation
# --------------------------------------------------------------------------------------------
def term_key(terms: pd.Series) -> pd.Series:
    """Matching key: lower case, punctuation dropped, whitespace collapsed, plural 's' dropped."""
    text = terms.astype("string").str.lower().str.replace(r"[\W_]+", " ", regex=True).str.strip()
    return text.str.replace(r"(?<=\w\w[^s\W])s\b", "", regex=True)


def written_form(terms: pd.Series) -> pd.Series:
    """The term as written, with surrounding and repeated whitespace removed."""
    return terms.astype("string").str.strip().str.replace(r"\s+", " ", regex=True)


def shown_terms(values, settings: SideEffectSettings) -> list[str]:
    """Terms as charts and tables show them: preferred terms (and unrecognised ones) with one capitalisation
    (`display_term`); terms as written, when the user chose those, exactly as written."""
    return display_terms(values) if settings.term_column == "preferred_term" else [str(v) for v in values]


def with_display_terms(table: pd.DataFrame, settings: SideEffectSettings, column: str = "term") -> pd.DataFrame:
    """The table with its term column as shown (`shown_terms`); the table given is left as it is."""
    if column not in table:
        return table
    return table.assign(**{column: shown_terms(table[column], settings)})


@cache
def term_dictionary() -> pd.DataFrame:
    """Synonym -> preferred term and body system; every preferred term is its own synonym."""
    table = pd.read_csv(DICTIONARY_FILE, dtype=str, keep_default_na=False)
    own = table[["preferred_term", "body_system"]].drop_duplicates().assign(synonym=lambda t: t["preferred_term"])
    table = pd.concat([table, own], ignore_index=True)
    table["key"] = term_key(table["synonym"])
    return table


@cache
def _lookup() -> pd.DataFrame:
    return term_dictionary().drop_duplicates("key").set_index("key")[["preferred_term", "body_system"]]


def preferred_terms() -> tuple[str, ...]:
    return tuple(term_dictionary()["preferred_term"].drop_duplicates())


def normalise_terms(terms: pd.Series) -> pd.DataFrame:
    """Preferred term, body system and whether the dictionary knew it, for each written term.

    Work is done once per distinct term, then spread back to the rows as categoricals.
    Unrecognised terms keep the words they were written in (one spelling per matching key),
    with no body system.
    """
    codes, uniques = pd.factorize(terms.astype("string"), use_na_sentinel=True)
    unique_terms = pd.Series(uniques, dtype="string")
    written = written_form(unique_terms)
    keys = term_key(unique_terms)
    lookup = _lookup()
    preferred = keys.map(lookup["preferred_term"])
    body = keys.map(lookup["body_system"])
    recognised = preferred.notna()
    same_key_spelling = written.groupby(keys, sort=False).transform("first")
    preferred = preferred.fillna(same_key_spelling)
    # A last entry for missing terms: code -1 picks it.
    per_unique = {
        "term_written": [*written.astype("object"), MISSING_TERM],
        "preferred_term": [*preferred.astype("object"), MISSING_TERM],
        "body_system": [*body.astype("object"), None],
    }
    result = pd.DataFrame({name: _spread(values, codes) for name, values in per_unique.items()}, index=terms.index)
    result["recognised"] = np.append(recognised.to_numpy(dtype=bool), False)[codes]
    return result


def _spread(per_unique: list, codes: np.ndarray) -> pd.Categorical:
    """Values given once per distinct term, repeated for every row (as codes, not strings)."""
    categorical = pd.Categorical(per_unique)
    return pd.Categorical.from_codes(categorical.codes[codes], dtype=categorical.dtype)


def _written_categories(values: pd.Series) -> pd.Categorical:
    """A free-text column with whitespace tidied, computed once per distinct value."""
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    tidy = written_form(pd.Series(uniques, dtype="string")).replace("", pd.NA).astype("object")
    return _spread([*tidy.where(tidy.notna(), None), None], codes)


# --------------------------------------------------------------------------------------------
# The events that count
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventData:
    """Courses at risk and the events counted against them, under one set of settings."""

    courses: pd.DataFrame  # every course of the (filtered) cohort: each has a first dose, day 0
    events: pd.DataFrame  # one row per counted event, with its normalised term
    settings: SideEffectSettings
    recorded_events: int  # rows of the adverse-events table for these courses
    outside_window: int  # events left out because their onset was outside the window
    unknown_onset: int  # counted events whose onset day is unknown
    phq9_rise: pd.Index  # courses whose PHQ-9 rose from < 10 at baseline to >= 10 on treatment
    phq9_assessable: int  # courses with a baseline PHQ-9 < 10 and a score on treatment
    # Per course, what a subset's counts are cut from (`_restricted_event_data`):
    outside_courses: np.ndarray = field(default_factory=lambda: np.zeros(0, "int64"), compare=False, repr=False)
    phq9_paired: pd.Index = field(default_factory=lambda: pd.Index([]), compare=False, repr=False)

    @property
    def at_risk(self) -> int:
        return len(self.courses)

    @property
    def has_event_data(self) -> bool:
        return self.recorded_events > 0


def event_data(cohort: Cohort, settings: SideEffectSettings | None = None) -> EventData:
    """Normalise the cohort's adverse events and keep the ones the settings count."""
    settings = settings or SideEffectSettings()
    return cohort.derived(
        ("side_effects.event_data", settings), lambda: _event_data(cohort, settings), _restricted_event_data
    )


def _restricted_event_data(whole: EventData, lineage: Lineage, cohort: Cohort) -> EventData:
    """A subset's event data cut from the whole cohort's: whether an event counts depends only on
    the event and its course, so this equals normalising the subset's events again."""
    courses, events = lineage.rows_of(whole.courses), lineage.rows_of(whole.events)
    outside = whole.outside_courses[lineage.keeps(whole.outside_courses)]
    paired = whole.phq9_paired[lineage.keeps(whole.phq9_paired)]
    return EventData(
        courses=courses,
        events=events,
        settings=whole.settings,
        recorded_events=len(events) + outside.size,
        outside_window=outside.size,
        unknown_onset=int(events["onset_day"].isna().sum()),
        phq9_rise=whole.phq9_rise[lineage.keeps(whole.phq9_rise)],
        phq9_assessable=len(paired),
        outside_courses=outside,
        phq9_paired=paired,
    )


def _event_data(cohort: Cohort, settings: SideEffectSettings) -> EventData:
    courses = cohort.courses[["course_idx", "end_day", *_group_columns(cohort)]].copy()
    courses["end_day"] = courses["end_day"].astype("float")
    ae = cohort.adverse_events
    ae = ae[ae["course_idx"].notna() & ae["course_idx"].isin(courses["course_idx"])]
    events = _normalised_events(ae, courses, settings)
    emergent = _treatment_emergent(events, settings)
    counted = events[emergent].reset_index(drop=True)
    rise, paired = _phq9_rise(cohort, courses, settings)
    return EventData(
        courses=courses.reset_index(drop=True),
        events=counted,
        settings=settings,
        recorded_events=len(events),
        outside_window=int((~emergent).sum()),
        unknown_onset=int(counted["onset_day"].isna().sum()),
        phq9_rise=rise,
        phq9_assessable=len(paired),
        outside_courses=events.loc[~emergent.to_numpy(), "course_idx"].to_numpy(dtype="int64"),
        phq9_paired=paired,
    )


def _group_columns(cohort: Cohort) -> list[str]:
    wanted = [
        "sex",
        "age_band",
        "baseline_iga",
        "daily_dose_band",
        "cumulative_dose_band",
        "site",
        "course_number",
        "end_reason",
        *cohort.custom_columns,
    ]
    return list(dict.fromkeys(c for c in wanted if c in cohort.courses))


def _column(table: pd.DataFrame, name: str, dtype: str = "object") -> pd.Series:
    if name in table:
        return table[name]
    return pd.Series(pd.NA, index=table.index, dtype=dtype)


def _normalised_events(ae: pd.DataFrame, courses: pd.DataFrame, settings: SideEffectSettings) -> pd.DataFrame:
    names = normalise_terms(ae["term"])
    course_idx = ae["course_idx"].astype("int64")
    dictionary_body = np.asarray(names["body_system"], dtype=object)
    data_body = np.asarray(_written_categories(_column(ae, settings.body_system_column)), dtype=object)
    if settings.term_column == "term":
        body = np.where(pd.isna(data_body), dictionary_body, data_body)
    else:
        body = np.where(names["recognised"].to_numpy(), dictionary_body, data_body)
    body = pd.Categorical(np.where(pd.isna(body), NOT_CLASSIFIED, body))
    events = pd.DataFrame(
        {
            "course_idx": course_idx,
            "term": names["term_written" if settings.term_column == "term" else "preferred_term"],
            "preferred_term": names["preferred_term"],
            "term_written": names["term_written"],
            "recognised": names["recognised"],
            "body_system": body,
            "onset_day": ae["onset_day"].astype("float"),
            "onset_month": _column(ae, "onset_month", "Int64").astype("float"),
            "resolved_day": _column(ae, "resolved_day", "Int64").astype("float"),
            "grade": _column(ae, "grade", "Int64").astype("float"),
            "serious": _column(ae, "serious"),
            "action": _column(ae, "action"),
        }
    )
    events["end_day"] = course_idx.map(courses.set_index("course_idx")["end_day"]).to_numpy()
    return events


def _treatment_emergent(events: pd.DataFrame, settings: SideEffectSettings) -> pd.Series:
    """Onset on or after day 0 and no later than the last dose plus the window.

    Ongoing courses (no last dose yet) have no upper limit; an unknown onset counts, the
    conservative choice for safety reporting.
    """
    if not settings.treatment_emergent:
        return pd.Series(True, index=events.index)
    onset = events["onset_day"]
    after_window = onset > events["end_day"] + settings.window_days_after_end
    return onset.isna() | ((onset >= 0) & ~after_window)


def _phq9_rise(cohort: Cohort, courses: pd.DataFrame, settings: SideEffectSettings) -> tuple[pd.Index, pd.Index]:
    """Courses whose PHQ-9 went from < 10 at baseline to >= 10 on treatment, and those that could.

    The baseline is the latest score on or before day 0; on treatment, the highest score from
    day 1 to the end of the window. Visits without a day belong to neither.
    """
    if cohort.column("visits", "phq9") is None:
        return pd.Index([]), pd.Index([])
    visits = visit_arrays(cohort)  # in (course, day) order, shared with the clearance area
    score, course, day = visits.values("phq9"), visits.course, visits.day
    scored = ~np.isnan(score)
    before = scored & (day <= 0)
    end = np.full(visits.size, np.nan)
    end[courses["course_idx"].to_numpy(dtype="int64")] = courses["end_day"].to_numpy(dtype="float")
    limit = end[course] + settings.window_days_after_end if settings.treatment_emergent else np.inf
    during = scored & (day > 0) & ~(day > limit)
    baseline = _per_course(course[before], score[before], visits.size, _last_of_each)
    worst = _per_course(course[during], score[during], visits.size, np.maximum.reduceat)
    paired = np.flatnonzero(~np.isnan(worst) & (baseline < PHQ9_THRESHOLD))
    return pd.Index(paired[worst[paired] >= PHQ9_THRESHOLD]), pd.Index(paired)


def _last_of_each(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The last value of each run (runs begin at `starts`)."""
    return values[np.append(starts[1:], values.size) - 1]


def _per_course(course: np.ndarray, values: np.ndarray, size: int, reduce) -> np.ndarray:
    """`reduce(values, starts)` per run of one course (rows in course order), as an array indexed by course_idx."""
    result = np.full(size, np.nan)
    if course.size:
        starts = np.flatnonzero(np.append(True, course[1:] != course[:-1]))
        result[course[starts]] = reduce(values, starts)
    return result


# --------------------------------------------------------------------------------------------
# Proportions and CIOMS bands
# --------------------------------------------------------------------------------------------
def proportion_intervals(successes, totals, alpha: float = 0.05) -> pd.DataFrame:
    """`stats.proportion` for whole columns at once: rate, 95% CI and the interval's name."""
    k = np.asarray(successes, dtype="float")
    n = np.asarray(totals, dtype="float")
    valid = n > 0
    safe_n = np.where(valid, n, 1.0)
    k = np.minimum(k, safe_n)
    exact = (safe_n < EXACT_BELOW_N) | (k == 0) | (k == safe_n)
    wilson = proportion_confint(k, safe_n, alpha=alpha, method="wilson")
    beta = proportion_confint(k, safe_n, alpha=alpha, method="beta")
    low = np.where(exact, beta[0], wilson[0])
    high = np.where(exact, beta[1], wilson[1])
    return pd.DataFrame(
        {
            "rate": np.where(valid, k / safe_n, np.nan),
            "ci_low": np.where(valid, low, np.nan),
            "ci_high": np.where(valid, high, np.nan),
            "method": np.where(exact, "Clopper-Pearson exact interval", "Wilson interval"),
        }
    )


def cioms_bands(rates) -> np.ndarray:
    """CIOMS band of each rate; an exact edge belongs to the more frequent band (1/10 is 'very common')."""
    values = np.asarray(rates, dtype="float")
    index = np.searchsorted(np.asarray(CIOMS_LOWER_EDGES), np.nan_to_num(values, nan=0.0), side="right")
    labels = np.asarray(CIOMS_BANDS, dtype=object)[index]
    return np.where(np.isnan(values), None, labels)


def cioms_band(rate: float | None) -> str | None:
    if rate is None:
        return None
    return cioms_bands([rate])[0]


def band_span(low_band: str | None, high_band: str | None) -> str | None:
    """The bands a confidence interval covers, e.g. 'common to very common'."""
    if low_band is None or high_band is None:
        return None
    return low_band if low_band == high_band else f"{low_band} to {high_band}"


def with_rates(table: pd.DataFrame, numerator: str = "courses", denominator: str = "at_risk") -> pd.DataFrame:
    """Adds rate, CI, the CIOMS band of the estimate and the bands its CI spans."""
    intervals = proportion_intervals(table[numerator], table[denominator])
    table = table.reset_index(drop=True)
    table[["rate", "ci_low", "ci_high", "interval"]] = intervals
    table["band"] = cioms_bands(table["rate"])
    low, high = cioms_bands(table["ci_low"]), cioms_bands(table["ci_high"])
    table["ci_bands"] = [band_span(a, b) for a, b in zip(low, high)]
    return table


# --------------------------------------------------------------------------------------------
# Incidence
# --------------------------------------------------------------------------------------------
def group_labels(courses: pd.DataFrame, group_by: str) -> pd.Series:
    """Group of each course (indexed by course_idx) as text (`grouping.group_text`)."""
    return pd.Series(group_text(courses[group_by]).to_numpy(), index=courses["course_idx"].to_numpy(), name="group")


def ordered_groups(labels: pd.Series, group_by: str) -> list[str]:
    """Levels in their natural order (dose bands low to high), '(missing)' last."""
    present = set(labels.unique())
    known = [level for level in ORDERED_LEVELS.get(group_by, ()) if level in present]
    rest = sorted(present - set(known) - {MISSING_LABEL})
    return known + rest + ([MISSING_LABEL] if MISSING_LABEL in present else [])


def incidence_table(data: EventData, level: str = "term", group_by: str | None = None) -> pd.DataFrame:
    """Courses with each term (or body system) over courses at risk, per group when asked.

    Columns: [group,] body_system, [term,] courses, events, at_risk, rate, ci_low, ci_high,
    interval, band, ci_bands, [recognised]. Sorted by courses with the event, most first.
    """
    keys = ["body_system", "term"] if level == "term" else ["body_system"]
    events, at_risk = _events_with_groups(data, group_by)
    by = (["group"] if group_by else []) + keys
    courses_with = events[_first_per_course(events, by)].groupby(by, sort=False, observed=True).size()
    table = pd.DataFrame(
        {"courses": courses_with, "events": events.groupby(by, sort=False, observed=True).size()}
    ).reset_index()
    table[by] = table[by].astype("object")
    if group_by:
        table = _complete_grid(table, keys, at_risk)
        table["at_risk"] = table["group"].map(at_risk).astype("int64")
    else:
        table["at_risk"] = data.at_risk
    if level == "term":
        known = events.groupby(keys, observed=True)["recognised"].any().rename("recognised").reset_index()
        known[keys] = known[keys].astype("object")
        table = table.merge(known, on=keys, how="left")
    table = table.sort_values(
        ["courses", "events", *keys], ascending=[False, False] + [True] * len(keys), kind="stable"
    )
    if group_by:
        order = {g: i for i, g in enumerate(at_risk.index)}
        table = table.sort_values("group", key=lambda s: s.map(order), kind="stable")
    return with_rates(table)


def _first_per_course(events: pd.DataFrame, by: list[str]) -> np.ndarray:
    """True for the first row of each course within each combination of `by` (term, group, ...)."""
    combination = events.groupby(by, observed=True, sort=False).ngroup().to_numpy(dtype="int64")
    courses = events["course_idx"].to_numpy(dtype="int64")
    pair = combination * (int(courses.max(initial=0)) + 1) + courses
    return ~pd.Series(pair).duplicated().to_numpy()


def _in_terms(values: pd.Series, terms) -> np.ndarray:
    """Membership test done once per category instead of once per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        wanted = np.append(values.cat.categories.isin(list(terms)), False)
        return wanted[values.cat.codes.to_numpy()]
    return values.isin(list(terms)).to_numpy()


def _events_with_groups(data: EventData, group_by: str | None) -> tuple[pd.DataFrame, pd.Series]:
    if not group_by:
        return data.events, pd.Series({ANY_EFFECT: data.at_risk})
    labels = group_labels(data.courses, group_by)
    order = ordered_groups(labels, group_by)
    at_risk = labels.value_counts().reindex(order)
    codes = pd.Series(pd.Categorical(labels, categories=order).codes, index=labels.index)
    group = pd.Categorical.from_codes(data.events["course_idx"].map(codes).to_numpy(), categories=order)
    return data.events.assign(group=group), at_risk


def _complete_grid(table: pd.DataFrame, keys: list[str], at_risk: pd.Series) -> pd.DataFrame:
    """Every term in every group, with zero where a group had none of it."""
    pairs = table[keys].drop_duplicates()
    grid = pairs.merge(pd.DataFrame({"group": at_risk.index}), how="cross")
    table = grid.merge(table, on=["group", *keys], how="left")
    table[["courses", "events"]] = table[["courses", "events"]].fillna(0).astype("int64")
    return table[["group", *keys, "courses", "events"]]


def any_event_table(data: EventData, group_by: str | None = None) -> pd.DataFrame:
    """Courses with at least one counted side effect, overall or per group."""
    events, at_risk = _events_with_groups(data, group_by)
    key = events["group"] if group_by else pd.Series(ANY_EFFECT, index=events.index)
    table = pd.DataFrame(
        {
            "group": at_risk.index,
            "courses": events.groupby(key, observed=True)["course_idx"]
            .nunique()
            .reindex(at_risk.index, fill_value=0)
            .to_numpy(),
            "events": key.value_counts().reindex(at_risk.index, fill_value=0).to_numpy(),
            "at_risk": at_risk.to_numpy(),
        }
    )
    return with_rates(table)


def courses_with(data: EventData, terms: tuple[str, ...] | None = None, column: str = "preferred_term") -> pd.Index:
    """Courses with any counted event among the terms (all events when terms is None)."""
    events = data.events
    if terms is not None:
        events = events[_in_terms(events[column], terms)]
    return pd.Index(events["course_idx"].unique())


def _estimate(successes: int, data: EventData, note: str) -> Estimate:
    result = proportion(successes, data.at_risk)
    return replace(result, method=f"{result.method}; {note}")


def _not_testable(reason: str) -> Estimate:
    return Estimate(None, None, None, 0, f"not testable: {reason}", None)


def terms_estimate(data: EventData, terms: tuple[str, ...], column: str = "preferred_term") -> Estimate:
    if not data.has_event_data:
        return _not_testable("no adverse events are recorded in this dataset")
    hits = len(courses_with(data, terms, column))
    return _estimate(
        hits, data, f"courses with {' or '.join(terms)} over {data.at_risk:,} courses; {data.settings.describe()}"
    )


def any_event_estimate(data: EventData) -> Estimate:
    if not data.has_event_data:
        return _not_testable("no adverse events are recorded in this dataset")
    return _estimate(len(courses_with(data)), data, f"courses with any side effect; {data.settings.describe()}")


def incidence(cohort: Cohort, terms: str | tuple[str, ...], settings: SideEffectSettings | None = None) -> Estimate:
    """Share of courses with any of the terms (matched on the settings' term column)."""
    settings = settings or SideEffectSettings()
    wanted = (terms,) if isinstance(terms, str) else tuple(terms)
    return terms_estimate(event_data(cohort, settings), wanted, settings.term_column)


def vision_incidence(cohort: Cohort, settings: SideEffectSettings | None = None) -> Estimate:
    """Claim C11: share of courses with a vision disorder (blurred vision, night blindness, ...)."""
    return terms_estimate(event_data(cohort, settings), VISION_TERMS)


def mood_incidence(cohort: Cohort, settings: SideEffectSettings | None = None) -> Estimate:
    """Claim C12: depression or mood change as a side effect, or PHQ-9 >= 10 on treatment from < 10.

    Either source counts; the method names which data was there.
    """
    return mood_estimate(event_data(cohort, settings))


def mood_estimate(data: EventData) -> Estimate:
    sources = (["adverse events"] if data.has_event_data else []) + (["PHQ-9 scores"] if data.phq9_assessable else [])
    if not sources:
        return _not_testable("no adverse events and no PHQ-9 scores (baseline below 10 and on treatment) are recorded")
    hits = courses_with(data, MOOD_TERMS).union(data.phq9_rise)
    missing = (
        "" if len(sources) == 2 else f" ({'PHQ-9 scores' if data.has_event_data else 'adverse events'} not recorded)"
    )
    note = (
        f"depression or mood change counted from {' and '.join(sources)}{missing}; PHQ-9 rise = baseline < 10 and "
        f">= 10 on treatment, {data.phq9_assessable:,} courses with both scores"
    )
    return _estimate(len(hits), data, note)


# --------------------------------------------------------------------------------------------
# The source document's named effects
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NamedEffect:
    label: str  # the document's words
    terms: tuple[str, ...]  # preferred terms that count
    document_band: str  # the document's frequency word, as a CIOMS band
    literature: tuple[str, ...]  # keys of data/literature.toml
    claim: str


NAMED_EFFECTS = (
    NamedEffect("Dry lips and skin", ("Cheilitis", "Xerosis"), "common", ("cheilitis", "xerosis"), "C09"),
    NamedEffect("Chapped lips", ("Cheilitis",), "common", ("cheilitis",), "C09"),
    NamedEffect("Nose dryness or mild nosebleeds", ("Epistaxis", "Nasal dryness"), "common", ("epistaxis",), "C09"),
    NamedEffect("Mild muscle or joint pain", ("Arthralgia", "Myalgia"), "common", ("myalgia",), "C09"),
    NamedEffect("Temporary hair thinning", ("Alopecia",), "common", ("alopecia",), "C09"),
    NamedEffect("Vision changes", VISION_TERMS, "rare", ("vision_disorder",), "C11"),
    NamedEffect("Mood swings or depression", MOOD_TERMS, "very rare", ("depression",), "C12"),
)
NAMED_EFFECT_LABELS = tuple(effect.label for effect in NAMED_EFFECTS)


def named_effect(label: str) -> NamedEffect:
    return next(effect for effect in NAMED_EFFECTS if effect.label == label)


def named_effect_estimate(data: EventData, effect: NamedEffect) -> Estimate:
    if effect.terms == MOOD_TERMS:
        return mood_estimate(data)
    return terms_estimate(data, effect.terms)


def named_incidence(cohort: Cohort, label: str, settings: SideEffectSettings | None = None) -> Estimate:
    """Claim C09 per named effect, e.g. 'Dry lips and skin' = Cheilitis or Xerosis."""
    return named_effect_estimate(event_data(cohort, settings), named_effect(label))


def compare_with_document(document_band: str, ci_low_band: str | None, ci_high_band: str | None) -> str:
    """Where the data's interval sits against the document's frequency word."""
    if ci_low_band is None or ci_high_band is None:
        return "Not measurable in these data"
    rank = CIOMS_BANDS.index
    word = rank(document_band)
    if rank(ci_low_band) > word:
        return "More frequent than the document says"
    if rank(ci_high_band) < word:
        return "Less frequent than the document says"
    if rank(ci_low_band) == rank(ci_high_band) == word:
        return "Agrees with the document"
    return "Not sure: the interval spans more than one band"


def literature_text(keys: tuple[str, ...]) -> str:
    return "; ".join(reference(key).describe() for key in keys)


def literature_share(keys: tuple[str, ...]) -> float | None:
    """The first literature figure given as a share (band-only references have none)."""
    shares = [reference(key).value for key in keys if reference(key).unit == "share"]
    return shares[0] if shares else None


def named_effects_table(data: EventData) -> pd.DataFrame:
    """One row per effect the document names: the data's rate and band against its word."""
    rows = []
    for effect in NAMED_EFFECTS:
        estimate = named_effect_estimate(data, effect)
        low, high = cioms_band(estimate.ci_low), cioms_band(estimate.ci_high)
        rows.append(
            {
                "effect": effect.label,
                "claim": effect.claim,
                "preferred_terms": " or ".join(effect.terms),
                "courses": estimate.numerator,
                "at_risk": estimate.n,
                "rate": estimate.estimate,
                "ci_low": estimate.ci_low,
                "ci_high": estimate.ci_high,
                "band": cioms_band(estimate.estimate),
                "ci_bands": band_span(low, high),
                "document_says": effect.document_band,
                "comparison": compare_with_document(effect.document_band, low, high),
                "literature_rate": literature_share(effect.literature),
                "literature": literature_text(effect.literature),
                "method": estimate.method,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Timing, severity, resolution, actions taken
# --------------------------------------------------------------------------------------------
def onset_table(data: EventData, terms: list[str]) -> pd.DataFrame:
    """Courses whose first episode of each term began in each month of the course."""
    events = data.events[_in_terms(data.events["term"], terms) & data.events["onset_month"].notna().to_numpy()]
    events = events.sort_values("onset_day", kind="stable")
    first = events[_first_per_course(events, ["term"])]
    counts = first.groupby(["term", "onset_month"], observed=True).size().rename("courses").reset_index()
    counts["term"] = counts["term"].astype("object")
    counts["onset_month"] = counts["onset_month"].astype("int64")
    counts["at_risk"] = data.at_risk
    return counts


def worst_grade_table(data: EventData, terms: list[str]) -> pd.DataFrame:
    """Courses by the worst CTCAE grade recorded for each term ('not graded' when none was)."""
    events = data.events[_in_terms(data.events["term"], terms)]
    events = events.sort_values("grade", ascending=False, na_position="last", kind="stable")
    worst = events[_first_per_course(events, ["term"])]
    table = worst.groupby(["term", "grade"], observed=True, dropna=False).size().rename("courses").reset_index()
    grade = table["grade"].astype("Int64").astype("string")
    table["worst_grade"] = ("Grade " + grade).fillna("Not graded")
    table["term"] = table["term"].astype("object")
    return table[["term", "worst_grade", "courses"]]


def resolution_labels(days: int) -> tuple[str, ...]:
    return (
        "Resolved during the course",
        f"Resolved within {days} days after the last dose",
        f"Resolved more than {days} days after the last dose",
        "Not resolved, or resolution not recorded",
        "Last dose unknown",
    )


def resolution_category(events: pd.DataFrame, days: int) -> pd.Series:
    """Where each event's resolution falls relative to the course's last dose."""
    labels = resolution_labels(days)
    end, resolved = events["end_day"], events["resolved_day"]
    code = np.select(
        [end.isna(), resolved.isna(), resolved <= end, resolved <= end + days],
        [4, 3, 0, 1],
        default=2,
    )
    return pd.Series(pd.Categorical.from_codes(code, categories=labels), index=events.index)


def resolution_table(data: EventData, terms: list[str] | None = None) -> pd.DataFrame:
    """Events per resolution category, per term and for all side effects together."""
    days = data.settings.resolution_days
    labels = resolution_labels(days)
    events = data.events.assign(
        resolution=resolution_category(data.events, days),
        days_to_resolve=data.events["resolved_day"] - data.events["onset_day"],
    )
    chosen = events[_in_terms(events["term"], terms)] if terms else events.iloc[0:0]
    both = pd.concat([events.assign(term=ANY_EFFECT), chosen.astype({"term": "object"})], ignore_index=True)
    order = [ANY_EFFECT, *[t for t in (terms or []) if t in set(chosen["term"])]]
    counts = both.groupby(["term", "resolution"], observed=False).size().unstack("resolution")
    counts = counts.reindex(index=order, columns=list(labels)).fillna(0).astype("int64")
    counts["events"] = counts.sum(axis=1)
    counts["median_days_onset_to_resolution"] = both.groupby("term")["days_to_resolve"].median().reindex(order)
    counts.columns.name = None
    return counts.rename_axis("term").reset_index()


def resolved_share(data: EventData, days: int | None = None) -> Estimate:
    """Share of counted events resolved by the last dose plus `days` (events without a resolution day
    count as not resolved; events of courses with no known last dose are left out and named)."""
    days = data.settings.resolution_days if days is None else days
    if not data.has_event_data:
        return _not_testable("no adverse events are recorded in this dataset")
    category = resolution_category(data.events, days)
    labels = resolution_labels(days)
    assessable = category != labels[4]
    hits = int(category.isin(labels[:2]).sum())
    result = proportion(hits, int(assessable.sum()))
    unresolved = int((category == labels[3]).sum())
    note = (
        f"events resolved by {days} days after the last dose over counted events; {unresolved:,} without a resolution "
        f"day counted as not resolved; {int((~assessable).sum()):,} events of courses with no known last dose left out"
    )
    return replace(result, method=f"{result.method}; {note}")


def resolved_within(cohort: Cohort, days: int = 90, settings: SideEffectSettings | None = None) -> Estimate:
    """Claim C10: share of side effects that resolved within `days` of the course's last dose."""
    return resolved_share(event_data(cohort, settings), days)


def events_per_course(data: EventData, cap: int = 5) -> pd.DataFrame:
    """Courses by number of counted side effects (0, 1, ..., cap or more)."""
    per_course = data.events.groupby("course_idx").size().reindex(data.courses["course_idx"], fill_value=0)
    labels = pd.Series(np.where(per_course >= cap, f"{cap}+", per_course.astype("string")))
    order = [str(n) for n in range(cap)] + [f"{cap}+"]
    counts = labels.value_counts().reindex(order, fill_value=0)
    return pd.DataFrame({"side_effects": order, "courses": counts.to_numpy()})


def action_table(data: EventData) -> pd.DataFrame:
    """Courses ended, stopped, paused or dose-reduced because of a side effect, with CIs."""
    events = data.events
    rows = []
    if "end_reason" in data.courses:
        ended = int((data.courses["end_reason"] == "adverse_event").sum())
        rows.append(("Course ended because of a side effect", ended, data.courses["end_reason"].notna().any()))
    for action, label in AE_ACTION_LABELS.items():
        hits = events.loc[events["action"] == action, "course_idx"].nunique()
        rows.append((label, hits, events["action"].notna().any()))
    table = pd.DataFrame(rows, columns=["what", "courses", "recorded"])
    table["at_risk"] = data.at_risk
    return with_rates(table)


def discontinuation_estimate(data: EventData) -> Estimate:
    courses = data.courses
    reason = courses["end_reason"] if "end_reason" in courses else pd.Series(dtype="object")
    if not reason.notna().any() and not data.events["action"].notna().any():
        return _not_testable("neither the course's end reason nor the action taken for side effects is recorded")
    ended = set(courses.loc[reason.reindex(courses.index) == "adverse_event", "course_idx"])
    stopped = set(data.events.loc[data.events["action"] == "discontinued", "course_idx"])
    note = "courses ended because of a side effect (end reason) or with the drug stopped for one (action)"
    return _estimate(len(ended | stopped), data, note)


def discontinuation_share(cohort: Cohort, settings: SideEffectSettings | None = None) -> Estimate:
    """Share of courses ended or with the drug stopped because of a side effect."""
    return discontinuation_estimate(event_data(cohort, settings))


def unrecognised_terms(data: EventData) -> pd.DataFrame:
    """Terms the dictionary did not know, as written, with how often they occur."""
    events = data.events[~data.events["recognised"]]
    grouped = events.groupby("term_written", observed=True)
    table = pd.DataFrame({"events": grouped.size(), "courses": grouped["course_idx"].nunique()}).reset_index()
    return table.rename(columns={"term_written": "term as written"}).sort_values(
        ["events", "term as written"], ascending=[False, True]
    )


# --------------------------------------------------------------------------------------------
# Subgroups
# --------------------------------------------------------------------------------------------
def comparison_table(
    data: EventData,
    group_by: str,
    terms: tuple[str, ...] | None = None,
    column: str = "preferred_term",
    reference_group: str | None = None,
) -> pd.DataFrame:
    """Rate per group against a reference group: risk difference (Newcombe), risk ratio, Fisher's exact test.

    `terms` None compares any side effect. The reference is the first group in natural order
    (the lowest dose band) unless named.
    """
    labels = group_labels(data.courses, group_by)
    order = ordered_groups(labels, group_by)
    hit = pd.Series(labels.index.isin(courses_with(data, terms, column)), index=labels.index)
    counts = hit.groupby(labels).agg(["sum", "size"]).reindex(order)
    table = pd.DataFrame({"group": order, "courses": counts["sum"].to_numpy(), "at_risk": counts["size"].to_numpy()})
    table = with_rates(table)
    reference_group = reference_group or next((g for g in order if g != MISSING_LABEL), order[0])
    base = table.set_index("group").loc[reference_group]
    contrasts = [
        _contrast(row.courses, row.at_risk, int(base["courses"]), int(base["at_risk"]))
        if row.group != reference_group
        else {}
        for row in table.itertuples()
    ]
    table = pd.concat([table, pd.DataFrame(contrasts, index=table.index)], axis=1)
    table["reference"] = reference_group
    return table


def _contrast(k1: int, n1: int, k0: int, n0: int) -> dict:
    """One group against the reference: difference and ratio of rates, Fisher's exact p."""
    if n1 == 0 or n0 == 0:
        return {}
    diff_low, diff_high = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff")
    result = {"risk_difference": k1 / n1 - k0 / n0, "rd_ci_low": float(diff_low), "rd_ci_high": float(diff_high)}
    if k1 > 0 and k0 > 0:
        ratio_low, ratio_high = confint_proportions_2indep(k1, n1, k0, n0, method="log", compare="ratio")
        result.update(risk_ratio=(k1 / n1) / (k0 / n0), rr_ci_low=float(ratio_low), rr_ci_high=float(ratio_high))
    result["fisher_p"] = float(fisher_exact([[k1, n1 - k1], [k0, n0 - k0]]).pvalue)
    return result


# --------------------------------------------------------------------------------------------
# JSON summary
# --------------------------------------------------------------------------------------------
TERM_FIELDS = {
    "term": "term",
    "body_system": "body_system",
    "courses": "patients",
    "events": "events",
    "rate": "rate",
    "ci_low": "ci_low",
    "ci_high": "ci_high",
    "band": "band",
    "ci_bands": "ci_bands",
    "recognised": "recognised",
}


def json_records(table: pd.DataFrame, renames: dict | None = None) -> list[dict]:
    """Rows as plain JSON values (NaN and NA become null)."""
    if renames:
        table = table[[c for c in renames if c in table]].rename(columns=renames)
    plain = table.astype("object").where(table.notna(), None)
    return [{k: _plain(v) for k, v in row.items()} for row in plain.to_dict("records")]


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def summary_section(cohort: Cohort, options: SummaryOptions) -> dict:
    """`adverse_events` of the JSON summary; counts are per course ("patients" = courses with the event)."""
    settings = SideEffectSettings.from_settings(options.settings)
    data = event_data(cohort, settings)
    section = {
        "counted_per": "course",
        "definition": settings.describe(),
        "term_column": settings.term_column,
        "at_risk": data.at_risk,
        "events_recorded": data.recorded_events,
        "events_counted": len(data.events),
        "events_outside_window": data.outside_window,
        "any_event": json_records(any_event_table(data), {**TERM_FIELDS, "group": "group"})[0],
        "terms": json_records(incidence_table(data), TERM_FIELDS),
        "body_systems": json_records(incidence_table(data, level="body_system"), TERM_FIELDS),
        "named_effects": json_records(named_effects_table(data).drop(columns=["method"])),
        "resolved_within_days": {"days": settings.resolution_days, **resolved_share(data).as_dict()},
        "discontinued_for_side_effects": discontinuation_estimate(data).as_dict(),
        "actions": json_records(action_table(data)[["what", "courses", "at_risk", "rate", "ci_low", "ci_high"]]),
        "vision": terms_estimate(data, VISION_TERMS).as_dict(),
        "mood": mood_estimate(data).as_dict(),
        "unrecognised_terms": json_records(unrecognised_terms(data)),
    }
    group_by = options.group_by
    if group_by and group_by in data.courses:
        section["group_by"] = group_by
        section["groups"] = _grouped_section(data, group_by)
    return section


def _grouped_section(data: EventData, group_by: str) -> list[dict]:
    terms = incidence_table(data, group_by=group_by)
    anyone = any_event_table(data, group_by=group_by).set_index("group")
    groups = []
    for group, rows in terms.groupby("group", sort=False):
        groups.append(
            {
                "group": group,
                "at_risk": int(anyone.loc[group, "at_risk"]),
                "any_event": json_records(anyone.loc[[group]].reset_index(), TERM_FIELDS)[0],
                "terms": json_records(rows, TERM_FIELDS),
            }
        )
    missing = [g for g in anyone.index if g not in set(terms["group"])]
    groups += [{"group": g, "at_risk": int(anyone.loc[g, "at_risk"]), "terms": []} for g in missing]
    return groups
