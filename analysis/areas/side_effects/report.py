"""The side effects section of the HTML report (analysis.outputs.report): its charts, tables and notices, drawn by the
same figure functions as the page and suppressed as the report's audience requires."""

from __future__ import annotations

from analysis.areas.base import ReportWriter, Table, chosen_grouping
from analysis.areas.side_effects import compute as se
from analysis.cohort.grouping import grouping_options
from analysis.cohort.model import Cohort
from analysis.stats.suppression import count_label


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    # plotly loads only when a report is written, never for the JSON summary
    from analysis.areas.side_effects import figures as figs

    chosen = se.SideEffectSettings.from_settings(settings)
    data = se.event_data(cohort, chosen)
    if not data.has_event_data:
        report.notice(
            "These courses have no adverse events recorded (the adverse_events table is empty), so side effects cannot be measured."
        )
        return
    report.text(
        f"Counted per course: {chosen.describe()}. {count_label(data.recorded_events, report.suppress_below)} episodes recorded, "
        f"{count_label(len(data.events), report.suppress_below)} counted."
    )
    table = se.incidence_table(data)
    report.key_figures(
        "Key figures",
        [
            ("Any side effect", se.any_event_estimate(data)),
            ("Course stopped because of a side effect", se.discontinuation_estimate(data)),
            (
                f"Side effects gone within {chosen.resolution_days} days of the last dose",
                se.resolved_share(data),
                "episodes",
            ),
        ],
    )
    named = se.named_effects_table(data)
    report.chart("named side effects", figs.named_effects_figure(named, chosen, suppress_below=report.suppress_below))
    report.table(
        Table(
            "What the article says, and what happened",
            named.drop(columns=["method"]),
            counts=("courses", "at_risk"),
            derived=("rate", "ci_low", "ci_high"),
            shares=("rate", "ci_low", "ci_high", "literature_rate"),
            denominators={"courses": "at_risk"},
            labels={
                "effect": "side effect",
                "preferred_terms": "preferred terms",
                "document_says": "article says",
                "literature_rate": "published",
                "courses": "courses with it",
            },
        )
    )
    report.chart("incidence", figs.incidence_figure(table, chosen, suppress_below=report.suppress_below))
    terms = table["term"].head(12).tolist()
    report.chart(
        "onset", figs.onset_figure(se.onset_table(data, terms), terms, chosen, suppress_below=report.suppress_below)
    )
    if data.events["grade"].notna().any():
        report.chart(
            "grade",
            figs.grade_figure(se.worst_grade_table(data, terms), terms, chosen, suppress_below=report.suppress_below),
        )
    else:
        report.notice(
            "No severity grade is recorded (column grade of the adverse events is empty), so the grade chart is not shown."
        )
    if data.events["resolved_day"].notna().any():
        resolution = se.resolution_table(data, table["term"].head(8).tolist())
        report.chart("resolution", figs.resolution_figure(resolution, chosen, suppress_below=report.suppress_below))
        report.table(
            Table(
                "Did they go away? (episodes)",
                se.with_display_terms(resolution, chosen),
                counts=tuple(c for c in resolution.columns if c not in ("term", "median_days_onset_to_resolution")),
                derived=("median_days_onset_to_resolution",),
                labels={"term": "side effect"},
            )
        )
    else:
        report.notice(
            "No resolution day is recorded (column resolved_day of the adverse events is empty), so resolution cannot be shown."
        )
    report.chart(
        "side effects per course",
        figs.events_per_course_figure(se.events_per_course(data), chosen, suppress_below=report.suppress_below),
    )
    actions = se.action_table(data)
    actions = actions[actions["recorded"]].drop(columns=["recorded", "interval"])
    if not actions.empty:
        report.table(
            Table(
                "What was done because of a side effect",
                actions,
                counts=("courses", "at_risk"),
                derived=("rate", "ci_low", "ci_high"),
                shares=("rate", "ci_low", "ci_high"),
                denominators={"courses": "at_risk"},
                labels={"what": ""},
            )
        )
    groupings = [
        c for c in data.courses.columns if c not in ("course_idx", "end_day") and 1 < data.courses[c].nunique() <= 50
    ]
    key = chosen_grouping(dict.fromkeys(groupings), group_by)
    if key is not None:
        label = grouping_options(cohort).get(key, key)
        compared = se.comparison_table(data, key, None, "preferred_term")
        report.chart(
            f"side effects by {key}",
            figs.comparison_figure(compared, se.ANY_EFFECT, label, chosen, suppress_below=report.suppress_below),
        )
        report.table(
            Table(
                f"Any side effect by {label.lower()}",
                compared.drop(columns=["interval"]),
                counts=("courses", "at_risk"),
                derived=(
                    "rate",
                    "ci_low",
                    "ci_high",
                    "risk_difference",
                    "rd_ci_low",
                    "rd_ci_high",
                    "risk_ratio",
                    "rr_ci_low",
                    "rr_ci_high",
                    "fisher_p",
                ),
                shares=("rate", "ci_low", "ci_high", "risk_difference", "rd_ci_low", "rd_ci_high"),
                denominators={"courses": "at_risk"},
                labels={"courses": "courses with one", "fisher_p": "Fisher p", "reference": "compared with"},
            )
        )
    columns = [
        "term",
        "body_system",
        "courses",
        "events",
        "at_risk",
        "rate",
        "ci_low",
        "ci_high",
        "band",
        "ci_bands",
        "recognised",
    ]
    report.table(
        Table(
            "Every side effect",
            se.with_display_terms(table[columns], chosen),
            counts=("courses", "events", "at_risk"),
            derived=("rate", "ci_low", "ci_high"),
            shares=("rate", "ci_low", "ci_high"),
            denominators={"courses": "at_risk"},
            labels={
                "term": "side effect",
                "body_system": "body system",
                "courses": "courses with it",
                "events": "episodes",
                "recognised": "in the dictionary",
            },
        )
    )
    unknown = se.unrecognised_terms(data)
    if not unknown.empty:
        report.table(
            Table("Terms the dictionary did not recognise (counted as written)", unknown, counts=("events", "courses"))
        )
