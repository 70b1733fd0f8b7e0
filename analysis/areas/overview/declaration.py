"""The courses at a glance (who was treated, with what dose, for how long), as the report and the tests see it."""

from analysis.areas.base import Area, ReportWriter
from analysis.cohort.model import Cohort


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    """Imported when a report is written, so that the summary and the command line never load plotly."""
    from analysis.areas.overview.report import report_section as write

    write(report, cohort, settings, group_by)


AREA = Area(key="overview", title="Overview", report_title="The courses at a glance", report=report_section)
