"""Clearance: how many courses were clear at each month, how far lesions fell, and how fast."""

from functools import partial

import streamlit as st

from analysis.areas.claims import compute as claims
from analysis.areas.clearance import compute as clearance
from analysis.areas.clearance.compute import ClearanceSettings
from analysis.areas.clearance.sections import NO_VISITS, SECTIONS
from analysis.areas.literature import reference
from ui.claim_sets import active_claim_set
from ui.kept import kept
from ui.page import csv_download, opened, page_header, require_data, show_table
from ui.presenter import (
    SUPPRESSED,
    shown_count,
    shown_of,
    shown_share,
    suppression_threshold,
    withheld,
)
from ui.sections import page_audience, show_sections


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


def analysed(view_key: tuple, settings: ClearanceSettings, cohort) -> clearance.ClearanceAnalysis:
    """The area's numbers, kept with the (filtered) cohort for these choices (`ui.kept`)."""
    return kept(
        cohort,
        "clearance.analysed",
        (view_key, settings),
        lambda: clearance.analyse(cohort, settings),
        spinner="Counting clearance ...",
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


def published_comparison(settings: ClearanceSettings) -> str:
    if settings.definition == "lesion_reduction":
        tan = reference("lesion_reduction_week20")
        return f"Published: total lesions fell by {-tan.value:.1%} by week 20 ({tan.source}; {tan.population})."
    patel = reference("end_of_course_iga01")
    return f"Published: {patel.value:.0%} reached IGA 0/1 at the end of course ({patel.source})."


def counting_section(result: clearance.ClearanceAnalysis) -> None:
    box = opened("How these numbers are counted, and what could not be used", "clearance_counting")
    if box is None:
        return
    with box:
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
        st.info(NO_VISITS)
    else:
        result = analysed(view.key("visits"), settings, cohort)
        st.caption(f"{settings.describe()}.")
        lacking = clearance.missing_for_definition(cohort, settings)
        if lacking:
            st.info(lacking)
        headline(result)
        show_sections(SECTIONS, cohort, result, page_audience(partial(claims.article_line, active_claim_set())))
        counting_section(result)
