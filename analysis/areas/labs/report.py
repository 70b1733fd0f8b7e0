"""The labs section of the HTML report (analysis.outputs.report): the declared sections, drawn for the
report's audience, after the key figures."""

from __future__ import annotations

from analysis.areas.base import ReportWriter, report_audience, write_sections
from analysis.areas.labs import compute as labs
from analysis.areas.labs.sections import NO_LABS, NO_USABLE_LABS, SECTIONS
from analysis.cohort.model import Cohort


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None = None) -> None:
    if cohort.labs.empty:
        report.notice(NO_LABS)
        return
    chosen = labs.LabSettings.from_settings(settings)
    result = labs.analyse(cohort, chosen)
    if result.data.n_rows == 0:
        report.notice(NO_USABLE_LABS)
        return
    report.text(f"{chosen.describe()}. On treatment = day 1 to the last dose.")
    report.key_figures("Key figures", key_figures(result))
    write_sections(report, SECTIONS, cohort, result, report_audience(report, group_by))


def key_figures(result: labs.LabAnalysis) -> list[tuple]:
    return [
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
    ]
