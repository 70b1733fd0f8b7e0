"""The claims scorecard as the summary, the report and the tests see it."""

from analysis.areas.base import Area, ReportWriter
from analysis.areas.claims import compute
from analysis.cohort.model import Cohort


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    """Imported when a report is written, so that the summary and the command line never load plotly."""
    from analysis.areas.claims.report import report_section as write

    write(report, cohort, settings, group_by)


AREA = Area(
    key="claims",
    title="Claims",
    report_title="The article's claims, tested on these courses",
    summary=compute.summary_section,
    report=report_section,
)
