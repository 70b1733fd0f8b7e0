"""The relapse area as the summary, the report and the tests see it."""

from analysis.areas.base import Area
from analysis.areas.relapse import compute, report, sections

AREA = Area(
    key="relapse",
    title="Relapse",
    report_title="Relapse",
    settings=compute.RelapseSettings,
    summary=compute.summary_section,
    report=report.report_section,
    sections=sections.SECTIONS,
    page="views/relapse.py",
    headline="relapse_free",
    finding=sections.finding,
    analyse=lambda cohort, settings: sections.analyse(cohort, compute.RelapseSettings.from_settings(settings, cohort)),
)
