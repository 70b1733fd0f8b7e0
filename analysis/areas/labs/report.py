"""The labs section of the HTML report (analysis.outputs.report): its charts, tables and notices, drawn by the
same figure functions as the page and suppressed as the report's audience requires."""

from __future__ import annotations

import pandas as pd

from analysis.areas.base import INDIVIDUAL_CHARTS_LEFT_OUT, ReportWriter, Table
from analysis.areas.labs import compute as labs
from analysis.cohort.model import Cohort

LAB_TESTS_CHARTED = ("ALT", "AST", "TG", "TC")  # as the Labs page charts by default


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None = None) -> None:
    # plotly loads only when a report is written, never for the JSON summary
    from analysis.areas.labs import figures as figs

    if cohort.labs.empty:
        report.notice(
            "The data has no lab results: this part needs a labs table with patient_id, day, test, value and unit."
        )
        return
    chosen = labs.LabSettings.from_settings(settings)
    result = labs.analyse(cohort, chosen)
    data = result.data
    if data.n_rows == 0:
        report.notice("No lab result could be used: every row lacks a day, a value or a unit we can convert.")
        return
    report.text(f"{chosen.describe()}. On treatment = day 1 to the last dose.")
    report.key_figures(
        "Key figures",
        [
            (
                "New raised liver enzymes (ALT or AST), normal at baseline",
                result.new_abnormal_estimate("Liver enzymes (ALT or AST)"),
            ),
            ("New raised total cholesterol, normal at baseline", result.new_abnormal_estimate("Total cholesterol")),
            ("New raised triglycerides, normal at baseline", result.new_abnormal_estimate("Triglycerides")),
            ("Liver and lipids tested before and during treatment", result.monitoring),
            (
                "Treatment months with a pregnancy test (courses of people who can become pregnant)",
                result.pregnancy_months,
                "months",
            ),
        ],
    )
    report.chart(
        "new out of range",
        figs.new_abnormal_figure(
            result.new_abnormal, suppress_below=report.suppress_below, article=report.article_line("lab_new_abnormal")
        ),
    )
    report.table(
        Table(
            "New out-of-range values",
            result.new_abnormal,
            counts=("courses", "new_abnormal_n"),
            derived=("new_abnormal", "ci_low", "ci_high"),
            shares=("new_abnormal", "ci_low", "ci_high", "literature"),
            denominators={"new_abnormal_n": "courses"},
            labels={
                "courses": "courses with a normal baseline",
                "new_abnormal_n": "went above the limit",
                "new_abnormal": "share",
                "literature": "published",
                "literature_source": "source",
            },
        )
    )
    present = [t for t in data.tests if t != "HCG"]
    charted = [t for t in LAB_TESTS_CHARTED if t in present] or present[:4]
    for test in charted:
        report.chart(
            f"trend {test}", figs.trend_figure(result.trend, test, chosen, suppress_below=report.suppress_below)
        )
    if charted:
        report.chart(
            "above the limit",
            figs.above_limit_figure(result.trend, charted, chosen, suppress_below=report.suppress_below),
        )
    time_columns = [c for c in ("phase", "month", "visit") if c in result.trend.columns]
    statistic = ["median", "q1", "q3"] if chosen.statistic == "median_iqr" else ["mean", "sd"]
    report.table(
        Table(
            f"{labs.STATISTICS[chosen.statistic].capitalize()} per test and time point",
            result.trend[["test", "unit", *time_columns, "n", *statistic, "upper_limit"]],
            counts=("n",),
            derived=tuple(statistic),
            labels={"n": "results", "upper_limit": "upper limit"},
        )
    )
    report.table(
        Table(
            "Results above the upper limit per test and time point",
            result.trend[["test", *time_columns, "limit_known_n", "above_uln_n", "above_uln", "ci_low", "ci_high"]],
            counts=("limit_known_n", "above_uln_n"),
            derived=("above_uln", "ci_low", "ci_high"),
            shares=("above_uln", "ci_low", "ci_high"),
            denominators={"above_uln_n": "limit_known_n"},
            labels={
                "limit_known_n": "results with a known limit",
                "above_uln_n": "above the limit",
                "above_uln": "share",
            },
        )
    )
    report.chart("grades", figs.grade_figure(result.grades, suppress_below=report.suppress_below))
    report.table(
        Table(
            "Worst CTCAE v5 grade on treatment",
            grade_table(result.grades),
            counts=("courses_with_it", "courses"),
            derived=("share",),
            shares=("share",),
            denominators={"courses_with_it": "courses"},
            labels={"courses_with_it": "courses reaching it", "courses": "courses graded"},
        )
    )
    for test in (t for t in labs.GRADED_TESTS if data.has(t)):
        shift = labs.shift_table(data, test)
        report.table(
            Table(
                f"{figs.test_name(test)}: grade before treatment (rows) and worst grade during treatment (columns), courses",
                shift,
                counts=tuple(c for c in shift.columns if c != "baseline grade"),
            )
        )
    report.table(
        Table(
            f"Low / normal / high during treatment, per course ({labs.RANGE_RULES[chosen.range_rule]})",
            result.ranges,
            counts=("low", "normal", "high", "courses"),
        )
    )
    if not result.recovery.empty and int(result.recovery["raised_at_end"].sum()):
        report.table(
            Table(
                "After the course: back within the limit",
                result.recovery,
                counts=("raised_at_end", "followed_after", "back_within_limit"),
                derived=("median_days", "median_ci_low", "median_ci_high"),
                labels={
                    "raised_at_end": "raised at the end",
                    "followed_after": "tested after",
                    "back_within_limit": "back within the limit",
                    "median_days": "median days",
                    "median_ci_low": "95% CI from",
                    "median_ci_high": "95% CI to",
                },
            )
        )
    if not (data.has("ALT") and data.has("BILI")):
        report.notice("The eDISH plot needs ALT and total bilirubin results; the data lacks one of them.")
    elif report.suppress:
        report.notice(
            INDIVIDUAL_CHARTS_LEFT_OUT.format(chart="The eDISH plot (each course's peak ALT against peak bilirubin)")
        )
    else:
        report.chart("edish", figs.edish_figure(result.edish, suppress_below=report.suppress_below))
    if present and report.suppress:
        report.notice(
            INDIVIDUAL_CHARTS_LEFT_OUT.format(
                chart=f"The chart of individual courses' {figs.test_name(present[0])} results"
            )
        )
    elif present:
        sample, total = labs.spaghetti_sample(data, present[0])
        report.chart(
            f"individual {present[0]}",
            figs.spaghetti_figure(sample, total, present[0], suppress_below=report.suppress_below),
        )
    report.chart("monitoring", figs.compliance_figure(result.compliance, suppress_below=report.suppress_below))
    report.table(
        Table(
            "Monitoring",
            result.compliance.drop(columns="key"),
            counts=("courses", "met"),
            derived=("share", "ci_low", "ci_high"),
            shares=("share", "ci_low", "ci_high"),
            denominators={"met": "courses"},
            labels={"met": "courses meeting it"},
        )
    )
    if int(result.pregnancy["total"].max()):
        report.table(
            Table(
                "Pregnancy tests (courses of people who can become pregnant)",
                result.pregnancy,
                counts=("met", "total"),
                derived=("share", "ci_low", "ci_high"),
                shares=("share", "ci_low", "ci_high"),
                denominators={"met": "total"},
                labels={"met": "yes", "total": "out of", "counted_in": "counted in"},
            )
        )
    report.table(
        Table(
            "Units as given and as analysed",
            data.conversions,
            counts=("rows", "excluded"),
            labels={"unit_as_given": "unit as given", "rows": "results", "excluded": "left out"},
        )
    )


def grade_table(grades: pd.DataFrame) -> pd.DataFrame:
    """One row per test and grade level, so that suppressing a rare grade hides nothing else."""
    rows = [
        {
            "test": row["test"],
            "grade": f"{level} or higher",
            "courses_with_it": row[f"grade_{level}_plus_n"],
            "courses": row["courses"],
            "share": row[f"grade_{level}_plus"],
        }
        for row in grades.to_dict("records")
        for level in (1, 2, 3)
    ]
    return pd.DataFrame(rows, columns=["test", "grade", "courses_with_it", "courses", "share"])
