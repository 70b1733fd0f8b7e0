"""The relapse and further-course charts, each with its tables and notes, declared once: the page and the
report draw these. Relapse after the course comes first, further courses second (`FURTHER_COURSE`)."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.areas.base import Audience, Choice, Drawing, Section, Table
from analysis.areas.literature import reference
from analysis.areas.relapse import compute as relapse
from analysis.cohort.model import Cohort

FOLLOW_UP = ("relapse_day", "followup_end_day")
HORIZON = {
    "counts": ("courses", "at_risk", "events_by_then"),
    "derived": ("estimate", "ci_low", "ci_high", "median_days"),
    "shares": ("estimate", "ci_low", "ci_high"),
    "labels": {
        "at_risk": "still followed",
        "events_by_then": "events by then",
        "years": "years after",
        "median_days": "median days to relapse",
    },
}
NO_FOLLOW_UP = (
    "This dataset has no follow-up after the course: the columns relapse_day and followup_end_day are empty, "
    "so relapse cannot be estimated."
)
NO_ENTRY = (
    "No course can enter the relapse estimate: each needs a last-dose day (end_day) and either a relapse "
    "or a follow-up end."
)
NO_SECOND_ENTRY = (
    "No course can enter the second-course estimate: each needs a last-dose day (end_day) and either a further "
    "course (retreat_day) or a follow-up end."
)


@dataclass(frozen=True)
class RelapseAnalysis:
    """The event times and the curves every section draws from: relapse, and the start of a further course."""

    settings: relapse.RelapseSettings
    times: relapse.EventTimes
    overall: relapse.SurvivalAnalysis
    further: relapse.SurvivalAnalysis


def without_follow_up(cohort: Cohort) -> bool:
    return all(c not in cohort.courses or cohort.courses[c].isna().all() for c in FOLLOW_UP)


def analyse(cohort: Cohort, settings: relapse.RelapseSettings) -> RelapseAnalysis:
    times = relapse.relapse_times(cohort, settings)
    overall = relapse.relapse_analysis(cohort, settings, times=times)
    return RelapseAnalysis(settings, times, overall, relapse.second_course_analysis(cohort, settings))


def figures():
    """The figure functions, loaded only when a section is drawn (the JSON summary never loads plotly)."""
    from analysis.areas.relapse import figures as relapse_figures

    return relapse_figures


def outcome_line(times: relapse.EventTimes, audience: Audience) -> str:
    counts = times.outcome_counts()
    return (
        "How follow-up ended: "
        + "; ".join(f"{row.outcome}: {audience.count(row.courses)}" for row in counts.itertuples())
        + f" (of {audience.count(times.entered)} courses in the estimate)."
    )


def horizon_table(analysis: relapse.SurvivalAnalysis, title: str, complement: bool = False) -> Table:
    return Table(title, relapse.horizon_table(analysis, complement).drop(columns=["method"]), **HORIZON)


def at_risk_table(analysis: relapse.SurvivalAnalysis, title: str) -> Table:
    risk = relapse.number_at_risk_table(analysis, in_months=True)
    return Table(title, risk, counts=tuple(c for c in risk.columns if c != "group"))


def relapse_free(cohort: Cohort, result: RelapseAnalysis, audience: Audience) -> Drawing:
    if result.overall.times.entered == 0:
        return Drawing(missing=NO_ENTRY)
    return Drawing(
        figure=figures().km_figure(result.overall, suppress_below=audience.suppress_below),
        table=horizon_table(result.overall, "Relapse-free at 1, 2 and 3 years (Kaplan-Meier)"),
        more_tables=(at_risk_table(result.overall, "Number still followed"),),
        notes=(outcome_line(result.overall.times, audience),),
    )


def published_figures_apply(result: RelapseAnalysis) -> bool:
    """Published relapse and further-course figures count from the end of the course: beside times counted
    from the first dose they would mislead."""
    return result.settings.origin == "end"


NOT_BESIDE_PUBLISHED = (
    "Published figures are not shown beside these curves: they count from the end of the course, these from the "
    "first dose."
)


def relapse_literature(cohort: Cohort, result: RelapseAnalysis, audience: Audience) -> Drawing:
    if result.overall.times.entered == 0:
        return Drawing()
    if not published_figures_apply(result):
        return Drawing(notes=(NOT_BESIDE_PUBLISHED,))
    return Drawing(
        figure=figures().literature_figure(result.overall, suppress_below=audience.suppress_below),
        table=Table("Published figures used for comparison", figures().literature_table(result.overall)),
    )


def left_out(cohort: Cohort, result: RelapseAnalysis, audience: Audience) -> Drawing:
    times = result.overall.times
    if times.excluded.empty:
        return Drawing(notes=(f"All {audience.count(times.total)} courses entered the estimate.",))
    return Drawing(
        table=Table("Courses left out of the relapse estimate", times.exclusion_counts(), counts=("courses",))
    )


def group_choice(cohort: Cohort, result: RelapseAnalysis) -> tuple[Choice, ...]:
    return (Choice("relapse_by", "Compare relapse by", relapse.grouping_options(cohort), grouping=True),)


def by_group(cohort: Cohort, result: RelapseAnalysis, audience: Audience) -> Drawing:
    (choice,) = group_choice(cohort, result)
    key = audience.pick(choice)
    if key is None:
        return Drawing(
            missing="No course column to compare groups by (cumulative_dose_mg with weight_kg, sex, age, site, "
            "or your own columns)."
        )
    grouped = relapse.relapse_analysis(cohort, result.settings, key, result.times)
    medians = relapse.median_table(grouped)[["group", "median_days"]]
    table = relapse.horizon_table(grouped).drop(columns=["method"]).merge(medians, on="group")
    notes = ["Median days to relapse: empty where more than half are still free of relapse."]
    if key == "cumulative_dose_band":
        low, high = reference("relapse_12m_low_dose"), reference("relapse_12m_high_dose")
        notes.append(
            f"Published: {low.label.lower()} {low.value:.1%} vs {high.label.split(',')[1].strip()} {high.value:.1%} "
            f"({low.source}, {low.population})."
        )
    return Drawing(
        figure=figures().km_figure(grouped, suppress_below=audience.suppress_below),
        table=Table(f"Relapse-free by {choice.options[key].lower()}", table, **HORIZON),
        notes=tuple(notes),
        name=f"relapse by {key}",
    )


def cox(cohort: Cohort, result: RelapseAnalysis, audience: Audience) -> Drawing:
    model = relapse.cox_model(cohort, result.settings, result.times)
    if model.table.empty:
        return Drawing(missing="The Cox model was not fitted: " + "; ".join(model.notes))
    notes = " ".join(f"{note[0].upper()}{note[1:]}." for note in model.notes)
    return Drawing(
        table=Table(
            "Hazard ratios for relapse (Cox model, Efron ties)",
            model.table,
            counts=("courses", "events"),
            derived=("hazard_ratio", "ci_low", "ci_high", "p_value"),
            labels={
                "hazard_ratio": "hazard ratio",
                "ci_low": "95% CI low",
                "ci_high": "95% CI high",
                "p_value": "p (Wald)",
            },
        ),
        notes=(
            "A hazard ratio below 1 means a lower rate of relapse. Both terms are in one model (Efron ties). "
            f"{notes} Published: HR 0.996 per mg/kg (0.96 per 10 mg/kg) and 1.43 for women (Lai & Barbieri 2025).",
        ),
    )


def further_course(cohort: Cohort, result: RelapseAnalysis, audience: Audience) -> Drawing:
    if not relapse.further_courses_recorded(cohort.whole()):
        return Drawing(
            missing="This data records no further course (no retreat_day and one course per patient), so second "
            "courses are not estimated."
        )
    if result.further.times.entered == 0:
        return Drawing(missing=NO_SECOND_ENTRY)
    return Drawing(
        figure=figures().km_figure(result.further, complement=True, suppress_below=audience.suppress_below),
        table=horizon_table(result.further, "Started a further course within 1, 2 and 3 years", complement=True),
        more_tables=(at_risk_table(result.further, "Number still followed for a further course"),),
        notes=(outcome_line(result.further.times, audience),),
    )


def further_course_literature(cohort: Cohort, result: RelapseAnalysis, audience: Audience) -> Drawing:
    if result.further.times.entered == 0 or not relapse.further_courses_recorded(cohort.whole()):
        return Drawing()
    if not published_figures_apply(result):
        return Drawing(notes=(NOT_BESIDE_PUBLISHED,))
    return Drawing(figure=figures().literature_figure(result.further, suppress_below=audience.suppress_below))


RELAPSE = (
    Section("relapse_free", "Relapse-free after the course", relapse_free),
    Section("relapse_literature", "Relapse beside published figures", relapse_literature),
    Section("relapse_left_out", "Courses left out of the relapse estimate", left_out),
    Section(
        "relapse_by_group",
        "Relapse-free by group",
        by_group,
        heading="Does dose, or anything else, make a difference?",
        choices=group_choice,
    ),
    Section("relapse_cox", "Hazard ratios for relapse", cox),
)
FURTHER_COURSE = (
    Section("further_course", "Further course after the course", further_course),
    Section("further_course_literature", "Further course beside published figures", further_course_literature),
)
SECTIONS = RELAPSE + FURTHER_COURSE


def finding(cohort: Cohort, result: RelapseAnalysis, audience: Audience) -> str:
    times = result.overall.times
    if times.entered == 0:
        return NO_ENTRY
    first_year = result.overall.overall.failure_at(relapse.DAYS_PER_YEAR)
    return (
        f"{audience.share(first_year)} of {audience.count(times.entered)} courses followed after the course had "
        "relapsed within a year (Kaplan-Meier)."
    )
