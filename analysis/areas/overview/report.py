"""The courses-at-a-glance section of the HTML report (analysis.outputs.report): the declared sections,
drawn for the report's audience."""

from __future__ import annotations

from analysis.areas.base import ReportWriter, report_audience, write_sections
from analysis.areas.overview.sections import SECTIONS
from analysis.cohort.model import Cohort


def report_section(
    report: ReportWriter, cohort: Cohort, settings: dict | None = None, group_by: str | None = None
) -> None:
    write_sections(report, SECTIONS, cohort, None, report_audience(report, group_by))
