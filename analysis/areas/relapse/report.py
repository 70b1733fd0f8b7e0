"""The relapse section of the HTML report (analysis.outputs.report): the declared sections, drawn for the
report's audience."""

from __future__ import annotations

from analysis.areas.base import ReportWriter, report_audience, write_sections
from analysis.areas.relapse import compute as relapse
from analysis.areas.relapse.sections import NO_FOLLOW_UP, SECTIONS, analyse, without_follow_up
from analysis.cohort.model import Cohort


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    if without_follow_up(cohort):
        report.notice(NO_FOLLOW_UP)
        return
    result = analyse(cohort, relapse.RelapseSettings.from_settings(settings, cohort))
    write_sections(report, SECTIONS, cohort, result, report_audience(report, group_by))
