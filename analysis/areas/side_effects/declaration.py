"""The side-effects area as the summary, the report and the tests see it (data and JSON call them adverse events)."""

from analysis.areas.base import Area, ReportWriter
from analysis.areas.side_effects import compute
from analysis.cohort.model import Cohort


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    """Imported when a report is written, so that the summary and the command line never load plotly."""
    from analysis.areas.side_effects.report import report_section as write

    write(report, cohort, settings, group_by)


AREA = Area(
    key="adverse_events",
    title="Side effects",
    report_title="Side effects",
    anchor="side-effects",
    settings=compute.SideEffectSettings,
    summary=compute.summary_section,
    report=report_section,
)
