"""Labs: how liver enzymes and lipids move during and after the course, how often and how far they
leave the normal range, and whether the recommended blood and pregnancy tests were done."""

from functools import partial

import streamlit as st

from analysis.areas.claims import compute as claims
from analysis.areas.labs import compute as labs
from analysis.areas.labs.sections import NO_LABS, NO_USABLE_LABS, SECTIONS
from analysis.areas.literature import reference
from analysis.cohort.grouping import grouping_options
from analysis.ingest.lab_harmonisation import lab_findings
from analysis.ingest.lab_units import reference_table
from ui.claim_sets import active_claim_set
from ui.kept import kept
from ui.page import csv_download, opened, page_header, require_data, show_table
from ui.presenter import shown_count, shown_of, shown_share
from ui.sections import page_audience, show_sections

NO_GROUPING = "none"


def settings_widgets(cohort) -> tuple[labs.LabSettings, str | None]:
    has_visits = "visit" in cohort.labs and cohort.labs["visit"].notna().any()
    columns = st.columns([2, 2, 3])
    statistic = columns[0].segmented_control(
        "Summary shown",
        list(labs.STATISTICS),
        format_func={"median_iqr": "Median and IQR", "mean_sd": "Mean and SD"}.get,
        default="median_iqr",
        key="labs_statistic",
        bind="query-params",
        help="Median and interquartile range (the middle half of results) resist a few extreme values; mean and SD match trial tables.",
    )
    time_options = ["month", "visit"] if has_visits else ["month"]
    time = columns[1].segmented_control(
        "Time axis",
        time_options,
        format_func={"month": "Month of course", "visit": "Nominal visit"}.get,
        default="month",
        key="labs_time",
        bind="query-params",
        help="Month of course = days from the first dose / 30.44, rounded. Nominal visits (e.g. 'Month 4') need the visit column in labs.",
    )
    options = {NO_GROUPING: "No comparison", **grouping_options(cohort)}
    group = columns[2].selectbox(
        "Compare groups", list(options), format_func=options.get, key="labs_group", bind="query-params"
    )
    with st.expander("Definitions"):
        left, right = st.columns(2)
        baseline_days = left.number_input(
            "Baseline: last result up to this many days before the first dose",
            min_value=0,
            max_value=365,
            value=90,
            step=15,
            key="labs_baseline_days",
            bind="query-params",
        )
        rule = right.selectbox(
            "Low / normal / high per course",
            list(labs.RANGE_RULES),
            key="labs_range_rule",
            bind="query-params",
            format_func={
                "any": "Any value out of range counts",
                "most_extreme": "The single most extreme value (CDISC pilot)",
            }.get,
        )
    settings = labs.LabSettings(
        statistic=statistic or "median_iqr", group=time or "month", baseline_days=int(baseline_days), range_rule=rule
    )
    return settings, None if group == NO_GROUPING else group


def analysed(view_key: tuple, settings: labs.LabSettings, group: str | None, cohort) -> labs.LabAnalysis:
    """The area's numbers, kept with the (filtered) cohort for these choices (`ui.kept`)."""
    return kept(
        cohort,
        "labs.analysed",
        (view_key, settings, group),
        lambda: labs.analyse(cohort, settings, group_by=group),
        keep=2,
        spinner="Harmonising units and analysing lab results ...",
    )


def percent(estimate) -> str:
    if estimate.estimate is None:
        return "–"
    return shown_share(
        f"{estimate.estimate:.1%}" if estimate.estimate < 0.1 else f"{estimate.estimate:.0%}",
        estimate.numerator,
        estimate.n,
    )


def interval(estimate) -> str:
    if estimate.estimate is None or estimate.ci_low is None:
        return "not estimable"
    return shown_share(f"95% CI {estimate.ci_low:.1%}-{estimate.ci_high:.1%}", estimate.numerator, estimate.n)


def headline(result: labs.LabAnalysis) -> None:
    liver = result.new_abnormal_estimate("Liver enzymes (ALT or AST)")
    cholesterol = result.new_abnormal_estimate("Total cholesterol")
    triglycerides = result.new_abnormal_estimate("Triglycerides")
    columns = st.columns(5)
    for column, label, estimate, key in (
        (columns[0], "New raised liver enzymes", liver, "new_abnormal_transaminases"),
        (columns[1], "New raised cholesterol", cholesterol, "new_abnormal_tc"),
        (columns[2], "New raised triglycerides", triglycerides, "new_abnormal_tg"),
    ):
        published = reference(key)
        column.metric(
            label,
            percent(estimate),
            interval(estimate),
            delta_color="off",
            delta_arrow="off",
            help=f"{shown_of(estimate.numerator, estimate.n)} courses with a normal baseline went above the upper limit "
            f"on treatment. Published: {published.value:.0%} ({published.source}).",
        )
    columns[3].metric(
        "Liver and lipids monitored",
        percent(result.monitoring),
        interval(result.monitoring),
        delta_color="off",
        delta_arrow="off",
        help=f"{shown_of(result.monitoring.numerator, result.monitoring.n)} courses had liver tests "
        "and lipids both before the first dose and during treatment.",
    )
    months = result.pregnancy_months
    if result.data.has("HCG"):
        columns[4].metric(
            "Months with a pregnancy test",
            percent(months),
            interval(months),
            delta_color="off",
            delta_arrow="off",
            help=f"{shown_of(months.numerator, months.n)} treatment months, courses of people who can become pregnant.",
        )
    else:  # no test at all is not "0.0% of months tested"
        columns[4].metric(
            "Months with a pregnancy test",
            "none in the data",
            help="The data holds no pregnancy test (HCG) result, so monitoring for pregnancy cannot be measured.",
        )
    if liver.estimate is not None or cholesterol.estimate is not None:
        st.markdown(
            'The article lists **"Liver enzyme changes"** and **"Increased cholesterol levels"** among *rare* side effects, '
            "which by the usual label convention means fewer than 1 in 1,000 courses (0.1%), as the claims scorecard reads "
            "them (C13, C14). "
            f"Here {percent(liver)} of courses with normal liver tests before treatment had a raised ALT or AST during treatment "
            f"({interval(liver)}), and {percent(cholesterol)} a raised total cholesterol ({interval(cholesterol)}). "
            "Zane et al. (2006, 13,772 patients) found 11% and 31%, and 44% for triglycerides."
        )


def data_notes_section(result: labs.LabAnalysis, report) -> None:
    box = opened("Units, reference limits and rows not used", "labs_data_notes")
    if box is None:
        return
    with box:
        data = result.data
        findings = data.findings if len(data.findings) else lab_findings(report.issues)  # found once, at load
        excluded = int(data.excluded["rows"].sum()) if len(data.excluded) else 0
        st.markdown(
            f"**{shown_count(data.n_rows)}** lab results analysed; **{shown_count(excluded)}** left out (see below). Values were converted to one "
            "unit per test (mg/dL for lipids, glucose and bilirubin; U/L for enzymes) with the factors in LITERATURE.md. "
            "Where a result has no reference limit, the default limit of its test is used."
        )
        if excluded:
            show_table(data.excluded, hide_index=True, width="stretch")
            csv_download(data.excluded, "labs_rows_left_out.csv", key="labs_excluded_csv")
        if len(findings):
            st.markdown("Problems found in the lab file (row as counted in the file, header = row 1):")
            show_table(findings, hide_index=True, width="stretch")
            csv_download(findings, "labs_findings.csv", key="labs_findings_csv")
        reference_tests = reference_table()
        st.markdown("Recognised tests, accepted units and default limits:")
        show_table(reference_tests, hide_index=True, width="stretch")
        csv_download(reference_tests, "labs_recognised_tests.csv", key="labs_reference_csv")


view = page_header(
    "Labs",
    "Liver enzymes and blood fats during and after the course, how often and how far they left the normal "
    "range, and whether the recommended blood and pregnancy tests were done, held against the article's "
    '"rare" and published figures.',
)
if require_data(view):
    cohort = view.filtered
    if cohort.labs.empty:
        st.info(NO_LABS)
    else:
        settings, group = settings_widgets(cohort)
        result = analysed(view.key("labs"), settings, group, cohort)
        if result.data.n_rows == 0:
            st.info(f"{NO_USABLE_LABS} 'Units, reference limits and rows not used' below lists why.")
        else:
            st.caption(f"{settings.describe()}. On treatment = day 1 to the last dose.")
            headline(result)
            show_sections(SECTIONS, cohort, result, page_audience(partial(claims.article_line, active_claim_set())))
        data_notes_section(result, view.result.report)
