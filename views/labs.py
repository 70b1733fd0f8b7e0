"""Labs: how liver enzymes and lipids move during and after the course, how often and how far they
leave the normal range, and whether the recommended blood and pregnancy tests were done."""

import streamlit as st

from analysis.areas.claims import compute as claims
from analysis.areas.labs import compute as labs
from analysis.areas.labs import figures as labs_figures
from analysis.areas.literature import reference
from analysis.cohort.grouping import grouping_options
from analysis.ingest.lab_harmonisation import lab_findings
from analysis.ingest.lab_units import BY_CODE, reference_table
from ui.charts import show_chart
from ui.claim_sets import active_claim_set
from ui.page import csv_download, page_header, require_data, show_table
from ui.presenter import chart_suppression, shown_count, shown_of, shown_share

DEFAULT_TESTS = ("ALT", "AST", "TG", "TC")
NO_GROUPING = "none"
SHARE_LABELS = {
    "share": "share",
    "new_abnormal": "share",
    "above_uln": "above the limit",
    "ci_low": "95% CI from",
    "ci_high": "95% CI to",
    "literature": "published",
}


def table_with_download(table, file_name: str, key: str, labels: dict | None = None) -> None:
    """A table with plain column names and shares as percentages, and its CSV download (raw values)."""
    shown = table.rename(columns={**SHARE_LABELS, **(labels or {})})
    percent = [SHARE_LABELS[c] for c in table.columns if c in SHARE_LABELS]
    config = {c: st.column_config.NumberColumn(format="percent") for c in percent}
    show_table(shown, hide_index=True, width="stretch", column_config=config)
    csv_download(table, file_name, key=key)


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


@st.cache_resource(scope="session", max_entries=2, show_spinner="Harmonising units and analysing lab results ...")
def analysed(view_key: tuple, settings: labs.LabSettings, group: str | None, _cohort) -> labs.LabAnalysis:
    """The area's numbers, reused while the dataset, the filters and the choices stay the same."""
    return labs.analyse(_cohort, settings, group_by=group)


def view_key(view) -> tuple:
    cohort = view.filtered
    return (
        view.cohort.fingerprint,
        view.cohort.source,
        view.cohort.n_courses,
        view.filters.describe(),
        cohort.n_courses,
        len(cohort.labs),
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


def out_of_range_section(result: labs.LabAnalysis) -> None:
    st.subheader("How often values left the normal range")
    show_chart(
        labs_figures.new_abnormal_figure(
            result.new_abnormal,
            suppress_below=chart_suppression(),
            article=claims.new_abnormal_line(active_claim_set()),
        ),
        "New out-of-range lab values",
        key="labs_new_abnormal_chart",
    )
    with st.expander("New out-of-range values (table)"):
        table_with_download(
            result.new_abnormal,
            "labs_new_abnormal.csv",
            "labs_new_abnormal_csv",
            {
                "courses": "courses with a normal baseline",
                "new_abnormal_n": "went above the limit",
                "literature_source": "source",
            },
        )


def trends_section(result: labs.LabAnalysis, tests: list[str]) -> None:
    st.subheader("Values during and after the course")
    settings = result.data.settings
    columns = st.columns(2)
    for i, test in enumerate(tests):
        with columns[i % 2]:
            show_chart(
                labs_figures.trend_figure(result.trend, test, settings, suppress_below=chart_suppression()),
                f"{test} during and after the course",
                key=f"labs_trend_{test}",
            )
    show_chart(
        labs_figures.above_limit_figure(result.trend, tests, settings, suppress_below=chart_suppression()),
        "Lab results above the upper limit",
        key="labs_above_limit",
    )
    with st.expander("Summary per test and time point (table)"):
        table_with_download(
            result.trend,
            "labs_by_time.csv",
            "labs_trend_csv",
            {"n": "results", "above_uln_n": "results above the limit", "limit_known_n": "results with a known limit"},
        )


def grades_section(result: labs.LabAnalysis) -> None:
    st.subheader("How far values rose (CTCAE v5 grades)")
    show_chart(
        labs_figures.grade_figure(result.grades, suppress_below=chart_suppression()),
        "Lab CTCAE grades",
        key="labs_grades_chart",
    )
    graded = [t for t in labs.GRADED_TESTS if result.data.has(t)]
    if not graded:
        st.info("No gradable test (ALT, AST, TG, TC or CK) in the data: the shift table needs one of them.")
        return
    test = st.selectbox(
        "Shift table for", graded, format_func=labs_figures.test_name, key="labs_shift_test", bind="query-params"
    )
    table = labs.shift_table(result.data, test)
    st.markdown(
        f"**{labs_figures.test_name(test)}: grade before treatment (rows) and worst grade during treatment (columns)**, courses"
    )
    show_table(table, hide_index=True, width="stretch")
    csv_download(table, f"labs_shift_{test}.csv", key="labs_shift_csv")
    st.caption(
        "Grade 0 = not above the limit. Only courses with a graded result during treatment are counted; "
        "'no graded baseline' = no result in the baseline window or no upper limit known."
    )
    with st.expander("Low / normal / high during treatment, per course (table)"):
        st.caption(labs.RANGE_RULES[result.data.settings.range_rule].capitalize() + ".")
        table_with_download(result.ranges, "labs_low_normal_high.csv", "labs_ranges_csv")
    with st.expander("Grades per test (table)"):
        table_with_download(result.grades, "labs_grades.csv", "labs_grades_csv")


def after_course_section(result: labs.LabAnalysis) -> None:
    st.subheader("After the course")
    if result.recovery.empty or int(result.recovery["raised_at_end"].sum()) == 0:
        st.info(
            "No course was still above the upper limit at its last result during treatment, or the last dose (end_day) is unknown."
        )
        return
    table_with_download(
        result.recovery,
        "labs_after_course.csv",
        "labs_recovery_csv",
        {
            "raised_at_end": "raised at the end",
            "followed_after": "tested after",
            "back_within_limit": "back within the limit",
            "median_days": "median days",
            "median_ci_low": "95% CI from",
            "median_ci_high": "95% CI to",
        },
    )
    st.caption(
        "Raised at the end: courses whose last result during treatment was above the upper limit. Tested after: of these, "
        "courses with a result after the last dose. Median days: from the last dose to the first result back within the "
        "limit (Kaplan-Meier, 95% CI; courses never seen back count as still raised at their last result). "
        "The timing depends on when follow-up tests were taken."
    )


def liver_section(result: labs.LabAnalysis) -> None:
    st.subheader("Liver safety: enzymes and bilirubin together")
    if not (result.data.has("ALT") and result.data.has("BILI")):
        missing = " and ".join(t for t in ("ALT", "BILI") if not result.data.has(t))
        st.info(f"The eDISH plot needs ALT and total bilirubin results; the data has no {missing} results.")
        return
    if chart_suppression():
        st.info(labs_figures.INDIVIDUAL_LEVEL)
        return
    show_chart(labs_figures.edish_figure(result.edish), "eDISH liver safety", key="labs_edish")
    st.caption(
        "Each point is one course's highest ALT and highest total bilirubin during treatment, as multiples of the upper limit "
        "(log scales). A point top right (ALT at least 3 times and bilirubin over 2 times the limit) is a possible Hy's law "
        "case: a signal of drug-induced liver injury that needs a clinician's review."
    )


def individual_section(result: labs.LabAnalysis) -> None:
    st.subheader("Individual courses")
    if chart_suppression():
        st.info(labs_figures.INDIVIDUAL_LEVEL)
        return
    tests = [t for t in result.data.tests if t != "HCG"]
    test = st.selectbox(
        "Test", tests, format_func=labs_figures.test_name, key="labs_spaghetti_test", bind="query-params"
    )
    sample, total = labs.spaghetti_sample(result.data, test)
    show_chart(labs_figures.spaghetti_figure(sample, total, test), f"{test} individual courses", key="labs_spaghetti")
    if total > len(sample["course_idx"].unique()):
        st.caption(f"At most {result.data.settings.spaghetti_courses:,} courses are drawn so the chart stays readable.")


def monitoring_section(result: labs.LabAnalysis) -> None:
    st.subheader("Was monitoring done?")
    st.markdown(
        'The article: **"Regular blood tests are recommended during the treatment to monitor liver health and lipid levels."** '
        'and **"Effective birth control is required before, during, and after the course."**'
    )
    show_chart(
        labs_figures.compliance_figure(result.compliance, suppress_below=chart_suppression()),
        "Lab monitoring",
        key="labs_compliance_chart",
    )
    with st.expander("Monitoring (table)"):
        table_with_download(
            result.compliance.drop(columns="key"),
            "labs_monitoring.csv",
            "labs_compliance_csv",
            {"met": "courses meeting it", "courses": "courses"},
        )
    st.markdown("**Pregnancy tests** (courses of people who can become pregnant)")
    if int(result.pregnancy["total"].max()) == 0:
        st.info(
            "No course has can_become_pregnant = yes with a known last dose (end_day): pregnancy-test compliance cannot be assessed."
        )
        return
    table_with_download(
        result.pregnancy,
        "labs_pregnancy_tests.csv",
        "labs_pregnancy_csv",
        {"met": "yes", "total": "out of", "counted_in": "counted in"},
    )
    st.caption(
        "Treatment months = the course's length in months, rounded; a month counts as tested when a pregnancy test (HCG) falls in it "
        "(the first month also takes a test in the 30 days before the first dose). Months of one course are not independent, "
        "so treat the interval as a guide. A positive test = above the test's upper limit."
    )


def data_notes_section(result: labs.LabAnalysis, report) -> None:
    with st.expander("Units, reference limits and rows not used"):
        data = result.data
        findings = data.findings if len(data.findings) else lab_findings(report.issues)  # found once, at load
        excluded = int(data.excluded["rows"].sum()) if len(data.excluded) else 0
        st.markdown(
            f"**{shown_count(data.n_rows)}** lab results analysed; **{shown_count(excluded)}** left out (see below). Values were converted to one "
            "unit per test (mg/dL for lipids, glucose and bilirubin; U/L for enzymes) with the factors in LITERATURE.md. "
            "Where a result has no reference limit, the default limit of its test is used."
        )
        units = data.conversions
        show_table(units, hide_index=True, width="stretch")
        csv_download(units, "labs_units.csv", key="labs_units_csv")
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
        st.info("The data has no lab results: this page needs a labs table with patient_id, day, test, value and unit.")
    else:
        settings, group = settings_widgets(cohort)
        result = analysed(view_key(view), settings, group, cohort)
        if result.data.n_rows == 0:
            st.info(
                "No lab result could be used: every row lacks a day, a value or a unit we can convert. "
                "'Units, reference limits and rows not used' below lists why."
            )
        else:
            present = [t for t in result.data.tests if t != "HCG"]
            default = [t for t in DEFAULT_TESTS if t in present] or present[:4]
            chosen = st.multiselect(
                "Tests to chart",
                present,
                default=default,
                format_func=lambda t: f"{t} · {BY_CODE[t].name}" if t in BY_CODE else t,
                key="labs_tests",
                bind="query-params",
            )
            st.caption(f"{settings.describe()}. On treatment = day 1 to the last dose.")
            headline(result)
            out_of_range_section(result)
            if chosen:
                trends_section(result, chosen)
            grades_section(result)
            after_course_section(result)
            liver_section(result)
            individual_section(result)
            monitoring_section(result)
        data_notes_section(result, view.result.report)
