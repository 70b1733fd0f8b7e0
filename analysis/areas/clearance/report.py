"""The clearance section of the HTML report (analysis.outputs.report): the declared sections, drawn for
the report's audience, between the key figures and the counting rules."""

from __future__ import annotations

from analysis.areas.base import ReportWriter, Table, report_audience, write_sections
from analysis.areas.clearance import compute as clearance
from analysis.areas.clearance.sections import NO_VISITS, SECTIONS
from analysis.cohort.model import Cohort


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    if cohort.visits.empty:
        report.notice(NO_VISITS)
        return
    chosen = clearance.ClearanceSettings.from_settings(settings)
    lacking = clearance.missing_for_definition(cohort, chosen)
    if lacking:
        report.notice(lacking)
    result = clearance.analyse(cohort, chosen)
    report.text(f"{chosen.describe()}.")
    report.key_figures("Key figures", key_figures(result))
    audience = report_audience(report, group_by)
    write_sections(report, SECTIONS, cohort, result, audience)
    report.rules(clearance.counting_rules(chosen))
    report.table(Table("What could not be used", result.quality, counts=("count",)))


def key_figures(result: clearance.ClearanceAnalysis) -> list[tuple]:
    return [
        ("Clear at the end of the course", result.end_of_course),
        ("Had been clear by month 6 (Kaplan-Meier)", result.cleared_by_month_6),
        ("Fewer inflammatory lesions at month 2-3 than at baseline", result.improvement),
        ("Initial flare", result.flare.estimate),
    ]
