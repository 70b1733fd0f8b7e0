"""The side-effect charts, each with its table and notes, declared once: the page and the report draw these."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.areas.base import Audience, Choice, Drawing, Section, Table
from analysis.areas.side_effects import compute as se
from analysis.cohort.grouping import grouping_options
from analysis.cohort.model import Cohort

RATES = {
    "counts": ("courses", "at_risk"),
    "derived": ("rate", "ci_low", "ci_high", "band", "ci_bands"),  # a band is a coarse share of the same count
    "shares": ("rate", "ci_low", "ci_high"),
    "denominators": {"courses": "at_risk"},
}
CONTRASTS = ("risk_difference", "rd_ci_low", "rd_ci_high", "risk_ratio", "rr_ci_low", "rr_ci_high", "fisher_p")
EVERY_TERM_COLUMNS = [
    "term",
    "body_system",
    "courses",
    "events",
    "at_risk",
    "rate",
    "ci_low",
    "ci_high",
    "band",
    "ci_bands",
    "recognised",
]


NO_EVENTS = (
    "These courses have no adverse events recorded (the adverse_events table is empty), "
    "so side effects cannot be measured."
)


@dataclass(frozen=True)
class SideEffectAnalysis:
    """The counted events and the incidence of every term: what each section draws from."""

    data: se.EventData
    incidence: pd.DataFrame

    @property
    def top_terms(self) -> list[str]:
        return self.incidence["term"].head(12).tolist()


def analyse(cohort: Cohort, settings: se.SideEffectSettings) -> SideEffectAnalysis:
    data = se.event_data(cohort, settings)
    return SideEffectAnalysis(data, se.incidence_table(data))


def figures():
    """The figure functions, loaded only when a section is drawn (the JSON summary never loads plotly)."""
    from analysis.areas.side_effects import figures as side_effect_figures

    return side_effect_figures


def named_effects(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> Drawing:
    named = se.named_effects_table(result.data)
    return Drawing(
        figure=figures().named_effects_figure(named, result.data.settings, suppress_below=audience.suppress_below),
        table=Table(
            "What the article says, and what happened",
            named.drop(columns=["method"]),
            **RATES,
            labels={
                "effect": "side effect",
                "preferred_terms": "preferred terms",
                "document_says": "article says",
                "literature": "published figure",
                "literature_rate": "published share",
                "courses": "courses with it",
                "band": "band in the data",
                "ci_bands": "bands the 95% CI covers",
            },
        ),
        notes=(
            "Mood swings or depression counts a mood side effect or a PHQ-9 score rising from below 10 at baseline "
            "to 10 or more on treatment. Liver enzymes and cholesterol are measured from blood tests on the Labs page.",
        ),
    )


def ranked(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> Drawing:
    return Drawing(
        figure=figures().incidence_figure(
            result.incidence, result.data.settings, suppress_below=audience.suppress_below
        )
    )


def onset(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> Drawing:
    terms = result.top_terms
    table = se.onset_table(result.data, terms)
    return Drawing(
        figure=figures().onset_figure(table, terms, result.data.settings, suppress_below=audience.suppress_below)
    )


def _unrecorded(result: SideEffectAnalysis, column: str, what: str, so: str) -> Drawing | None:
    """Why a chart of `column` is not drawn, when no side effect has a value in it (None when one has)."""
    if result.data.events[column].notna().any():
        return None
    return Drawing(missing=f"No {what} is recorded (column {column} of the adverse events is empty), so {so}.")


def grades(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> Drawing:
    if unrecorded := _unrecorded(result, "grade", "severity grade", "the grade chart is not shown"):
        return unrecorded
    terms = result.top_terms
    table = se.worst_grade_table(result.data, terms)
    return Drawing(
        figure=figures().grade_figure(table, terms, result.data.settings, suppress_below=audience.suppress_below)
    )


def resolution(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> Drawing:
    if unrecorded := _unrecorded(result, "resolved_day", "resolution day", "resolution cannot be shown"):
        return unrecorded
    table = se.resolution_table(result.data, result.incidence["term"].head(8).tolist())
    return Drawing(
        figure=figures().resolution_figure(table, result.data.settings, suppress_below=audience.suppress_below),
        table=Table(
            "Did they go away? (episodes)",
            se.with_display_terms(table, result.data.settings),
            counts=tuple(c for c in table.columns if c not in ("term", "median_days_onset_to_resolution")),
            derived=("median_days_onset_to_resolution",),
            labels={"term": "side effect"},
        ),
    )


def per_course(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> Drawing:
    table = se.events_per_course(result.data)
    return Drawing(
        figure=figures().events_per_course_figure(table, result.data.settings, suppress_below=audience.suppress_below)
    )


def actions(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> Drawing:
    table = se.action_table(result.data)
    recorded = table[table["recorded"]].drop(columns=["recorded", "interval"])
    if recorded.empty:
        return Drawing(
            missing="Neither end_reason of the courses nor action of the adverse events is recorded, "
            "so stopping and dose changes cannot be shown."
        )
    return Drawing(
        table=Table(
            "What was done because of a side effect", recorded, **RATES, labels={"what": "because of a side effect"}
        )
    )


def comparison_choices(cohort: Cohort, result: SideEffectAnalysis) -> tuple[Choice, ...]:
    courses = result.data.courses
    labels = grouping_options(cohort)
    groupings = {
        c: labels.get(c, c)
        for c in courses.columns
        if c not in ("course_idx", "end_day") and 1 < courses[c].nunique() <= 50
    }
    terms = [t for t in result.incidence["term"] if t not in se.NAMED_EFFECT_LABELS]
    effects = [se.ANY_EFFECT, *se.NAMED_EFFECT_LABELS, *terms]
    return (
        Choice("ae_group", "Compare by", groupings, grouping=True),
        Choice("ae_effect", "Side effect", dict(zip(effects, se.shown_terms(effects, result.data.settings)))),
    )


def effect_terms(effect: str) -> tuple:
    """The terms an effect's choice counts, and the column they are matched in."""
    if effect == se.ANY_EFFECT:
        return None, "preferred_term"
    if effect in se.NAMED_EFFECT_LABELS:
        return se.named_effect(effect).terms, "preferred_term"
    return (effect,), "term"


def by_group(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> Drawing:
    grouping, effect_choice = comparison_choices(cohort, result)
    key = audience.pick(grouping)
    if key is None:
        return Drawing(missing="No column divides these courses into groups.")
    effect = audience.pick(effect_choice)
    compared = se.comparison_table(result.data, key, *effect_terms(effect))
    label = grouping.options[key]
    return Drawing(
        figure=figures().comparison_figure(
            compared, effect, label, result.data.settings, suppress_below=audience.suppress_below
        ),
        table=Table(
            f"{effect} by {label.lower()}",
            compared.drop(columns=["interval"]),
            counts=RATES["counts"],
            derived=RATES["derived"] + CONTRASTS,
            shares=RATES["shares"] + CONTRASTS[:3],
            denominators=RATES["denominators"],
            labels={"courses": "courses with it", "fisher_p": "Fisher p", "reference": "compared with"},
        ),
        notes=(
            "Risk difference with Newcombe's interval, risk ratio with a log interval (shown when both groups have "
            "cases), two-sided Fisher's exact test, each group against the reference.",
        ),
        name=f"side effects by {key}",
    )


def every_term(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> Drawing:
    return Drawing(
        table=Table(
            "Every side effect",
            se.with_display_terms(result.incidence[EVERY_TERM_COLUMNS], result.data.settings),
            counts=("courses", "events", "at_risk"),
            derived=RATES["derived"],
            shares=RATES["shares"],
            denominators=RATES["denominators"],
            labels={
                "term": "side effect",
                "body_system": "body system",
                "courses": "courses with it",
                "events": "episodes",
                "recognised": "in the dictionary",
            },
        )
    )


def unrecognised(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> Drawing:
    unknown = se.unrecognised_terms(result.data)
    if unknown.empty:
        return Drawing(notes=("Every recorded term was recognised.",))
    return Drawing(
        table=Table("Terms the dictionary did not recognise", unknown, counts=("events", "courses")),
        notes=(
            "These are counted under the words they were written in. Add them to data/ae_terms.csv to merge them "
            "with a preferred term.",
        ),
    )


SECTIONS = (
    Section(
        "named_side_effects",
        "Side effects named in the article",
        named_effects,
        "What the article says, and what happened",
    ),
    Section("incidence", "Side effects ranked", ranked, "Every side effect, ranked"),
    Section("onset", "Side effect onset", onset, beside_next=True),
    Section("grade", "Side effect grades", grades),
    Section(
        "resolution", "Side effect resolution", resolution, "Did they go away, and what was done?", beside_next=True
    ),
    Section("side_effects_per_course", "Side effects per course", per_course),
    Section("actions", "What was done because of a side effect", actions),
    Section("side_effects_by_group", "Side effects by group", by_group, "Compare groups", comparison_choices),
    Section("every_term", "Every side effect", every_term, "All side effects"),
    Section("unrecognised_terms", "Terms the dictionary did not recognise", unrecognised),
)


def finding(cohort: Cohort, result: SideEffectAnalysis, audience: Audience) -> str:
    if not result.data.has_event_data:
        return NO_EVENTS
    anyone = se.any_event_estimate(result.data)
    stopped = se.discontinuation_estimate(result.data)
    return (
        f"{audience.share(anyone)} of {audience.count(anyone.n)} courses had at least one side effect; "
        f"{audience.share(stopped, 1)} stopped the course because of one."
    )
