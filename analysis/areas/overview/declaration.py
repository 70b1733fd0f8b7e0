"""The courses at a glance (who was treated, with what dose, for how long), as the report and the tests see it."""

from analysis.areas.base import Area
from analysis.areas.overview import report, sections

AREA = Area(
    key="overview",
    title="Overview",
    report_title="The courses at a glance",
    report=report.report_section,
    sections=sections.SECTIONS,
    page="views/overview.py",
    headline="duration",
    finding=sections.finding,
)
