"""The claims scorecard section of the HTML report (analysis.outputs.report): its charts, tables and notices, drawn by the
same figure functions as the page and suppressed as the report's audience requires."""

from __future__ import annotations

import html

from analysis.areas.base import WITHHELD, ReportWriter, report_audience, write_sections
from analysis.areas.claims import compute as claims
from analysis.areas.claims.sections import SECTIONS
from analysis.cohort.model import Cohort
from analysis.stats.intervals import Estimate

VERDICT_COLORS = {
    "supported": "#2e7d32",
    "contradicted": "#c62828",
    "inconclusive": "#ef6c00",
    "described": "#616161",
    "not testable": "#7b1fa2",
    "depends on the reading": "#1565c0",
}


def report_section(report: ReportWriter, cohort: Cohort, settings: dict, group_by: str | None = None) -> None:
    results = claims.evaluate_claims(cohort, settings)
    counts = claims.verdict_counts(results)
    report.add('<p class="tally">' + " ".join(f"{badge(v)} {n}" for v, n in counts.items() if n) + "</p>")
    report.text(
        f"{len(results)} claims {claims.set_description(claims.active_claim_set(settings))}. Each verdict compares "
        "the 95% confidence interval with the source's words turned into a number; a claim read more than one way "
        "shows each reading."
    )
    rows = "".join(claim_row(report, result) for result in results)
    report.add(
        '<div class="table-wrap"><table class="claims"><thead><tr><th>Verdict</th><th>The article\'s words, and what the data show</th>'
        "<th>Estimate</th><th>Article</th><th>Published figures</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )
    write_sections(report, SECTIONS, cohort, results, report_audience(report, group_by))


def _claim_withheld(report: ReportWriter, result) -> bool:
    items = [result, *result.parts]
    return any(
        report.withheld(Estimate(r.estimate, r.ci_low, r.ci_high, r.n, r.method, r.numerator))
        for r in items
        if r.estimate is not None or r.n
    )


def badge(verdict: str) -> str:
    color = VERDICT_COLORS.get(verdict, "#616161")
    return f'<span class="badge" style="background:{color}">{html.escape(verdict.capitalize())}</span>'


def estimate_cell(report: ReportWriter, result: claims.ClaimResult) -> str:
    if result.estimate is None:
        return "–"
    if _claim_withheld(report, result):
        return f"{WITHHELD}: fewer than {report.threshold} courses on one side"
    bound = "upper bound" if result.method == claims.ONE_SIDED_METHOD else "95% CI"
    return (
        f"<strong>{html.escape(claims.percent(result.estimate))}</strong><br>{bound} "
        f"{html.escape(claims.interval_text(result.ci_low, result.ci_high))}<br>n = {result.n:,} {html.escape(result.unit)}"
    )


def explanation_text(report: ReportWriter, result: claims.ClaimResult) -> str:
    if _claim_withheld(report, result):
        return f"Details {WITHHELD}: a count under {report.threshold}."
    return result.explanation or result.reason


def claim_row(report: ReportWriter, result: claims.ClaimResult) -> str:
    """One claim: its verdict (by rule when it is read several ways), each reading's figures and rule."""
    quote = f"<strong>{html.escape(result.id)}</strong> <em>“{html.escape(result.quote)}”</em>"
    if result.several_readings:
        readings = result.readings
        words = f'<div class="explanation">{html.escape(result.verdict_rule.capitalize())}.</div>' + "".join(
            f'<div class="explanation">{badge(r.verdict)} Read as {html.escape(r.reads_as)}: '
            f"{html.escape(explanation_text(report, r))}</div>"
            for r in readings
        )
    else:
        readings = (result,)
        words = f'<div class="explanation">{html.escape(explanation_text(report, result))}</div>'
    prefix = (lambda r: f"({r.reading}) ") if result.several_readings else (lambda r: "")
    estimates = "<br>".join(prefix(r) + estimate_cell(report, r) for r in readings)
    rules = "<br>".join(html.escape(prefix(r) + claims.rule_text(r.direction, r.threshold)) for r in readings)
    return (
        f'<tr data-claim="{html.escape(result.id)}"><td>{badge(result.verdict)}</td><td>{quote}{words}</td>'
        f"<td>{estimates}</td><td>{rules}</td><td>{html.escape(result.literature or 'No published figure')}</td></tr>"
    )
