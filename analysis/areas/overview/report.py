"""The courses-at-a-glance section of the HTML report (analysis.outputs.report): its charts, tables and notices, drawn by the
same figure functions as the page and suppressed as the report's audience requires."""

from __future__ import annotations

from analysis.areas.base import ReportWriter, Table
from analysis.areas.overview import compute as overview
from analysis.cohort.model import Cohort


def report_section(
    report: ReportWriter, cohort: Cohort, settings: dict | None = None, group_by: str | None = None
) -> None:
    # plotly loads only when a report is written, never for the JSON summary
    from analysis.areas.overview import figures as overview_figures

    report.chart("demographics", overview_figures.demographics_figure(cohort, suppress_below=report.suppress_below))
    report.chart("dose", overview_figures.dose_figure(cohort, suppress_below=report.suppress_below))
    report.chart("duration", overview_figures.duration_figure(cohort, suppress_below=report.suppress_below))
    report.table(Table("Demographics", overview.demographics_table(cohort), counts=("courses",), derived=("percent",)))
    completeness = overview.completeness(cohort)
    report.chart(
        "completeness", overview_figures.completeness_figure(completeness, suppress_below=report.suppress_below)
    )
    report.table(
        Table(
            "Data completeness per table and column",
            completeness,
            counts=("filled",),
            derived=("percent_filled",),
            labels={"percent_filled": "% filled"},
        )
    )
