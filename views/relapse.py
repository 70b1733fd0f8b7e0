"""Relapse: how many relapsed after the course, when, how sure we are, and whether dose matters."""

import streamlit as st

from analysis.areas.claims import compute as claims
from analysis.areas.literature import reference
from analysis.areas.relapse import compute as relapse
from analysis.areas.relapse.sections import (
    FURTHER_COURSE,
    NO_FOLLOW_UP,
    RELAPSE,
    analyse,
    without_follow_up,
)
from analysis.schema import DAYS_PER_MONTH
from ui.kept import kept
from ui.page import csv_download, opened, page_header, require_data, show_table
from ui.presenter import SUPPRESSED, any_small, shown_count
from ui.sections import page_audience, show_sections


def minimal_relapse_readings() -> str:
    """How the claims scorecard reads "Minimal Relapse" (C07), so the figure beside it names its reading."""
    first, *others = claims.claim_spec("C07").all_readings
    also = "".join(f"; reading {r.reading}: *{r.reads_as}*" for r in others)
    return f"which the claims scorecard reads as *{first.reads_as}* (C07, reading {first.reading}, shown here{also})"


def settings_widgets(cohort) -> relapse.RelapseSettings:
    left, right = st.columns([1, 1])
    origins = {"the last dose (end of course)": "end", "the first dose (trial data)": "start"}
    if cohort.time_origin in relapse.ORIGINS:  # the data says where its event times start: no choice to make
        left.markdown(
            f"Time counts from **{relapse.ORIGINS[cohort.time_origin]}**, where this data's event times start "
            "(its time-to-event file says so)."
        )
        origin = next(label for label, key in origins.items() if key == cohort.time_origin)
    else:
        origin = left.radio(
            "Count time from",
            list(origins),
            key="relapse_origin",
            bind="query-params",
            horizontal=True,
            help="Relapse is usually counted from the end of the course; trials often count from the first dose.",
        )
    retreat = right.toggle(
        "Count a further course without a recorded relapse as a relapse",
        value=True,
        key="relapse_retreat",
        bind="query-params",
        help="When off, such courses are followed only until the further course starts.",
    )
    return relapse.RelapseSettings(origin=origins[origin], retreatment_counts_as_relapse=retreat)


def percent(estimate) -> str:
    return "–" if estimate is None else f"{estimate * 100:.1f}%"


def interval(row) -> str:
    return (
        "not estimable"
        if row["estimate"] is None or row["ci_low"] != row["ci_low"]
        else f"95% CI {row['ci_low'] * 100:.1f}-{row['ci_high'] * 100:.1f}%"
    )


def horizon_withheld(row) -> bool:
    """In presenter mode, whether a share at a horizon rests on a small count (courses, still followed or events),
    as in the tables and the shared report."""
    return any_small(row["courses"], row["at_risk"], row["events_by_then"])


def years_text(years: int) -> str:
    return f"{years} year{'s' if years > 1 else ''}"


def horizon_metrics(table, label: str):
    """One metric per horizon ("{years}" in `label` is filled in); returns the spare last column."""
    columns = st.columns(len(table) + 1)
    for column, row in zip(columns, table.to_dict("records")):
        help_text = (
            f"{shown_count(row['events_by_then'])} events among {shown_count(row['courses'])} courses; "
            f"{shown_count(row['at_risk'])} still followed at {years_text(row['years'])}. {row['method']}"
        )
        hidden = horizon_withheld(row)
        column.metric(
            label.format(years=years_text(row["years"])),
            SUPPRESSED if hidden else percent(row["estimate"]),
            SUPPRESSED if hidden else interval(row),
            delta_color="off",
            delta_arrow="off",
            help=help_text,
        )
    return columns[-1]


def median_text(analysis: relapse.SurvivalAnalysis) -> str:
    km = analysis.overall
    if km.median_day is None:
        return "not reached"
    if any_small(analysis.times.entered):  # the median of a handful of courses is one course's time
        return SUPPRESSED
    low, high = km.median_ci
    bounds = (
        f" (95% CI {low / DAYS_PER_MONTH:.1f}-{high / DAYS_PER_MONTH:.1f})"
        if low is not None and high is not None
        else ""
    )
    return f"{km.median_day / DAYS_PER_MONTH:.1f} months{bounds}"


def relapse_headline(result) -> None:
    overall = result.overall
    st.subheader("How many relapsed, and when")
    free = relapse.horizon_table(overall)
    last = horizon_metrics(free, "Relapse-free at {years}")
    last.metric(
        "Median time to relapse",
        median_text(overall),
        help="Half the courses had relapsed by this time; 'not reached' while more than half are still free of relapse.",
    )
    one_year = overall.overall.failure_at(relapse.DAYS_PER_YEAR)
    lai = reference("relapse_any")
    if one_year.estimate is not None:
        measured = (
            f"the share relapsed within a year is **{SUPPRESSED}** (a count under the presenter threshold)"
            if horizon_withheld(free.iloc[0])
            else f"**{one_year.estimate:.1%}** had relapsed within a year (95% CI {one_year.ci_low:.1%} to {one_year.ci_high:.1%})"
        )
        published = (  # counted from the end of the course: not beside times from the first dose
            f"For comparison, {lai.value:.1%} of 19,907 patients in US claims data relapsed after the course, "
            f"with at least a year of follow-up ({lai.source})."
            if result.settings.origin == "end"
            else ""
        )
        st.markdown(
            f'The article promises **"Minimal Relapse"**, {minimal_relapse_readings()}. In these courses, {measured}. '
            + published
        )


def further_course_headline(result) -> None:
    st.subheader("Second courses")
    further = result.further
    if further.times.entered == 0 or not relapse.further_courses_recorded(view.cohort):
        return
    table = relapse.horizon_table(further, complement=True)
    horizon_metrics(table, "Further course within {years}").metric(
        "Courses followed", shown_count(further.times.entered)
    )


def courses_left_out(times: relapse.EventTimes) -> None:
    """Which courses the estimate left out, one row each; the counts per reason are a declared section."""
    if times.excluded.empty:
        return
    box = opened(
        f"{shown_count(len(times.excluded))} courses left out of the relapse estimate (list)", "relapse_left_out"
    )
    if box is None:
        return
    with box:
        show_table(times.excluded, hide_index=True, width="stretch")
        csv_download(times.excluded, "relapse_courses_left_out.csv")


view = page_header(
    "Relapse",
    "How many courses were followed by a relapse or a further course, when, and whether the dose made a difference. "
    "Kaplan-Meier estimates account for patients followed for different lengths of time.",
)
if require_data(view):
    cohort = view.filtered
    settings = settings_widgets(view.cohort)
    if without_follow_up(cohort):
        st.info(NO_FOLLOW_UP)
    else:
        result = kept(cohort, "relapse.analysed", settings, lambda: analyse(cohort, settings))
        audience = page_audience()
        if result.overall.times.entered:
            relapse_headline(result)
        show_sections(RELAPSE, cohort, result, audience)
        courses_left_out(result.overall.times)
        further_course_headline(result)
        show_sections(FURTHER_COURSE, cohort, result, audience)
