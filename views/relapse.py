"""Relapse: how many relapsed after the course, when, how sure we are, and whether dose matters."""

import streamlit as st

from analysis.areas.claims import compute as claims
from analysis.areas.literature import reference
from analysis.areas.relapse import compute as relapse
from analysis.areas.relapse import figures as relapse_figures
from analysis.schema import DAYS_PER_MONTH
from ui.charts import show_chart
from ui.page import csv_download, page_header, require_data, show_table
from ui.presenter import SUPPRESSED, any_small, chart_suppression, shown_count, shown_text

NEEDED = ("relapse_day", "followup_end_day")


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


def horizon_columns(share_label: str) -> dict:
    """Readable headers and percentages for a table of shares at 1/2/3 years."""
    share = {"format": "percent"}
    return {
        "group": "group",
        "years": "years after",
        "estimate": st.column_config.NumberColumn(share_label, **share),
        "ci_low": st.column_config.NumberColumn("95% CI low", **share),
        "ci_high": st.column_config.NumberColumn("95% CI high", **share),
        "courses": "courses",
        "at_risk": "still followed",
        "events_by_then": "events by then",
        "median_days": "median days to relapse",
        "method": None,
    }


def outcome_line(times: relapse.EventTimes) -> str:
    counts = times.outcome_counts()
    return (
        "; ".join(f"{row.outcome}: {shown_count(row.courses)}" for row in counts.itertuples())
        + f" (of {shown_count(times.entered)} courses in the estimate)."
    )


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


def relapse_section(cohort, settings, times) -> None:
    overall = relapse.relapse_analysis(cohort, settings, times=times)
    if overall.times.entered == 0:
        st.info(
            "No course can enter the relapse estimate: each needs a last-dose day (end_day) and either a relapse or a follow-up end."
        )
        return
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
            if settings.origin == "end"
            else ""
        )
        st.markdown(
            f'The article promises **"Minimal Relapse"**, {minimal_relapse_readings()}. In these courses, {measured}. '
            + published
        )
    st.caption("How follow-up ended: " + outcome_line(overall.times))
    show_chart(
        relapse_figures.km_figure(overall, suppress_below=chart_suppression()),
        "Relapse-free after the course",
        key="relapse_km_overall",
    )
    with st.expander("Number at risk and relapse-free shares (tables)"):
        risk = relapse.number_at_risk_table(overall, in_months=True)
        show_table(risk, hide_index=True, width="stretch")
        csv_download(risk, "relapse_number_at_risk.csv")
        show_table(free, hide_index=True, width="stretch", column_config=horizon_columns("relapse-free"))
        csv_download(free, "relapse_free_by_year.csv")
    if literature_applies(settings):
        show_chart(
            relapse_figures.literature_figure(overall, suppress_below=chart_suppression()),
            "Relapse beside published figures",
            key="relapse_literature",
        )
        with st.expander("Published figures used for comparison"):
            published = relapse_figures.literature_table(overall)
            show_table(published, hide_index=True, width="stretch")
            csv_download(published, "relapse_literature.csv")
    excluded_section(overall.times)


def literature_applies(settings) -> bool:
    """Published relapse and second-course figures count from the end of the course; beside times counted
    from the first dose they would mislead, so one sentence says so instead."""
    if settings.origin == "end":
        return True
    st.caption(
        "Published figures are not shown beside these curves: they count from the end of the course, these from the first dose."
    )
    return False


def dose_section(cohort, settings, times) -> None:
    st.subheader("Does dose, or anything else, make a difference?")
    options = relapse.grouping_options(cohort)
    if not options:
        st.info(
            "No course column to compare groups by (cumulative_dose_mg with weight_kg, sex, age, site, or your own columns)."
        )
        return
    columns = {label: column for column, label in options.items()}
    group_by = columns[st.selectbox("Compare relapse by", list(columns), key="relapse_by", bind="query-params")]
    grouped = relapse.relapse_analysis(cohort, settings, group_by, times)
    show_chart(
        relapse_figures.km_figure(grouped, suppress_below=chart_suppression()),
        f"Relapse-free by {group_by}",
        key="relapse_km_grouped",
    )
    medians = relapse.median_table(grouped)
    medians["median_days"] = medians["median_days"].map(lambda d: "not reached" if d != d else f"{d:.0f}")
    table = relapse.horizon_table(grouped).merge(medians[["group", "median_days"]], on="group")
    show_table(table, hide_index=True, width="stretch", column_config=horizon_columns("relapse-free"))
    csv_download(table, f"relapse_by_{group_by}.csv")
    if group_by == "cumulative_dose_band":
        low, high = reference("relapse_12m_low_dose"), reference("relapse_12m_high_dose")
        st.caption(
            f"Published: {low.label.lower()} {low.value:.1%} vs {high.label.split(',')[1].strip()} {high.value:.1%} ({low.source}, {low.population})."
        )
    cox_section(cohort, settings, times)


def cox_section(cohort, settings, times) -> None:
    st.markdown("**Hazard ratios for relapse (Cox model)**")
    model = relapse.cox_model(cohort, settings, times)
    if model.table.empty:
        st.info("The Cox model was not fitted: " + shown_text("; ".join(model.notes)))
        return
    shown = model.table.assign(p_value=model.table["p_value"].map(relapse_figures.format_p))
    show_table(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "hazard_ratio": st.column_config.NumberColumn("hazard ratio", format="%.3f"),
            "ci_low": st.column_config.NumberColumn("95% CI low", format="%.3f"),
            "ci_high": st.column_config.NumberColumn("95% CI high", format="%.3f"),
            "p_value": "p (Wald)",
        },
    )
    st.caption(
        "A hazard ratio below 1 means a lower rate of relapse. Both terms are in one model (Efron ties). "
        + shown_text(" ".join(f"{note[0].upper()}{note[1:]}." for note in model.notes))
        + " Published: HR 0.996 per mg/kg (0.96 per 10 mg/kg) and 1.43 for women (Lai & Barbieri 2025)."
    )
    csv_download(model.table, "relapse_cox_model.csv")


def second_course_section(cohort, settings, whole) -> None:
    st.subheader("Second courses")
    if not relapse.further_courses_recorded(whole):
        st.info(
            "This data records no further course (no retreat_day and one course per patient), so second courses are not estimated."
        )
        return
    analysis = relapse.second_course_analysis(cohort, settings)
    if analysis.times.entered == 0:
        st.info(
            "No course can enter the second-course estimate: each needs a last-dose day (end_day) and either a further course (retreat_day) or a follow-up end."
        )
        return
    table = relapse.horizon_table(analysis, complement=True)
    horizon_metrics(table, "Further course within {years}").metric(
        "Courses followed", shown_count(analysis.times.entered)
    )
    st.caption("How follow-up ended: " + outcome_line(analysis.times))
    show_chart(
        relapse_figures.km_figure(analysis, complement=True, suppress_below=chart_suppression()),
        "Further course after the course",
        key="relapse_km_second",
    )
    if literature_applies(settings):
        show_chart(
            relapse_figures.literature_figure(analysis, suppress_below=chart_suppression()),
            "Further course beside published figures",
            key="relapse_literature_second",
        )
    with st.expander("Second-course tables"):
        show_table(table, hide_index=True, width="stretch", column_config=horizon_columns("started a further course"))
        csv_download(table, "second_course_by_year.csv")
        risk = relapse.number_at_risk_table(analysis, in_months=True)
        show_table(risk, hide_index=True, width="stretch")
        csv_download(risk, "second_course_number_at_risk.csv")


def excluded_section(times: relapse.EventTimes) -> None:
    if times.excluded.empty:
        st.caption(f"All {shown_count(times.total)} courses entered the estimate.")
        return
    with st.expander(f"{shown_count(len(times.excluded))} courses left out of the relapse estimate, and why"):
        counts = times.exclusion_counts()
        show_table(counts, hide_index=True, width="stretch")
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
    absent = [c for c in NEEDED if cohort.courses[c].isna().all()]
    if len(absent) == len(NEEDED):
        st.info(
            f"This dataset has no follow-up after the course: the columns {' and '.join(absent)} are empty, so relapse cannot be estimated."
        )
    else:
        times = relapse.relapse_times(cohort, settings)
        relapse_section(cohort, settings, times)
        dose_section(cohort, settings, times)
        second_course_section(cohort, settings, view.cohort)
