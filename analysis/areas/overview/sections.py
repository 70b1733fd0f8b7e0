"""The charts of the courses at a glance, each with its table, declared once: the page and the report draw these."""

from __future__ import annotations

from analysis.areas.base import Audience, Drawing, Section, Table
from analysis.areas.overview import compute as overview
from analysis.cohort.model import Cohort


def figures():
    """The figure functions, loaded only when a section is drawn (the JSON summary never loads plotly)."""
    from analysis.areas.overview import figures as overview_figures

    return overview_figures


def demographics(cohort: Cohort, result, audience: Audience) -> Drawing:
    return Drawing(
        figure=figures().demographics_figure(cohort, suppress_below=audience.suppress_below),
        table=Table("Demographics", overview.demographics_table(cohort), counts=("courses",), derived=("percent",)),
    )


def dose(cohort: Cohort, result, audience: Audience) -> Drawing:
    return Drawing(figure=figures().dose_figure(cohort, suppress_below=audience.suppress_below))


def duration(cohort: Cohort, result, audience: Audience) -> Drawing:
    return Drawing(figure=figures().duration_figure(cohort, suppress_below=audience.suppress_below))


def completeness(cohort: Cohort, result, audience: Audience) -> Drawing:
    table = overview.completeness(cohort)
    return Drawing(
        figure=figures().completeness_figure(table, suppress_below=audience.suppress_below),
        table=Table(
            "Data completeness per table and column",
            table,
            counts=("filled",),
            derived=("percent_filled",),
            labels={"percent_filled": "% filled"},
        ),
    )


SECTIONS = (
    Section("demographics", "Who was treated", demographics),
    Section("dose", "Dose received", dose, beside_next=True),
    Section("duration", "Course length", duration),
    Section("completeness", "Data completeness", completeness),
)


def finding(cohort: Cohort, result, audience: Audience) -> str:
    facts = overview.profile(cohort)
    few = audience.suppress_below is not None and 0 < facts["courses"] < audience.suppress_below
    length = facts["median_duration_days"]
    dose = facts["median_cumulative_dose_mg_per_kg"]
    medians = (
        ""
        if few or length is None
        else f"; the median course lasted {length:.0f} days"
        + ("" if dose is None else f" and gave {dose:.0f} mg/kg in all")
    )
    return f"{audience.count(facts['courses'])} courses of {audience.count(facts['patients'])} patients{medians}."
