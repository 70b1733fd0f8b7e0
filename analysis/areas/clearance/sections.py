"""The clearance charts, each with its table and notes, declared once: the page and the report draw these."""

from __future__ import annotations

import pandas as pd

from analysis.areas.base import Audience, Choice, Drawing, Section, Table
from analysis.areas.clearance import compute as clearance
from analysis.areas.clearance.compute import ClearanceAnalysis
from analysis.cohort.grouping import grouping_options
from analysis.cohort.model import Cohort
from analysis.stats.suppression import SUPPRESSED

NO_LESIONS = (
    "The data has no lesion counts (inflammatory_lesions, noninflammatory_lesions, nodules or total_lesions): "
    "the lesion chart needs at least one of them."
)
NO_IGA = "The data has no IGA grades (column iga in visits, or baseline_iga in courses): the severity chart needs them."
NO_GROUPS = (
    "No grouping field has at least two values in these courses (sex, age, baseline IGA, dose bands, site, ...)."
)
MONTH_TABLE = {
    "counts": ("n", "cleared"),
    "derived": ("rate", "ci_low", "ci_high"),
    "shares": ("rate", "ci_low", "ci_high"),
    "denominators": {"cleared": "n"},
    "labels": {"n": "courses counted", "cleared": "courses clear", "rate": "share clear"},
}


NO_VISITS = "The data has no visits table: clearance needs visits with a day and an IGA grade or lesion counts."


def figures():
    """The figure functions, loaded only when a section is drawn (the JSON summary never loads plotly)."""
    from analysis.areas.clearance import figures as clearance_figures

    return clearance_figures


def share_line(result: ClearanceAnalysis, audience: Audience) -> tuple | None:
    """The article's line on shares clear: only where a reading of the claims tested counts clear this way."""
    return audience.lines("share_clear", result.settings.definition, result.settings.reduction_percent)


def by_month(cohort: Cohort, result: ClearanceAnalysis, audience: Audience) -> Drawing:
    line = share_line(result, audience)
    published = (
        " The purple dotted line is the published end-of-course figure."
        if result.settings.definition == "iga01"
        else ""
    )
    article = (
        f"The red dashed line: {line[1]}."
        if line
        else "No reading on the claims scorecard counts clear this way, so no article line is drawn."
    )
    return Drawing(
        figure=figures().clearance_by_month_figure(
            result.by_month, result.settings, suppress_below=audience.suppress_below, article=line
        ),
        table=Table("Clearance by month", result.by_month, **MONTH_TABLE),
        notes=(
            "The number under each month is the denominator: the courses counted that month under the missed-visit "
            f"rule. {article}{published}{left_out_text(result, audience)}",
        ),
    )


def left_out_text(result: ClearanceAnalysis, audience: Audience) -> str:
    """Courses no month could count, said next to the chart."""
    counts = result.quality.set_index("what")["count"]
    parts = [
        f"{audience.count(counts[what])} {label}"
        for what, label in (
            ("Courses without any visit", "without any visit"),
            ("Courses without a baseline for this definition", "without the baseline this definition needs"),
            ("Courses never assessed during the course", "never assessed during the course"),
        )
        if counts.get(what, 0)
    ]
    return f" Not in any month: {'; '.join(parts)}." if parts else ""


def lesion_change(cohort: Cohort, result: ClearanceAnalysis, audience: Audience) -> Drawing:
    if result.lesions.empty:
        return Drawing(missing=NO_LESIONS)
    return Drawing(
        figure=figures().lesion_change_figure(
            result.lesions, suppress_below=audience.suppress_below, article=audience.lines("median_reduction")
        ),
        table=Table(
            "Lesion counts and change from baseline (%) per month",
            result.lesions.drop(columns=["measure"]),
            counts=("n", "n_change"),
            derived=("median", "q1", "q3", "change_median", "change_q1", "change_q3"),
            labels={"label": "lesions", "n_change": "courses with a change"},
        ),
    )


def iga_distribution(cohort: Cohort, result: ClearanceAnalysis, audience: Audience) -> Drawing:
    if result.iga.empty:
        return Drawing(missing=NO_IGA)
    grades = iga_table(result.iga)
    return Drawing(
        figure=figures().iga_distribution_figure(result.iga, suppress_below=audience.suppress_below),
        table=Table("Courses at each IGA grade per month", grades, counts=tuple(grades.columns[1:])),
    )


def iga_table(iga: pd.DataFrame) -> pd.DataFrame:
    """Courses per month (rows) and IGA grade (columns), with the courses assessed that month."""
    wide = iga.pivot_table(index="month", columns="iga", values="courses", aggfunc="sum", fill_value=0)
    wide.columns = [f"IGA {grade}" for grade in wide.columns]
    assessed = iga.groupby("month")["n"].first().rename("courses assessed")
    return pd.concat([assessed, wide], axis=1).reset_index()


def initial_flare(cohort: Cohort, result: ClearanceAnalysis, audience: Audience) -> Drawing:
    flare = result.flare
    return Drawing(
        figure=figures().flare_figure(flare, suppress_below=audience.suppress_below),
        notes=(
            f"Not counted: {audience.count(flare.without_baseline)} courses without a baseline lesion count, "
            f"{audience.count(flare.without_early_visit)} with a baseline but no visit in the first 6 weeks.",
        ),
    )


def time_to_clearance(cohort: Cohort, result: ClearanceAnalysis, audience: Audience) -> Drawing:
    return Drawing(
        figure=figures().time_to_clearance_figure(
            result.time_to_clearance, result.settings, suppress_below=audience.suppress_below
        ),
        table=Table(
            "Time to clearance (Kaplan-Meier)",
            clearance.time_to_clearance_table(result.time_to_clearance),
            counts=("still_followed_not_clear", "cleared_that_month", "censored"),
            derived=("share_cleared", "ci_low", "ci_high"),
            shares=("share_cleared", "ci_low", "ci_high"),
        ),
        notes=(
            "Missed visits do not change this curve: it uses the assessments that took place. "
            "Numbers under the months: courses still followed and not yet clear.",
        ),
    )


def group_choice(cohort: Cohort, result: ClearanceAnalysis) -> tuple[Choice, ...]:
    return (Choice("clearance_group", "Compare end-of-course clearance by", grouping_options(cohort), grouping=True),)


def by_group(cohort: Cohort, result: ClearanceAnalysis, audience: Audience) -> Drawing:
    (choice,) = group_choice(cohort, result)
    options = choice.options
    key = audience.pick(choice)
    if key is None:
        return Drawing(missing=NO_GROUPS)
    comparison = clearance.compare_groups(cohort, key, result.settings)
    p_text = "" if comparison.p_value is None else f", p = {comparison.p_value:.3g}"
    notes = (
        difference_text(comparison, audience),
        f"Test: {comparison.test}{p_text}. Courses whose group is unknown: "
        f"{audience.count(comparison.missing_group)} (left out).",
    )
    return Drawing(
        figure=figures().group_comparison_figure(
            comparison,
            result.settings,
            options[key],
            suppress_below=audience.suppress_below,
            article=share_line(result, audience),
        ),
        table=Table(
            f"Clear at the end of the course by {options[key].lower()}",
            comparison.table,
            **MONTH_TABLE,
        ),
        notes=tuple(note for note in notes if note),
        name=f"clearance by {key}",
    )


def difference_text(comparison: clearance.GroupComparison, audience: Audience) -> str:
    """The difference between two groups with its Newcombe interval, or why it is not shown."""
    diff = comparison.difference
    if diff is None or diff.estimate is None:
        return ""
    first, second = comparison.table["group"].tolist()
    if any(audience.withheld(row.cleared, row.n) for row in comparison.table.itertuples()):
        return f"Difference **{first}** minus **{second}**: {SUPPRESSED} (a group's count is under the threshold)."
    return (
        f"Difference **{first}** minus **{second}**: **{diff.estimate * 100:+.1f} percentage points** "
        f"(95% CI {diff.ci_low * 100:+.1f} to {diff.ci_high * 100:+.1f}; Newcombe interval)."
    )


SECTIONS = (
    Section("clearance_by_month", "Clearance by month", by_month),
    Section("lesion_change", "Lesion change by month", lesion_change),
    Section("iga_distribution", "IGA by month", iga_distribution),
    Section("initial_flare", "Initial flare", initial_flare, beside_next=True),
    Section("time_to_clearance", "Time to clearance", time_to_clearance),
    Section(
        "clearance_by_group",
        "Clearance by group",
        by_group,
        heading="Compare groups",
        choices=group_choice,
    ),
)


def finding(cohort: Cohort, result: ClearanceAnalysis, audience: Audience) -> str:
    end = result.end_of_course
    if cohort.visits.empty:
        return NO_VISITS
    if end.n == 0:
        return clearance.missing_for_definition(cohort, result.settings) or (
            "No course has an assessment at the end of the course, so no share clear can be given."
        )
    return (
        f"{audience.share(end)} of {audience.count(end.n)} courses were clear at the end of the course "
        f"({result.settings.definition_text()})."
    )
