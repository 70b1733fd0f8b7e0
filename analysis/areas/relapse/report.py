"""The relapse section of the HTML report (analysis.outputs.report): its charts, tables and notices, drawn by the
same figure functions as the page and suppressed as the report's audience requires."""

from __future__ import annotations

from analysis.areas.base import ReportWriter, Table, chosen_grouping
from analysis.areas.relapse import compute as relapse
from analysis.cohort.model import Cohort


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    # plotly loads only when a report is written, never for the JSON summary
    from analysis.areas.relapse import figures as figs

    if all(c not in cohort.courses or cohort.courses[c].isna().all() for c in ("relapse_day", "followup_end_day")):
        report.notice(
            "This dataset has no follow-up after the course: the columns relapse_day and followup_end_day are empty, "
            "so relapse cannot be estimated."
        )
        return
    chosen = relapse.RelapseSettings.from_settings(settings, cohort)
    times = relapse.relapse_times(cohort, chosen)
    overall = relapse.relapse_analysis(cohort, chosen, times=times)
    if overall.times.entered == 0:
        report.notice(
            "No course can enter the relapse estimate: each needs a last-dose day (end_day) and either a relapse or a follow-up end."
        )
        return
    horizon = dict(
        counts=("courses", "at_risk", "events_by_then"),
        derived=("estimate", "ci_low", "ci_high"),
        shares=("estimate", "ci_low", "ci_high"),
        labels={"at_risk": "still followed", "events_by_then": "events by then", "years": "years after"},
    )
    report.chart("relapse free", figs.km_figure(overall, suppress_below=report.suppress_below))
    report.table(
        Table(
            "Relapse-free at 1, 2 and 3 years (Kaplan-Meier)",
            relapse.horizon_table(overall).drop(columns=["method"]),
            **horizon,
        )
    )
    risk = relapse.number_at_risk_table(overall, in_months=True)
    report.table(Table("Number still followed", risk, counts=tuple(c for c in risk.columns if c != "group")))
    report.chart("relapse literature", figs.literature_figure(overall, suppress_below=report.suppress_below))
    report.table(Table("Published figures used for comparison", figs.literature_table(overall)))
    exclusions = overall.times.exclusion_counts()
    if not exclusions.empty:
        report.table(Table("Courses left out of the relapse estimate", exclusions, counts=("courses",)))
    options = relapse.grouping_options(cohort)
    key = chosen_grouping(options, group_by)
    if key is not None:
        grouped = relapse.relapse_analysis(cohort, chosen, key, times)
        report.chart(f"relapse by {key}", figs.km_figure(grouped, suppress_below=report.suppress_below))
        medians = relapse.median_table(grouped)[["group", "median_days"]]
        table = relapse.horizon_table(grouped).drop(columns=["method"]).merge(medians, on="group")
        report.table(
            Table(
                f"Relapse-free by {options[key].lower()}",
                table,
                **{**horizon, "derived": (*horizon["derived"], "median_days")},
                note="Median days to relapse: empty where more than half are still free of relapse.",
            )
        )
    model = relapse.cox_model(cohort, chosen, times)
    if model.table.empty:
        report.notice("The Cox model was not fitted: " + "; ".join(model.notes))
    else:
        report.table(
            Table(
                "Hazard ratios for relapse (Cox model, Efron ties)",
                model.table,
                counts=("courses", "events"),
                derived=("hazard_ratio", "ci_low", "ci_high", "p_value"),
                labels={"hazard_ratio": "hazard ratio", "p_value": "p (Wald)"},
                note=" ".join(model.notes),
            )
        )
    second = relapse.second_course_analysis(cohort, chosen)
    if second.times.entered:
        report.chart("further course", figs.km_figure(second, complement=True, suppress_below=report.suppress_below))
        report.chart("further course literature", figs.literature_figure(second, suppress_below=report.suppress_below))
        further = relapse.horizon_table(second, complement=True).drop(columns=["method"])
        report.table(Table("Started a further course within 1, 2 and 3 years", further, **horizon))
