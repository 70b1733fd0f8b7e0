"""Clearance: how many courses were clear at each month, how far lesions fell, and how fast."""

from functools import partial

import pandas as pd
import streamlit as st

from analysis.areas.claims import compute as claims
from analysis.areas.clearance import compute as clearance
from analysis.areas.clearance import figures as clearance_figures
from analysis.areas.clearance.compute import ClearanceSettings
from analysis.areas.literature import reference
from analysis.cohort.grouping import grouping_options
from ui.charts import show_chart
from ui.claim_sets import active_claim_set
from ui.page import csv_download, page_header, require_data, show_table
from ui.presenter import (
    SUPPRESSED,
    chart_suppression,
    shown_count,
    shown_of,
    shown_share,
    suppression_threshold,
    withheld,
)


def settings_widgets() -> ClearanceSettings:
    columns = st.columns([3, 2, 3, 2])
    definition = columns[0].selectbox(
        "What counts as clear",
        list(clearance.DEFINITIONS),
        format_func=clearance.DEFINITIONS.get,
        key="clearance_definition",
        bind="query-params",
        help="IGA = Investigator's Global Assessment, 0 clear to 4 severe.",
    )
    reduction = columns[1].number_input(
        "Lesion reduction needed (%)",
        min_value=10,
        max_value=100,
        value=80,
        step=5,
        key="clearance_reduction",
        bind="query-params",
        disabled=definition != "lesion_reduction",
        help="Used when clear means fewer total lesions than at baseline: at least this much fewer. The article speaks of 80-100% clearance.",
    )
    missing = columns[2].selectbox(
        "Missed visits",
        list(clearance.MISSING_RULES),
        format_func=clearance.MISSING_RULES.get,
        key="clearance_missing",
        bind="query-params",
        help="How a month without an assessment is treated. The rules are spelled out under 'How these numbers are counted'.",
    )
    flare_percent = columns[3].number_input(
        "Flare: lesions up by (%)",
        min_value=0,
        max_value=500,
        value=10,
        step=5,
        key="clearance_flare",
        bind="query-params",
        help="An initial flare is counted when total lesions rise at least this much above baseline in the first 6 weeks.",
    )
    return ClearanceSettings(
        definition=definition, reduction_percent=float(reduction), missing=missing, flare_percent=float(flare_percent)
    )


@st.cache_data(scope="session", max_entries=8, show_spinner="Counting clearance ...")
def analysed(view_key: tuple, settings: ClearanceSettings, _cohort) -> clearance.ClearanceAnalysis:
    """The area's numbers, reused while the dataset, the filters and the choices stay the same."""
    return clearance.analyse(_cohort, settings)


def view_key(view) -> tuple:
    cohort = view.filtered
    return (
        view.cohort.fingerprint,
        view.cohort.source,
        view.cohort.n_courses,
        view.filters.describe(),
        cohort.n_courses,
        len(cohort.visits),
    )


def share(estimate) -> str:
    return "–" if estimate.estimate is None else shown_share(f"{estimate.estimate:.0%}", estimate.numerator, estimate.n)


def interval(estimate) -> str:
    if estimate.estimate is None or estimate.ci_low is None:
        return "not estimable"
    return shown_share(f"95% CI {estimate.ci_low:.0%}-{estimate.ci_high:.0%}", estimate.numerator, estimate.n)


def headline(result: clearance.ClearanceAnalysis) -> None:
    columns = st.columns(4)
    end = result.end_of_course
    columns[0].metric(
        "Clear at end of course",
        share(end),
        interval(end),
        delta_color="off",
        delta_arrow="off",
        help=f"{shown_of(end.numerator, end.n)} courses. {end.method}.",
    )
    km = result.cleared_by_month_6
    columns[1].metric(
        "Had been clear by month 6",
        share(km),
        interval(km),
        delta_color="off",
        delta_arrow="off",
        help=f"Kaplan-Meier estimate: {shown_of(km.numerator, km.n)} assessed courses cleared by then.",
    )
    early = result.improvement
    columns[2].metric(
        "Improved by month 2-3",
        share(early),
        interval(early),
        delta_color="off",
        delta_arrow="off",
        help=f"Fewer inflammatory lesions in months 2-3 than at baseline: {shown_of(early.numerator, early.n)} courses with both counts. "
        f"{early.test}" + ("" if early.p_value is None else f": p = {early.p_value:.3g}."),
    )
    flare = result.flare.estimate
    columns[3].metric(
        "Initial flare",
        share(flare),
        interval(flare),
        delta_color="off",
        delta_arrow="off",
        help=f"{shown_of(flare.numerator, flare.n)} courses with a baseline and a visit in the first 6 weeks.",
    )
    if end.estimate is not None:
        measured = (
            f"the share of the {shown_count(end.n)} courses clear at the end of the course is **{SUPPRESSED}** (a count under "
            f"{suppression_threshold()})"
            if withheld(end.numerator, end.n)
            else f"**{share(end)}** of {end.n:,} courses were clear at the end of the course ({interval(end)})"
        )
        st.markdown(
            f"Here, with *{result.settings.definition_text()}*, {measured}. {published_comparison(result.settings)} "
            f"{reading_note(result.settings)}"
        )


def reading_note(settings: ClearanceSettings) -> str:
    """Which reading of a claim about clearance at the end this share is, or that the scorecard reads it otherwise:
    a reader comparing pages should never see two meanings of one quote unnamed."""
    readings = claims.clear_at_end_readings(active_claim_set(), settings.definition, settings.reduction_percent)
    if readings:
        spec = readings[0]
        return (
            f'The claims scorecard holds **"{spec.quote}"** ({spec.claim_id}, reading {spec.reading}), read as *{spec.reads_as}*, against this share: '
            f"{plain(claims.rule_text(spec.direction, spec.threshold))}."
        )
    others = [spec for spec in active_claim_set().reading_specs().values() if spec.measure == "clear_at_end"]
    if not others:
        return ""
    ways = "; ".join(f"*{spec.reads_as}* ({spec.id})" for spec in others)
    return (
        f"No reading on the claims scorecard counts clear this way, so no article line is drawn here; "
        f"it reads {others[0].claim_id} as {ways}."
    )


def plain(text: str) -> str:
    return text.replace(">", "\\>").replace("<", "\\<")


def article_lines(settings: ClearanceSettings) -> tuple:
    """The article lines the charts may draw: the share clear (a reading under this definition) and the median change."""
    claim_set = active_claim_set()
    return (
        claims.share_clear_line(claim_set, settings.definition, settings.reduction_percent),
        claims.median_reduction_line(claim_set),
    )


def published_comparison(settings: ClearanceSettings) -> str:
    if settings.definition == "lesion_reduction":
        tan = reference("lesion_reduction_week20")
        return f"Published: total lesions fell by {-tan.value:.1%} by week 20 ({tan.source}; {tan.population})."
    patel = reference("end_of_course_iga01")
    return f"Published: {patel.value:.0%} reached IGA 0/1 at the end of course ({patel.source})."


def by_month_section(result: clearance.ClearanceAnalysis) -> None:
    share_line = article_lines(result.settings)[0]
    show_chart(
        clearance_figures.clearance_by_month_figure(
            result.by_month, result.settings, suppress_below=chart_suppression(), article=share_line
        ),
        "Clearance by month",
        key="clearance_by_month",
    )
    published = (
        " The purple dotted line is the published end-of-course figure."
        if result.settings.definition == "iga01"
        else ""
    )
    st.caption(
        "The number under each month is the denominator: the courses counted that month under the missed-visit rule. "
        + (
            f"The red dashed line: {share_line[1]}."
            if share_line
            else "No reading on the claims scorecard counts clear this way, so no article line is drawn."
        )
        + published
        + left_out_text(result)
    )
    with st.expander("Clearance by month (table)"):
        table = result.by_month.rename(
            columns={"n": "courses_counted", "cleared": "courses_clear", "rate": "share_clear"}
        )
        show_table(table, hide_index=True, width="stretch")
        csv_download(table, "clearance_by_month.csv", key="clearance_by_month_csv")


def left_out_text(result: clearance.ClearanceAnalysis) -> str:
    """Courses no month could count, said next to the chart (details under 'How these numbers are counted')."""
    counts = result.quality.set_index("what")["count"]
    parts = [
        f"{shown_count(counts[what])} {label}"
        for what, label in (
            ("Courses without any visit", "without any visit"),
            ("Courses without a baseline for this definition", "without the baseline this definition needs"),
            ("Courses never assessed during the course", "never assessed during the course"),
        )
        if counts.get(what, 0)
    ]
    return f" Not in any month: {'; '.join(parts)}." if parts else ""


def month_table_section(
    table: pd.DataFrame, missing: str, figure, chart_title: str, table_title: str, name: str
) -> None:
    """One month-by-month chart with its table and download; says what the data lacks when it is empty."""
    if table.empty:
        st.info(missing)
        return
    show_chart(figure(table, suppress_below=chart_suppression()), chart_title, key=f"clearance_{name}")
    with st.expander(table_title):
        show_table(table, hide_index=True, width="stretch")
        csv_download(table, f"clearance_{name}_by_month.csv", key=f"clearance_{name}_csv")


def lesions_section(result: clearance.ClearanceAnalysis) -> None:
    median_line = article_lines(result.settings)[1]
    month_table_section(
        result.lesions,
        "The data has no lesion counts (inflammatory_lesions, noninflammatory_lesions, nodules or "
        "total_lesions): the lesion chart needs at least one of them.",
        partial(clearance_figures.lesion_change_figure, article=median_line),
        "Lesion change by month",
        "Lesion counts and change from baseline per month (table)",
        "lesions",
    )


def iga_section(result: clearance.ClearanceAnalysis) -> None:
    month_table_section(
        result.iga,
        "The data has no IGA grades (column iga in visits, or baseline_iga in courses): the severity chart needs them.",
        clearance_figures.iga_distribution_figure,
        "IGA by month",
        "IGA grades per month (table)",
        "iga",
    )


def flare_and_time_section(result: clearance.ClearanceAnalysis) -> None:
    left, right = st.columns(2)
    with left:
        show_chart(
            clearance_figures.flare_figure(result.flare, suppress_below=chart_suppression()),
            "Initial flare",
            key="clearance_flare_chart",
        )
        st.caption(
            f"Not counted: {shown_count(result.flare.without_baseline)} courses without a baseline lesion count, "
            f"{shown_count(result.flare.without_early_visit)} with a baseline but no visit in the first 6 weeks."
        )
    with right:
        show_chart(
            clearance_figures.time_to_clearance_figure(
                result.time_to_clearance, result.settings, suppress_below=chart_suppression()
            ),
            "Time to clearance",
            key="clearance_time",
        )
        st.caption(
            "Missed visits do not change this curve: it uses the assessments that took place. "
            "Numbers under the months: courses still followed and not yet clear."
        )
    with st.expander("Time to clearance (table)"):
        table = clearance.time_to_clearance_table(result.time_to_clearance)
        show_table(table, hide_index=True, width="stretch")
        csv_download(table, "clearance_time_to_clearance.csv", key="clearance_time_csv")


def subgroup_section(cohort, result: clearance.ClearanceAnalysis) -> None:
    st.subheader("Compare groups")
    options = grouping_options(cohort)
    if not options:
        st.info(
            "No grouping field has at least two values in the selected courses (sex, age, baseline IGA, dose bands, site, ...)."
        )
        return
    key = st.selectbox(
        "Compare end-of-course clearance by",
        list(options),
        format_func=options.get,
        key="clearance_group",
        bind="query-params",
    )
    comparison = clearance.compare_groups(cohort, key, result.settings)
    show_chart(
        clearance_figures.group_comparison_figure(
            comparison,
            result.settings,
            options[key],
            suppress_below=chart_suppression(),
            article=article_lines(result.settings)[0],
        ),
        f"Clearance by {key}",
        key="clearance_groups",
    )
    if comparison.difference is not None and comparison.difference.estimate is not None:
        diff = comparison.difference
        first, second = comparison.table["group"].tolist()
        if any(withheld(row.cleared, row.n) for row in comparison.table.itertuples()):
            st.markdown(
                f"Difference **{first}** minus **{second}**: {SUPPRESSED} (a group's count is under the presenter threshold)."
            )
        else:
            st.markdown(
                f"Difference **{first}** minus **{second}**: **{diff.estimate * 100:+.1f} percentage points** "
                f"(95% CI {diff.ci_low * 100:+.1f} to {diff.ci_high * 100:+.1f}; Newcombe interval)."
            )
    p_text = "" if comparison.p_value is None else f", p = {comparison.p_value:.3g}"
    st.caption(
        f"Test: {comparison.test}{p_text}. Courses whose group is unknown: {shown_count(comparison.missing_group)} (left out)."
    )
    with st.expander("Clearance by group (table)"):
        show_table(comparison.table, hide_index=True, width="stretch")
        csv_download(comparison.table, f"clearance_by_{key}.csv", key="clearance_groups_csv")


def counting_section(result: clearance.ClearanceAnalysis) -> None:
    with st.expander("How these numbers are counted, and what could not be used"):
        for rule in clearance.counting_rules(result.settings):
            st.markdown(f"- {rule}")
        not_counted = (
            ", ".join(f"{reason}: {shown_count(count)}" for reason, count in result.end_not_counted.items()) or "none"
        )
        st.markdown(f"Courses left out of the end-of-course share: {not_counted}.")
        show_table(result.quality, hide_index=True, width="stretch")
        csv_download(result.quality, "clearance_data_quality.csv", key="clearance_quality_csv")


view = page_header(
    "Clearance",
    "How many courses were clear month by month, how far lesion counts fell, and how quickly acne cleared, "
    "held against the article's claims (each line names the reading it draws) and published figures.",
)
if require_data(view):
    settings = settings_widgets()
    cohort = view.filtered
    if cohort.visits.empty:
        st.info("The data has no visits table: clearance needs visits with a day and an IGA grade or lesion counts.")
    else:
        result = analysed(view_key(view), settings, cohort)
        st.caption(f"{settings.describe()}.")
        lacking = clearance.missing_for_definition(cohort, settings)
        if lacking:
            st.info(lacking)
        headline(result)
        by_month_section(result)
        lesions_section(result)
        iga_section(result)
        flare_and_time_section(result)
        subgroup_section(cohort, result)
        counting_section(result)
