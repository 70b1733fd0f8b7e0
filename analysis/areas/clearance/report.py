"""The clearance section of the HTML report (analysis.outputs.report): its charts, tables and notices, drawn by the
same figure functions as the page and suppressed as the report's audience requires."""

from __future__ import annotations

import pandas as pd

from analysis.areas.base import ReportWriter, Table, chosen_grouping
from analysis.areas.clearance import compute as clearance
from analysis.cohort.grouping import grouping_options
from analysis.cohort.model import Cohort


def share_line(report: ReportWriter, chosen) -> tuple | None:
    """The article's line on shares clear: only where a reading of the claims tested counts clear this way."""
    return report.article_line("share_clear", chosen.definition, chosen.reduction_percent)


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    # plotly loads only when a report is written, never for the JSON summary
    from analysis.areas.clearance import figures as figs

    if cohort.visits.empty:
        report.notice(
            "The data has no visits table: clearance needs visits with a day and an IGA grade or lesion counts."
        )
        return
    chosen = clearance.ClearanceSettings.from_settings(settings)
    lacking = clearance.missing_for_definition(cohort, chosen)
    if lacking:
        report.notice(lacking)
    result = clearance.analyse(cohort, chosen)
    report.text(f"{chosen.describe()}.")
    report.key_figures(
        "Key figures",
        [
            ("Clear at the end of the course", result.end_of_course),
            ("Had been clear by month 6 (Kaplan-Meier)", result.cleared_by_month_6),
            ("Fewer inflammatory lesions at month 2-3 than at baseline", result.improvement),
            ("Initial flare", result.flare.estimate),
        ],
    )
    report.chart(
        "clearance by month",
        figs.clearance_by_month_figure(
            result.by_month, chosen, suppress_below=report.suppress_below, article=share_line(report, chosen)
        ),
    )
    report.table(
        Table(
            "Clearance by month",
            result.by_month,
            counts=("n", "cleared"),
            derived=("rate", "ci_low", "ci_high"),
            shares=("rate", "ci_low", "ci_high"),
            denominators={"cleared": "n"},
            labels={"cleared": "courses clear"},
        )
    )
    if result.lesions.empty:
        report.notice(
            "The data has no lesion counts (inflammatory_lesions, noninflammatory_lesions, nodules or total_lesions): "
            "the lesion chart needs at least one of them."
        )
    else:
        median_line = report.article_line("median_reduction")
        report.chart(
            "lesion change",
            figs.lesion_change_figure(result.lesions, suppress_below=report.suppress_below, article=median_line),
        )
        report.table(
            Table(
                "Lesion counts and change from baseline (%) per month",
                result.lesions.drop(columns=["measure"]),
                counts=("n", "n_change"),
                derived=("median", "q1", "q3", "change_median", "change_q1", "change_q3"),
                labels={"label": "lesions", "n_change": "courses with a change"},
            )
        )
    if result.iga.empty:
        report.notice(
            "The data has no IGA grades (column iga in visits, or baseline_iga in courses): the severity chart needs them."
        )
    else:
        report.chart("iga distribution", figs.iga_distribution_figure(result.iga, suppress_below=report.suppress_below))
        grades = iga_table(result.iga)
        report.table(Table("Courses at each IGA grade per month", grades, counts=tuple(grades.columns[1:])))
    report.chart("initial flare", figs.flare_figure(result.flare, suppress_below=report.suppress_below))
    report.chart(
        "time to clearance",
        figs.time_to_clearance_figure(result.time_to_clearance, chosen, suppress_below=report.suppress_below),
    )
    time_table = clearance.time_to_clearance_table(result.time_to_clearance)
    report.table(
        Table(
            "Time to clearance (Kaplan-Meier)",
            time_table,
            counts=("still_followed_not_clear", "cleared_that_month", "censored"),
            derived=("share_cleared", "ci_low", "ci_high"),
            shares=("share_cleared", "ci_low", "ci_high"),
        )
    )
    options = grouping_options(cohort)
    key = chosen_grouping(options, group_by)
    if key is None:
        report.notice("No grouping field has at least two values in these courses, so groups are not compared.")
    else:
        comparison = clearance.compare_groups(cohort, key, chosen)
        report.chart(
            f"clearance by {key}",
            figs.group_comparison_figure(
                comparison,
                chosen,
                options[key],
                suppress_below=report.suppress_below,
                article=share_line(report, chosen),
            ),
        )
        p_text = "" if comparison.p_value is None else f", p = {comparison.p_value:.3g}"
        report.table(
            Table(
                f"Clear at the end of the course by {options[key].lower()}",
                comparison.table,
                counts=("n", "cleared"),
                derived=("rate", "ci_low", "ci_high"),
                shares=("rate", "ci_low", "ci_high"),
                denominators={"cleared": "n"},
                labels={"cleared": "courses clear"},
                note=f"Test: {comparison.test}{p_text}.",
            )
        )
    report.rules(clearance.counting_rules(chosen))
    report.table(Table("What could not be used", result.quality, counts=("count",)))


def iga_table(iga: pd.DataFrame) -> pd.DataFrame:
    """Courses per month (rows) and IGA grade (columns), with the courses assessed that month."""
    wide = iga.pivot_table(index="month", columns="iga", values="courses", aggfunc="sum", fill_value=0)
    wide.columns = [f"IGA {grade}" for grade in wide.columns]
    assessed = iga.groupby("month")["n"].first().rename("courses assessed")
    return pd.concat([assessed, wide], axis=1).reset_index()
