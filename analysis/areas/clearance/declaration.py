"""The clearance area as the summary, the report and the tests see it."""

from analysis.areas.base import Area
from analysis.areas.clearance import compute, report, sections

AREA = Area(
    key="clearance",
    title="Clearance",
    report_title="Clearance",
    settings=compute.ClearanceSettings,
    summary=compute.summary_section,
    report=report.report_section,
    sections=sections.SECTIONS,
    page="views/clearance.py",
    headline="clearance_by_month",
    finding=sections.finding,
    analyse=lambda cohort, settings: compute.analyse(cohort, compute.ClearanceSettings.from_settings(settings)),
)
