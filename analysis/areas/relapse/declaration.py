"""The relapse area as the summary, the report and the tests see it."""

from analysis.areas.base import Area, ReportWriter
from analysis.areas.relapse import compute
from analysis.cohort.model import Cohort


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    """Imported when a report is written, so that the summary and the command line never load plotly."""
    from analysis.areas.relapse.report import report_section as write

    write(report, cohort, settings, group_by)


AREA = Area(
    key="relapse",
    title="Relapse",
    report_title="Relapse",
    settings=compute.RelapseSettings,
    summary=compute.summary_section,
    report=report_section,
)
