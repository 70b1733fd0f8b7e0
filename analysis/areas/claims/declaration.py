"""The claims scorecard as the summary, the report and the tests see it."""

from analysis.areas.base import Area
from analysis.areas.claims import compute, report, sections

AREA = Area(
    key="claims",
    title="Claims",
    report_title="The article's claims, tested on these courses",
    summary=compute.summary_section,
    report=report.report_section,
    sections=sections.SECTIONS,
    headline="claims_scorecard",
    finding=sections.finding,
    analyse=compute.evaluate_claims,
)
