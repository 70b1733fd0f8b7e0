"""The self-contained HTML report: one file a presenter can e-mail that opens anywhere, offline.

It holds what the app shows: the dataset's facts and fingerprint, the filters and definitions
used, the claims scorecard, every chart of the outcome pages (interactive plotly, drawn by the
same figure functions as the pages) and their key tables. plotly.js is written once, inline; the
file loads nothing from anywhere (no CDN, no web font, no remote image), and a Content Security
Policy forbids any request the page might otherwise make.

Reports are shared outputs, so small counts are suppressed by default (analysis.suppression:
1-4 shown as "<5" and the shares that would reveal them withheld), in the tables and in the charts
(every figure is drawn with `suppress_below`; charts of single courses are left out);
`suppress=False` makes a private report. The course timeline, a single patient's record, is
never included (analysis.timeline.INCLUDE_IN_REPORTS).

Every value that comes from the data (terms, site names, the source label) is escaped, so a
term like "<script>" shows as text.
"""
from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from . import __version__, claims, claims_figures
from .cohort import Cohort
from .stats import Estimate
from .suppression import DEFAULT_THRESHOLD, count_label, is_small, small_label, suppress_count, suppress_table

log = logging.getLogger(__name__)

TITLE = "Isotretinoin course outcomes"
MAX_TABLE_ROWS = 200
CHART_CONFIG = {"displaylogo": False, "responsive": True}
# No request of any kind: inline scripts and styles only; images only from data: URLs (plotly's own download button).
CONTENT_POLICY = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
                  "img-src data: blob:; font-src data:; worker-src blob:")
VERDICT_COLORS = {"supported": "#2e7d32", "contradicted": "#c62828", "inconclusive": "#ef6c00", "described": "#616161",
                  "not testable": "#7b1fa2"}
WITHHELD = "withheld"
LAB_TESTS_CHARTED = ("ALT", "AST", "TG", "TC")  # as the Labs page charts by default
INDIVIDUAL_CHARTS_LEFT_OUT = ("{chart} is not included in a shared report: it draws each course's own values, and a single "
                              "patient's results can be recognised. A private report includes it.")

# Readable column headers; a table can add its own.
COLUMN_LABELS = {
    "n": "courses counted", "ci_low": "95% CI from", "ci_high": "95% CI to", "rate": "share", "share": "share",
    "estimate": "estimate", "at_risk": "courses at risk", "courses": "courses", "group": "group",
    "month": "month", "method": "method", "band": "CIOMS band", "ci_bands": "bands the 95% CI covers",
}


# ---------------------------------------------------------------------------------------------
# Building blocks: tables, key figures and charts, each suppressed when the report is shared


@dataclass(frozen=True)
class Table:
    """A table of the report and what its columns hold, so small counts can be suppressed."""

    title: str
    frame: pd.DataFrame
    counts: tuple[str, ...] = ()  # counts of courses, patients or episodes
    derived: tuple[str, ...] = ()  # values computed from those counts (shares, intervals, medians)
    shares: tuple[str, ...] = ()  # values between 0 and 1, shown as percentages
    denominators: dict = field(default_factory=dict)  # count column -> column holding its total
    labels: dict = field(default_factory=dict)
    note: str = ""


@dataclass
class Report:
    """The HTML being written, with the suppression rule every block obeys."""

    suppress: bool = True
    threshold: int = DEFAULT_THRESHOLD
    parts: list[str] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def text(self, words: str, css: str = "") -> None:
        """A paragraph; `**bold**` becomes bold, everything else is escaped."""
        self.add(f"<p{_class(css)}>{_inline(words)}</p>")

    def notice(self, words: str) -> None:
        self.text(words, "notice")

    def chart(self, name: str, fig: go.Figure) -> None:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        if slug in self.charts:
            slug = f"{slug}-{len(self.charts)}"
        self.charts.append(slug)
        body = fig.to_html(full_html=False, include_plotlyjs=False, config=CHART_CONFIG, div_id=f"chart-{slug}")
        self.add(f'<figure class="chart" data-chart="{slug}">{body}</figure>')

    def table(self, table: Table) -> None:
        frame = table.frame
        if self.suppress:
            frame = suppress_table(frame, table.counts, self.threshold, table.derived, table.denominators)
        self.add(render_table(frame, table))

    def key_figures(self, title: str, rows: list[tuple]) -> None:
        """Headline shares with their interval, as (what, Estimate) or (what, Estimate, unit counted) rows;
        each row is suppressed on its own (they are unrelated)."""
        frame = pd.DataFrame([{"what": what, "estimate": e.estimate, "ci_low": e.ci_low, "ci_high": e.ci_high, "numerator": e.numerator,
                               "n": e.n, "counted_in": unit[0] if unit else "courses", "method": e.method} for what, e, *unit in rows])
        if self.suppress and not frame.empty:
            frame = pd.concat([suppress_table(frame.iloc[[i]], ("numerator", "n"), self.threshold, ("estimate", "ci_low", "ci_high"),
                                              {"numerator": "n"}) for i in range(len(frame))])
        labels = {"what": "", "estimate": "share", "numerator": "with it", "n": "counted", "counted_in": "counted in"}
        self.add(render_table(frame, Table(title, frame, shares=("estimate", "ci_low", "ci_high"), labels=labels)))

    def withheld(self, estimate: Estimate) -> bool:
        """True when this estimate's count (or its complement) is too small to show in a shared report."""
        if not self.suppress:
            return False
        counts = [estimate.n, estimate.numerator]
        if estimate.numerator is not None and estimate.n is not None:
            counts.append(estimate.n - estimate.numerator)
        return any(is_small(count, self.threshold) for count in counts if count is not None)

    @property
    def suppress_below(self) -> int | None:
        """What every figure of the report is drawn with: the threshold, or None in a private report."""
        return self.threshold if self.suppress else None

    @property
    def small_label(self) -> str:
        return small_label(self.threshold)


def _class(css: str) -> str:
    return f' class="{css}"' if css else ""


def _inline(words: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(str(words)))


def render_table(frame: pd.DataFrame, table: Table) -> str:
    """An HTML table: every cell escaped, shares as percentages, long tables cut with a note."""
    shown = frame.head(MAX_TABLE_ROWS)
    labels = {**COLUMN_LABELS, **table.labels}
    header = "".join(f"<th>{html.escape(str(labels.get(c, c)).replace('_', ' '))}</th>" for c in shown.columns)
    shares = set(table.shares)
    rows = "".join("<tr>" + "".join(f"<td>{format_cell(value, column in shares)}</td>" for column, value in zip(shown.columns, row))
                   + "</tr>" for row in shown.itertuples(index=False, name=None))
    notes = [table.note] if table.note else []
    if len(frame) > len(shown):
        notes.append(f"The first {len(shown):,} of {len(frame):,} rows.")
    caption = f"<caption>{html.escape(table.title)}</caption>" if table.title else ""
    note = f'<p class="table-note">{html.escape(" ".join(notes))}</p>' if notes else ""
    return f'<div class="table-wrap"><table>{caption}<thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>{note}</div>'


def format_cell(value, share: bool = False) -> str:
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if share:
            return f"{value * 100:.1f}%" if abs(value) >= 0.001 or value == 0 else f"{value * 100:.2g}%"
        if value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return html.escape(str(value))


# ---------------------------------------------------------------------------------------------
# Opening sections: the dataset, then the filters and definitions


def dataset_section(report: Report, cohort: Cohort, full: Cohort | None) -> None:
    shown = (lambda n: suppress_count(n, report.threshold)) if report.suppress else (lambda n: n)
    rows = [("Source", cohort.source), ("Synthetic data", "yes: generated, not real patients" if cohort.synthetic else "no"),
            ("SHA-256 fingerprint of the input", cohort.fingerprint or "not recorded")]
    if full is not None and full.n_courses != cohort.n_courses:
        rows.append(("Courses in the dataset", shown(full.n_courses)))
    rows += [("Courses in this report", shown(cohort.n_courses)), ("Patients in this report", shown(cohort.n_patients))]
    rows += [(f"Rows of {name.replace('_', ' ')}", shown(count)) for name, count in cohort.row_counts().items()]
    facts = "".join(f"<tr><th>{html.escape(label)}</th><td{_class('mono' if 'SHA' in label else '')}>{format_cell(value)}</td></tr>"
                    for label, value in rows)
    report.add(f'<table class="facts">{facts}</table>')


def definitions_section(report: Report, settings: dict, filters_description: str, group_by: str | None) -> None:
    from . import clearance, labs, relapse, side_effects

    report.add(f"<p><strong>Filters:</strong> {html.escape(filters_description or 'all courses')}</p>")
    chosen = "".join(f"<li><code>{html.escape(str(key))} = {html.escape(str(value))}</code></li>" for key, value in sorted(settings.items()))
    report.add(f"<p><strong>Settings changed from the defaults:</strong></p><ul>{chosen}</ul>" if chosen
               else "<p><strong>Settings:</strong> the defaults throughout.</p>")
    definitions = [
        ("Clearance", clearance.ClearanceSettings.from_settings(settings).describe()),
        ("Side effects", side_effects.SideEffectSettings.from_settings(settings).describe()),
        ("Relapse", relapse.RelapseSettings.from_settings(settings).describe()),
        ("Labs", labs.LabSettings.from_settings(settings).describe()),
        ("Group comparisons", f"by {group_by}" if group_by else "by the first grouping each page offers"),
    ]
    items = "".join(f"<dt>{html.escape(area)}</dt><dd>{html.escape(text[:1].upper() + text[1:])}</dd>" for area, text in definitions)
    report.add(f'<dl class="definitions">{items}</dl>')
    if report.suppress:
        report.text(f"**Small counts are suppressed**: in the tables and charts, counts from 1 to {report.threshold - 1} are shown as "
                    f"\"{report.small_label}\" and shares that would reveal them as \"suppressed\" or \"{WITHHELD}\"; zero is shown as 0. "
                    f"In the charts, hatched bars stand for hidden counts and a point resting on a count under {report.threshold} is "
                    "not drawn (each chart says which); charts of single courses are left out.")
    else:
        report.text("**Private report: every count is shown, however small.** Do not share it outside the care team.", "warning")


# ---------------------------------------------------------------------------------------------
# The claims scorecard


def claims_section(report: Report, cohort: Cohort, settings: dict) -> None:
    results = claims.evaluate_claims(cohort, settings)
    counts = claims.verdict_counts(results)
    report.add('<p class="tally">' + " ".join(f"{badge(v)} {n}" for v, n in counts.items() if n) + "</p>")
    report.text(f"{len(results)} claims quoted word for word from a widely read article on isotretinoin 20 mg. Each verdict compares "
                "the 95% confidence interval with the article's words turned into a number.")
    rows = "".join(claim_row(report, result) for result in results)
    report.add('<div class="table-wrap"><table class="claims"><thead><tr><th>Verdict</th><th>The article\'s words, and what the data show</th>'
               "<th>Estimate</th><th>Article</th><th>Published figures</th></tr></thead>"
               f"<tbody>{rows}</tbody></table></div>")
    subtitle = f"{count_label(cohort.n_courses, report.suppress_below)} courses" + (" of synthetic demo data" if cohort.synthetic else "")
    report.chart("claims scorecard", claims_figures.scorecard_figure(results, subtitle, suppress_below=report.suppress_below))


def _claim_withheld(report: Report, result) -> bool:
    items = [result, *result.parts]
    return any(report.withheld(Estimate(r.estimate, r.ci_low, r.ci_high, r.n, r.method, r.numerator)) for r in items
               if r.estimate is not None)


def badge(verdict: str) -> str:
    color = VERDICT_COLORS.get(verdict, "#616161")
    return f'<span class="badge" style="background:{color}">{html.escape(verdict.capitalize())}</span>'


def claim_row(report: Report, result: claims.ClaimResult) -> str:
    withheld = _claim_withheld(report, result)
    if result.estimate is None:
        estimate = "–"
    elif withheld:
        estimate = f"{WITHHELD}: fewer than {report.threshold} courses on one side"
    else:
        bound = "upper bound" if result.method == claims.ONE_SIDED_METHOD else "95% CI"
        estimate = (f"<strong>{html.escape(claims.percent(result.estimate))}</strong><br>{bound} "
                    f"{html.escape(claims.interval_text(result.ci_low, result.ci_high))}<br>n = {result.n:,} {html.escape(result.unit)}")
    explanation = (f"Details {WITHHELD}: a count under {report.threshold}." if withheld else result.explanation) or result.reason
    rule = claims.rule_text(result.direction, result.threshold)
    return (f'<tr data-claim="{html.escape(result.id)}"><td>{badge(result.verdict)}</td>'
            f"<td><strong>{html.escape(result.id)}</strong> <em>“{html.escape(result.quote)}”</em>"
            f'<div class="explanation">{html.escape(explanation)}</div></td>'
            f"<td>{estimate}</td><td>{html.escape(rule)}</td><td>{html.escape(result.literature or 'No published figure')}</td></tr>")


# ---------------------------------------------------------------------------------------------
# The outcome pages, in the order of the app


def _grouping(options: dict, group_by: str | None) -> str | None:
    """The grouping the report compares by: the one asked for when the page offers it, else the page's default."""
    if group_by in options:
        return group_by
    return next(iter(options), None)


def clearance_section(report: Report, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    from . import clearance, clearance_figures as figs

    if cohort.visits.empty:
        report.notice("The data has no visits table: clearance needs visits with a day and an IGA grade or lesion counts.")
        return
    chosen = clearance.ClearanceSettings.from_settings(settings)
    lacking = clearance.missing_for_definition(cohort, chosen)
    if lacking:
        report.notice(lacking)
    result = clearance.analyse(cohort, chosen)
    report.text(f"{chosen.describe()}.")
    report.key_figures("Key figures", [("Clear at the end of the course", result.end_of_course),
                                       ("Had been clear by month 6 (Kaplan-Meier)", result.cleared_by_month_6),
                                       ("Fewer inflammatory lesions at month 2-3 than at baseline", result.improvement),
                                       ("Initial flare", result.flare.estimate)])
    report.chart("clearance by month", figs.clearance_by_month_figure(result.by_month, chosen, suppress_below=report.suppress_below))
    report.table(Table("Clearance by month", result.by_month, counts=("n", "cleared"), derived=("rate", "ci_low", "ci_high"),
                       shares=("rate", "ci_low", "ci_high"), denominators={"cleared": "n"}, labels={"cleared": "courses clear"}))
    if result.lesions.empty:
        report.notice("The data has no lesion counts (inflammatory_lesions, noninflammatory_lesions, nodules or total_lesions): "
                      "the lesion chart needs at least one of them.")
    else:
        report.chart("lesion change", figs.lesion_change_figure(result.lesions, suppress_below=report.suppress_below))
        report.table(Table("Lesion counts and change from baseline (%) per month", result.lesions.drop(columns=["measure"]),
                           counts=("n", "n_change"), derived=("median", "q1", "q3", "change_median", "change_q1", "change_q3"),
                           labels={"label": "lesions", "n_change": "courses with a change"}))
    if result.iga.empty:
        report.notice("The data has no IGA grades (column iga in visits, or baseline_iga in courses): the severity chart needs them.")
    else:
        report.chart("iga distribution", figs.iga_distribution_figure(result.iga, suppress_below=report.suppress_below))
        grades = iga_table(result.iga)
        report.table(Table("Courses at each IGA grade per month", grades, counts=tuple(grades.columns[1:])))
    report.chart("initial flare", figs.flare_figure(result.flare, suppress_below=report.suppress_below))
    report.chart("time to clearance", figs.time_to_clearance_figure(result.time_to_clearance, chosen, suppress_below=report.suppress_below))
    time_table = clearance.time_to_clearance_table(result.time_to_clearance)
    report.table(Table("Time to clearance (Kaplan-Meier)", time_table, counts=("still_followed_not_clear", "cleared_that_month", "censored"),
                       derived=("share_cleared", "ci_low", "ci_high"), shares=("share_cleared", "ci_low", "ci_high")))
    options = clearance.grouping_options(cohort)
    key = _grouping(options, group_by)
    if key is None:
        report.notice("No grouping field has at least two values in these courses, so groups are not compared.")
    else:
        comparison = clearance.compare_groups(cohort, key, chosen)
        report.chart(f"clearance by {key}", figs.group_comparison_figure(comparison, chosen, options[key], suppress_below=report.suppress_below))
        p_text = "" if comparison.p_value is None else f", p = {comparison.p_value:.3g}"
        report.table(Table(f"Clear at the end of the course by {options[key].lower()}", comparison.table, counts=("n", "cleared"),
                           derived=("rate", "ci_low", "ci_high"), shares=("rate", "ci_low", "ci_high"), denominators={"cleared": "n"},
                           labels={"cleared": "courses clear"}, note=f"Test: {comparison.test}{p_text}."))
    report.add("<ul class=\"rules\">" + "".join(f"<li>{_inline(rule)}</li>" for rule in clearance.counting_rules(chosen)) + "</ul>")
    report.table(Table("What could not be used", result.quality, counts=("count",)))


def side_effects_section(report: Report, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    from . import clearance, side_effects as se, side_effects_figures as figs

    chosen = se.SideEffectSettings.from_settings(settings)
    data = se.event_data(cohort, chosen)
    if not data.has_event_data:
        report.notice("These courses have no adverse events recorded (the adverse_events table is empty), so side effects cannot be measured.")
        return
    report.text(f"Counted per course: {chosen.describe()}. {count_label(data.recorded_events, report.suppress_below)} episodes recorded, "
                f"{count_label(len(data.events), report.suppress_below)} counted.")
    table = se.incidence_table(data)
    report.key_figures("Key figures", [("Any side effect", se.any_event_estimate(data)),
                                       ("Course stopped because of a side effect", se.discontinuation_estimate(data)),
                                       (f"Side effects gone within {chosen.resolution_days} days of the last dose", se.resolved_share(data),
                                        "episodes")])
    named = se.named_effects_table(data)
    report.chart("named side effects", figs.named_effects_figure(named, chosen, suppress_below=report.suppress_below))
    report.table(Table("What the article says, and what happened", named.drop(columns=["method"]), counts=("courses", "at_risk"),
                       derived=("rate", "ci_low", "ci_high"), shares=("rate", "ci_low", "ci_high", "literature_rate"),
                       denominators={"courses": "at_risk"},
                       labels={"effect": "side effect", "preferred_terms": "preferred terms", "document_says": "article says",
                               "literature_rate": "published", "courses": "courses with it"}))
    report.chart("incidence", figs.incidence_figure(table, chosen, suppress_below=report.suppress_below))
    terms = table["term"].head(12).tolist()
    report.chart("onset", figs.onset_figure(se.onset_table(data, terms), terms, chosen, suppress_below=report.suppress_below))
    if data.events["grade"].notna().any():
        report.chart("grade", figs.grade_figure(se.worst_grade_table(data, terms), terms, chosen, suppress_below=report.suppress_below))
    else:
        report.notice("No severity grade is recorded (column grade of the adverse events is empty), so the grade chart is not shown.")
    if data.events["resolved_day"].notna().any():
        resolution = se.resolution_table(data, table["term"].head(8).tolist())
        report.chart("resolution", figs.resolution_figure(resolution, chosen, suppress_below=report.suppress_below))
        report.table(Table("Did they go away? (episodes)", resolution,
                           counts=tuple(c for c in resolution.columns if c not in ("term", "median_days_onset_to_resolution")),
                           derived=("median_days_onset_to_resolution",), labels={"term": "side effect"}))
    else:
        report.notice("No resolution day is recorded (column resolved_day of the adverse events is empty), so resolution cannot be shown.")
    report.chart("side effects per course", figs.events_per_course_figure(se.events_per_course(data), chosen, suppress_below=report.suppress_below))
    actions = se.action_table(data)
    actions = actions[actions["recorded"]].drop(columns=["recorded", "interval"])
    if not actions.empty:
        report.table(Table("What was done because of a side effect", actions, counts=("courses", "at_risk"),
                           derived=("rate", "ci_low", "ci_high"), shares=("rate", "ci_low", "ci_high"), denominators={"courses": "at_risk"},
                           labels={"what": ""}))
    groupings = [c for c in data.courses.columns if c not in ("course_idx", "end_day") and 1 < data.courses[c].nunique() <= 50]
    key = _grouping(dict.fromkeys(groupings), group_by)
    if key is not None:
        label = clearance.grouping_options(cohort).get(key, key)
        compared = se.comparison_table(data, key, None, "preferred_term")
        report.chart(f"side effects by {key}", figs.comparison_figure(compared, se.ANY_EFFECT, label, chosen, suppress_below=report.suppress_below))
        report.table(Table(f"Any side effect by {label.lower()}", compared.drop(columns=["interval"]), counts=("courses", "at_risk"),
                           derived=("rate", "ci_low", "ci_high", "risk_difference", "rd_ci_low", "rd_ci_high", "risk_ratio", "rr_ci_low",
                                    "rr_ci_high", "fisher_p"),
                           shares=("rate", "ci_low", "ci_high", "risk_difference", "rd_ci_low", "rd_ci_high"), denominators={"courses": "at_risk"},
                           labels={"courses": "courses with one", "fisher_p": "Fisher p", "reference": "compared with"}))
    columns = ["term", "body_system", "courses", "events", "at_risk", "rate", "ci_low", "ci_high", "band", "ci_bands", "recognised"]
    report.table(Table("Every side effect", table[columns], counts=("courses", "events", "at_risk"), derived=("rate", "ci_low", "ci_high"),
                       shares=("rate", "ci_low", "ci_high"), denominators={"courses": "at_risk"},
                       labels={"term": "side effect", "body_system": "body system", "courses": "courses with it", "events": "episodes",
                               "recognised": "in the dictionary"}))
    unknown = se.unrecognised_terms(data)
    if not unknown.empty:
        report.table(Table("Terms the dictionary did not recognise (counted as written)", unknown, counts=("events", "courses")))


def relapse_section(report: Report, cohort: Cohort, settings: dict, group_by: str | None) -> None:
    from . import relapse, relapse_figures as figs

    if all(c not in cohort.courses or cohort.courses[c].isna().all() for c in ("relapse_day", "followup_end_day")):
        report.notice("This dataset has no follow-up after the course: the columns relapse_day and followup_end_day are empty, "
                      "so relapse cannot be estimated.")
        return
    chosen = relapse.RelapseSettings.from_settings(settings)
    times = relapse.relapse_times(cohort, chosen)
    overall = relapse.relapse_analysis(cohort, chosen, times=times)
    if overall.times.entered == 0:
        report.notice("No course can enter the relapse estimate: each needs a last-dose day (end_day) and either a relapse or a follow-up end.")
        return
    horizon = dict(counts=("courses", "at_risk", "events_by_then"), derived=("estimate", "ci_low", "ci_high"),
                   shares=("estimate", "ci_low", "ci_high"), labels={"at_risk": "still followed", "events_by_then": "events by then",
                                                                    "years": "years after"})
    report.chart("relapse free", figs.km_figure(overall, suppress_below=report.suppress_below))
    report.table(Table("Relapse-free at 1, 2 and 3 years (Kaplan-Meier)", relapse.horizon_table(overall).drop(columns=["method"]), **horizon))
    risk = relapse.number_at_risk_table(overall, in_months=True)
    report.table(Table("Number still followed", risk, counts=tuple(c for c in risk.columns if c != "group")))
    report.chart("relapse literature", figs.literature_figure(overall, suppress_below=report.suppress_below))
    report.table(Table("Published figures used for comparison", figs.literature_table(overall)))
    exclusions = overall.times.exclusion_counts()
    if not exclusions.empty:
        report.table(Table("Courses left out of the relapse estimate", exclusions, counts=("courses",)))
    options = relapse.grouping_options(cohort)
    key = _grouping(options, group_by)
    if key is not None:
        grouped = relapse.relapse_analysis(cohort, chosen, key, times)
        report.chart(f"relapse by {key}", figs.km_figure(grouped, suppress_below=report.suppress_below))
        medians = relapse.median_table(grouped)[["group", "median_days"]]
        table = relapse.horizon_table(grouped).drop(columns=["method"]).merge(medians, on="group")
        report.table(Table(f"Relapse-free by {options[key].lower()}", table, **{**horizon, "derived": (*horizon["derived"], "median_days")},
                           note="Median days to relapse: empty where more than half are still free of relapse."))
    model = relapse.cox_model(cohort, chosen, times)
    if model.table.empty:
        report.notice("The Cox model was not fitted: " + "; ".join(model.notes))
    else:
        report.table(Table("Hazard ratios for relapse (Cox model, Efron ties)", model.table, counts=("courses", "events"),
                           derived=("hazard_ratio", "ci_low", "ci_high", "p_value"), labels={"hazard_ratio": "hazard ratio", "p_value": "p (Wald)"},
                           note=" ".join(model.notes)))
    second = relapse.second_course_analysis(cohort, chosen)
    if second.times.entered:
        report.chart("further course", figs.km_figure(second, complement=True, suppress_below=report.suppress_below))
        report.chart("further course literature", figs.literature_figure(second, suppress_below=report.suppress_below))
        further = relapse.horizon_table(second, complement=True).drop(columns=["method"])
        report.table(Table("Started a further course within 1, 2 and 3 years", further, **horizon))


def iga_table(iga: pd.DataFrame) -> pd.DataFrame:
    """Courses per month (rows) and IGA grade (columns), with the courses assessed that month."""
    wide = iga.pivot_table(index="month", columns="iga", values="courses", aggfunc="sum", fill_value=0)
    wide.columns = [f"IGA {grade}" for grade in wide.columns]
    assessed = iga.groupby("month")["n"].first().rename("courses assessed")
    return pd.concat([assessed, wide], axis=1).reset_index()


def grade_table(grades: pd.DataFrame) -> pd.DataFrame:
    """One row per test and grade level, so that suppressing a rare grade hides nothing else."""
    rows = [{"test": row["test"], "grade": f"{level} or higher", "courses_with_it": row[f"grade_{level}_plus_n"], "courses": row["courses"],
             "share": row[f"grade_{level}_plus"]} for row in grades.to_dict("records") for level in (1, 2, 3)]
    return pd.DataFrame(rows, columns=["test", "grade", "courses_with_it", "courses", "share"])


def labs_section(report: Report, cohort: Cohort, settings: dict) -> None:
    from . import labs, labs_figures as figs

    if cohort.labs.empty:
        report.notice("The data has no lab results: this part needs a labs table with patient_id, day, test, value and unit.")
        return
    chosen = labs.LabSettings.from_settings(settings)
    result = labs.analyse(cohort, chosen)
    data = result.data
    if data.n_rows == 0:
        report.notice("No lab result could be used: every row lacks a day, a value or a unit we can convert.")
        return
    report.text(f"{chosen.describe()}. On treatment = day 1 to the last dose.")
    report.key_figures("Key figures", [
        ("New raised liver enzymes (ALT or AST), normal at baseline", result.new_abnormal_estimate("Liver enzymes (ALT or AST)")),
        ("New raised total cholesterol, normal at baseline", result.new_abnormal_estimate("Total cholesterol")),
        ("New raised triglycerides, normal at baseline", result.new_abnormal_estimate("Triglycerides")),
        ("Liver and lipids tested before and during treatment", result.monitoring),
        ("Treatment months with a pregnancy test (courses of people who can become pregnant)", result.pregnancy_months, "months")])
    report.chart("new out of range", figs.new_abnormal_figure(result.new_abnormal, suppress_below=report.suppress_below))
    report.table(Table("New out-of-range values", result.new_abnormal, counts=("courses", "new_abnormal_n"),
                       derived=("new_abnormal", "ci_low", "ci_high"), shares=("new_abnormal", "ci_low", "ci_high", "literature"),
                       denominators={"new_abnormal_n": "courses"},
                       labels={"courses": "courses with a normal baseline", "new_abnormal_n": "went above the limit", "new_abnormal": "share",
                               "literature": "published", "literature_source": "source"}))
    present = [t for t in data.tests if t != "HCG"]
    charted = [t for t in LAB_TESTS_CHARTED if t in present] or present[:4]
    for test in charted:
        report.chart(f"trend {test}", figs.trend_figure(result.trend, test, chosen, suppress_below=report.suppress_below))
    if charted:
        report.chart("above the limit", figs.above_limit_figure(result.trend, charted, chosen, suppress_below=report.suppress_below))
    time_columns = [c for c in ("phase", "month", "visit") if c in result.trend.columns]
    statistic = ["median", "q1", "q3"] if chosen.statistic == "median_iqr" else ["mean", "sd"]
    report.table(Table(f"{labs.STATISTICS[chosen.statistic].capitalize()} per test and time point",
                       result.trend[["test", "unit", *time_columns, "n", *statistic, "upper_limit"]], counts=("n",), derived=tuple(statistic),
                       labels={"n": "results", "upper_limit": "upper limit"}))
    report.table(Table("Results above the upper limit per test and time point",
                       result.trend[["test", *time_columns, "limit_known_n", "above_uln_n", "above_uln", "ci_low", "ci_high"]],
                       counts=("limit_known_n", "above_uln_n"), derived=("above_uln", "ci_low", "ci_high"), shares=("above_uln", "ci_low", "ci_high"),
                       denominators={"above_uln_n": "limit_known_n"},
                       labels={"limit_known_n": "results with a known limit", "above_uln_n": "above the limit", "above_uln": "share"}))
    report.chart("grades", figs.grade_figure(result.grades, suppress_below=report.suppress_below))
    report.table(Table("Worst CTCAE v5 grade on treatment", grade_table(result.grades), counts=("courses_with_it", "courses"),
                       derived=("share",), shares=("share",), denominators={"courses_with_it": "courses"},
                       labels={"courses_with_it": "courses reaching it", "courses": "courses graded"}))
    for test in (t for t in labs.GRADED_TESTS if data.has(t)):
        shift = labs.shift_table(data, test)
        report.table(Table(f"{figs.test_name(test)}: grade before treatment (rows) and worst grade during treatment (columns), courses",
                           shift, counts=tuple(c for c in shift.columns if c != "baseline grade")))
    report.table(Table(f"Low / normal / high during treatment, per course ({labs.RANGE_RULES[chosen.range_rule]})", result.ranges,
                       counts=("low", "normal", "high", "courses")))
    if not result.recovery.empty and int(result.recovery["raised_at_end"].sum()):
        report.table(Table("After the course: back within the limit", result.recovery,
                           counts=("raised_at_end", "followed_after", "back_within_limit"),
                           derived=("median_days", "median_ci_low", "median_ci_high"),
                           labels={"raised_at_end": "raised at the end", "followed_after": "tested after",
                                   "back_within_limit": "back within the limit", "median_days": "median days",
                                   "median_ci_low": "95% CI from", "median_ci_high": "95% CI to"}))
    if not (data.has("ALT") and data.has("BILI")):
        report.notice("The eDISH plot needs ALT and total bilirubin results; the data lacks one of them.")
    elif report.suppress:
        report.notice(INDIVIDUAL_CHARTS_LEFT_OUT.format(chart="The eDISH plot (each course's peak ALT against peak bilirubin)"))
    else:
        report.chart("edish", figs.edish_figure(result.edish, suppress_below=report.suppress_below))
    if present and report.suppress:
        report.notice(INDIVIDUAL_CHARTS_LEFT_OUT.format(chart=f"The chart of individual courses' {figs.test_name(present[0])} results"))
    elif present:
        sample, total = labs.spaghetti_sample(data, present[0])
        report.chart(f"individual {present[0]}", figs.spaghetti_figure(sample, total, present[0], suppress_below=report.suppress_below))
    report.chart("monitoring", figs.compliance_figure(result.compliance, suppress_below=report.suppress_below))
    report.table(Table("Monitoring", result.compliance.drop(columns="key"), counts=("courses", "met"), derived=("share", "ci_low", "ci_high"),
                       shares=("share", "ci_low", "ci_high"), denominators={"met": "courses"}, labels={"met": "courses meeting it"}))
    if int(result.pregnancy["total"].max()):
        report.table(Table("Pregnancy tests (courses of people who can become pregnant)", result.pregnancy, counts=("met", "total"),
                           derived=("share", "ci_low", "ci_high"), shares=("share", "ci_low", "ci_high"), denominators={"met": "total"},
                           labels={"met": "yes", "total": "out of", "counted_in": "counted in"}))
    report.table(Table("Units as given and as analysed", data.conversions, counts=("rows", "excluded"),
                       labels={"unit_as_given": "unit as given", "rows": "results", "excluded": "left out"}))


def overview_section(report: Report, cohort: Cohort) -> None:
    from . import overview

    report.chart("demographics", overview.demographics_figure(cohort, suppress_below=report.suppress_below))
    report.chart("dose", overview.dose_figure(cohort, suppress_below=report.suppress_below))
    report.chart("duration", overview.duration_figure(cohort, suppress_below=report.suppress_below))
    report.table(Table("Demographics", overview.demographics_table(cohort), counts=("courses",), derived=("percent",)))
    completeness = overview.completeness(cohort)
    report.chart("completeness", overview.completeness_figure(completeness, suppress_below=report.suppress_below))
    report.table(Table("Data completeness per table and column", completeness, counts=("filled",), derived=("percent_filled",),
                       labels={"percent_filled": "% filled"}))


# ---------------------------------------------------------------------------------------------
# The whole report


def build_report(cohort: Cohort, settings: dict, filters_description: str, suppress: bool = True, *,
                 threshold: int = DEFAULT_THRESHOLD, group_by: str | None = None, full_cohort: Cohort | None = None,
                 generated_at: datetime | None = None) -> str:
    """The report as one HTML document.

    `cohort` is what the report describes (the filtered courses), `settings` the flat definition and
    threshold settings of the CLI's `--set` (checked first: a bad one raises ValueError),
    `filters_description` the filters in words. `suppress=False` makes a private report with every
    count shown. `group_by` names the course column the comparisons use (each page's default
    otherwise); `full_cohort`, the unfiltered dataset, adds its size to the facts.
    """
    settings = dict(settings or {})
    claims.check_claim_settings(settings)
    claims.check_area_settings(settings)
    started = time.perf_counter()
    when = (generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    report = Report(suppress=suppress, threshold=threshold)
    sections: list[tuple[str, str, Callable[[], None]]] = [
        ("dataset", "The dataset", lambda: dataset_section(report, cohort, full_cohort)),
        ("definitions", "Filters and definitions", lambda: definitions_section(report, settings, filters_description, group_by)),
        ("claims", "The article's claims, tested on these courses", lambda: claims_section(report, cohort, settings)),
        ("clearance", "Clearance", lambda: clearance_section(report, cohort, settings, group_by)),
        ("side-effects", "Side effects", lambda: side_effects_section(report, cohort, settings, group_by)),
        ("relapse", "Relapse", lambda: relapse_section(report, cohort, settings, group_by)),
        ("labs", "Labs", lambda: labs_section(report, cohort, settings)),
        ("overview", "The courses at a glance", lambda: overview_section(report, cohort)),
    ]
    body = []
    for section_id, title, write in sections:
        report.parts = []
        if cohort.n_courses == 0 and section_id not in ("dataset", "definitions"):
            report.notice("No course matches the filters: there is nothing to show.")
        else:
            _write_safely(report, title, write)
        body.append(f'<section id="{section_id}" data-section="{section_id}"><h2>{html.escape(title)}</h2>{"".join(report.parts)}</section>')
    log.info("report built in %.1f s with %d charts", time.perf_counter() - started, len(report.charts))
    return page(cohort, when, report, sections, "".join(body))


def _write_safely(report: Report, title: str, write: Callable[[], None]) -> None:
    """One part that fails does not lose the rest of the report; the failure is said where it happened."""
    try:
        write()
    except Exception as error:  # a defect in an area on unusual data: logged and shown, never hidden
        log.exception("report section %s failed", title)
        report.notice(f"This part could not be produced ({type(error).__name__}: {error}).")


def page(cohort: Cohort, when: datetime, report: Report, sections: Iterable[tuple], body: str) -> str:
    source = html.escape(cohort.label)
    contents = "".join(f'<li><a href="#{section_id}">{html.escape(title)}</a></li>' for section_id, title, _ in sections)
    synthetic = '<span class="badge" style="background:#ef6c00">Synthetic demo data</span> ' if cohort.synthetic else ""
    stamp = f"{when:%Y-%m-%d %H:%M} UTC"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="isotretinoin-outcomes {html.escape(__version__)}">
<title>{TITLE}: {source}</title>
<style>{STYLE}</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<header>
<h1>{TITLE}</h1>
<p class="lead">{synthetic}Report on <strong>{html.escape(cohort.source)}</strong> · {html.escape(count_label(cohort.n_courses, report.suppress_below))} courses · made {stamp}
· software version {html.escape(__version__)}</p>
<nav><ol>{contents}</ol></nav>
</header>
<main>{body}</main>
<footer>{footer_text(cohort, report)}<p>Made {stamp} by isotretinoin-outcomes {html.escape(__version__)} ·
SHA-256 of the input <span class="mono">{html.escape(cohort.fingerprint or "not recorded")}</span>.</p></footer>
</body>
</html>
"""


def footer_text(cohort: Cohort, report: Report) -> str:
    if cohort.synthetic:
        nature = ("<p><strong>Synthetic data.</strong> Every number in this report comes from a generated cohort whose parameters "
                  "follow published figures: no real patient is described. It shows what the dashboard does, not what isotretinoin does.</p>")
    else:
        nature = (f"<p><strong>Data:</strong> {html.escape(cohort.source)}, pseudonymous course records; the report holds aggregate "
                  "results only. Observational data: differences between groups are associations, not effects of treatment.</p>")
    shared = (f"<p>Counts from 1 to {report.threshold - 1} are shown as \"{report.small_label}\".</p>" if report.suppress
              else "<p><strong>Private report: small counts are not suppressed.</strong></p>")
    return nature + shared


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 0 24px 48px; color: #212121; line-height: 1.45; }
header { border-bottom: 2px solid #2f6f9f; margin-bottom: 16px; }
h1 { margin: 24px 0 4px; font-size: 28px; } h2 { margin-top: 40px; border-bottom: 1px solid #cfd8dc; padding-bottom: 4px; }
.lead { color: #455a64; } nav ol { columns: 2; padding-left: 20px; } nav a { color: #2f6f9f; }
.badge { display: inline-block; color: #fff; border-radius: 10px; padding: 1px 9px; font-size: 13px; font-weight: 600; white-space: nowrap; }
.tally .badge { margin-right: 2px; }
.table-wrap { overflow-x: auto; margin: 12px 0 20px; }
table { border-collapse: collapse; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; font-size: 14px; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #eceff1; }
td { font-variant-numeric: tabular-nums; }
table.facts th { background: none; font-weight: 600; width: 260px; }
table.claims td:first-child { white-space: nowrap; }
.explanation { color: #546e7a; font-size: 12px; margin-top: 4px; }
.mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
.notice { background: #e3f2fd; border-left: 4px solid #1565c0; padding: 8px 12px; }
.warning { background: #fff3e0; border-left: 4px solid #ef6c00; padding: 8px 12px; }
.table-note { color: #546e7a; font-size: 12px; margin: 2px 0 0; }
figure.chart { margin: 16px 0 24px; }
dl.definitions dt { font-weight: 600; margin-top: 6px; } dl.definitions dd { margin-left: 16px; }
footer { margin-top: 48px; border-top: 1px solid #cfd8dc; color: #546e7a; font-size: 13px; }
@media print { figure.chart, table { break-inside: avoid; } nav { display: none; } }
"""
