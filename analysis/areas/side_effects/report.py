"""The side-effects section of the HTML report (analysis.outputs.report): the declared sections, drawn for
the report's audience, after the key figures."""

from __future__ import annotations

from analysis.areas.base import ReportWriter, report_audience, write_sections
from analysis.areas.side_effects import compute as se
from analysis.areas.side_effects.sections import NO_EVENTS, SECTIONS, analyse
from analysis.cohort.model import Cohort
from analysis.stats.suppression import count_label


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    chosen = se.SideEffectSettings.from_settings(settings)
    result = analyse(cohort, chosen)
    data = result.data
    if not data.has_event_data:
        report.notice(NO_EVENTS)
        return
    report.text(
        f"Counted per course: {chosen.describe()}. {count_label(data.recorded_events, report.suppress_below)} "
        f"episodes recorded, {count_label(len(data.events), report.suppress_below)} counted."
    )
    report.key_figures("Key figures", key_figures(data))
    write_sections(report, SECTIONS, cohort, result, report_audience(report, group_by))


def key_figures(data: se.EventData) -> list[tuple]:
    return [
        ("Any side effect", se.any_event_estimate(data)),
        ("Course stopped because of a side effect", se.discontinuation_estimate(data)),
        (
            f"Side effects gone within {data.settings.resolution_days} days of the last dose",
            se.resolved_share(data),
            "episodes",
        ),
    ]
