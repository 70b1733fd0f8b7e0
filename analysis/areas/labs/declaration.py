"""The labs area as the summary, the report and the tests see it."""

from analysis.areas.base import Area
from analysis.areas.labs import compute, report, sections

AREA = Area(
    key="labs",
    title="Labs",
    report_title="Labs",
    settings=compute.LabSettings,
    summary=compute.summary_section,
    report=report.report_section,
    sections=sections.SECTIONS,
    page="views/labs.py",
    headline="new_out_of_range",
    finding=sections.finding,
    analyse=lambda cohort, settings: compute.analyse(cohort, compute.LabSettings.from_settings(settings)),
)
