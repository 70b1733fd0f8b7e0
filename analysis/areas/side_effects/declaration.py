"""The side-effects area as the summary, the report and the tests see it (data and JSON call them adverse events)."""

from analysis.areas.base import Area
from analysis.areas.side_effects import compute, report, sections

AREA = Area(
    key="adverse_events",
    title="Side effects",
    report_title="Side effects",
    anchor="side-effects",
    settings=compute.SideEffectSettings,
    summary=compute.summary_section,
    report=report.report_section,
    sections=sections.SECTIONS,
    page="views/side_effects.py",
    headline="named_side_effects",
    finding=sections.finding,
    analyse=lambda cohort, settings: sections.analyse(cohort, compute.SideEffectSettings.from_settings(settings)),
)
