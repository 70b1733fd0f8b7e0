"""The self-contained HTML report: one file a presenter can e-mail that opens anywhere, offline.

It holds what the app shows: the dataset's facts and fingerprint, the filters and definitions
used, the claims scorecard, every chart of the outcome pages (interactive plotly, drawn by the
same figure functions as the pages) and their key tables. plotly.js is written once, inline; the
file loads nothing from anywhere (no CDN, no web font, no remote image), and a Content Security
Policy forbids any request the page might otherwise make.

Reports are shared outputs, so small counts are suppressed by default (analysis.stats.suppression:
1-4 shown as "<5" and the shares that would reveal them withheld), in the tables and in the charts
(every figure is drawn with `suppress_below`; charts of single courses are left out);
`suppress=False` makes a private report. The course timeline, a single patient's record, is
never included (analysis.areas.timeline.compute.INCLUDE_IN_REPORTS).

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
from datetime import UTC, datetime
from functools import partial

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from analysis import __version__
from analysis.areas.base import WITHHELD, Table
from analysis.areas.claims.compute import (
    ClaimSet,
    active_claim_set,
    article_line,
    check_claim_settings,
)
from analysis.areas.measured import check_area_settings
from analysis.areas.registry import AREAS
from analysis.cohort.model import Cohort
from analysis.stats.intervals import Estimate
from analysis.stats.suppression import (
    DEFAULT_THRESHOLD,
    count_label,
    is_small,
    small_label,
    suppress_count,
    suppress_table,
)

log = logging.getLogger(__name__)

TITLE = "Isotretinoin course outcomes"
MAX_TABLE_ROWS = 200
CHART_CONFIG = {"displaylogo": False, "responsive": True}
# No request of any kind: inline scripts and styles only; images only from data: URLs (plotly's own download button).
CONTENT_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; worker-src blob:"
)

# Readable column headers; a table can add its own.


# ---------------------------------------------------------------------------------------------
# Building blocks: tables, key figures and charts, each suppressed when the report is shared


@dataclass
class Report:
    """The HTML being written, with the suppression rule every block obeys."""

    suppress: bool = True
    threshold: int = DEFAULT_THRESHOLD
    parts: list[str] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    claim_set: ClaimSet | None = None  # the claims tested: only their readings draw article lines on other charts

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

    def rules(self, items: list[str]) -> None:
        """A bulleted list; `**bold**` becomes bold, everything else is escaped."""
        self.add('<ul class="rules">' + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>")

    def key_figures(self, title: str, rows: list[tuple]) -> None:
        """Headline shares with their interval, as (what, Estimate) or (what, Estimate, unit counted) rows;
        each row is suppressed on its own (they are unrelated)."""
        frame = pd.DataFrame(
            [
                {
                    "what": what,
                    "estimate": e.estimate,
                    "ci_low": e.ci_low,
                    "ci_high": e.ci_high,
                    "numerator": e.numerator,
                    "n": e.n,
                    "counted_in": unit[0] if unit else "courses",
                    "method": e.method,
                }
                for what, e, *unit in rows
            ]
        )
        if self.suppress and not frame.empty:
            frame = pd.concat(
                [
                    suppress_table(
                        frame.iloc[[i]],
                        ("numerator", "n"),
                        self.threshold,
                        ("estimate", "ci_low", "ci_high"),
                        {"numerator": "n"},
                    )
                    for i in range(len(frame))
                ]
            )
        labels = {"what": "", "estimate": "share", "numerator": "with it", "n": "counted", "counted_in": "counted in"}
        self.add(render_table(frame, Table(title, frame, shares=("estimate", "ci_low", "ci_high"), labels=labels)))

    def article_line(self, kind: str, definition: str = "iga01", percent: float = 80.0) -> tuple | None:
        """A reading's line on a chart of another area, from the claims this report tests."""
        return article_line(self.claim_set, kind, definition, percent)

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
    labels = table.column_labels()
    header = "".join(f"<th>{html.escape(labels[c])}</th>" for c in shown.columns)
    shares = set(table.shares)
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{format_cell(value, column in shares)}</td>" for column, value in zip(shown.columns, row))
        + "</tr>"
        for row in shown.itertuples(index=False, name=None)
    )
    notes = [table.note] if table.note else []
    if len(frame) > len(shown):
        notes.append(f"The first {len(shown):,} of {len(frame):,} rows.")
    caption = f"<caption>{html.escape(table.title)}</caption>" if table.title else ""
    note = f'<p class="table-note">{html.escape(" ".join(notes))}</p>' if notes else ""
    return f'<div class="table-wrap"><table>{caption}<thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>{note}</div>'


def format_cell(value, share: bool = False) -> str:
    if (
        value is None
        or (isinstance(value, (float, np.floating)) and np.isnan(value))
        or value is pd.NA
        or value is pd.NaT
    ):
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
    rows = [
        ("Source", cohort.source),
        ("Synthetic data", "yes: generated, not real patients" if cohort.synthetic else "no"),
        ("SHA-256 fingerprint of the input", cohort.fingerprint or "not recorded"),
    ]
    if full is not None and full.n_courses != cohort.n_courses:
        rows.append(("Courses in the dataset", shown(full.n_courses)))
    rows += [("Courses in this report", shown(cohort.n_courses)), ("Patients in this report", shown(cohort.n_patients))]
    rows += [(f"Rows of {name.replace('_', ' ')}", shown(count)) for name, count in cohort.row_counts().items()]
    facts = "".join(
        f"<tr><th>{html.escape(label)}</th><td{_class('mono' if 'SHA' in label else '')}>{format_cell(value)}</td></tr>"
        for label, value in rows
    )
    report.add(f'<table class="facts">{facts}</table>')


def setting_text(value) -> str:
    """A setting as the report lists it; a claim set by its title and size, not its whole text."""
    if isinstance(value, ClaimSet):
        return f"{value.title} ({len(value.claims)} claims)"
    return str(value)


def definitions_section(report: Report, settings: dict, filters_description: str, group_by: str | None) -> None:
    report.add(f"<p><strong>Filters:</strong> {html.escape(filters_description or 'all courses')}</p>")
    chosen = "".join(
        f"<li><code>{html.escape(str(key))} = {html.escape(setting_text(value))}</code></li>"
        for key, value in sorted(settings.items())
    )
    report.add(
        f"<p><strong>Settings changed from the defaults:</strong></p><ul>{chosen}</ul>"
        if chosen
        else "<p><strong>Settings:</strong> the defaults throughout.</p>"
    )
    definitions = [(area.title, area.settings.from_settings(settings).describe()) for area in AREAS if area.settings]
    definitions.append(
        ("Group comparisons", f"by {group_by}" if group_by else "by the first grouping each page offers")
    )
    items = "".join(
        f"<dt>{html.escape(area)}</dt><dd>{html.escape(text[:1].upper() + text[1:])}</dd>" for area, text in definitions
    )
    report.add(f'<dl class="definitions">{items}</dl>')
    if report.suppress:
        report.text(
            f"**Small counts are suppressed**: in the tables and charts, counts from 1 to {report.threshold - 1} are shown as "
            f'"{report.small_label}" and shares that would reveal them as "suppressed" or "{WITHHELD}"; zero is shown as 0. '
            f"In the charts, hatched bars stand for hidden counts and a point resting on a count under {report.threshold} is "
            "not drawn (each chart says which); charts of single courses are left out."
        )
    else:
        report.text(
            "**Private report: every count is shown, however small.** Do not share it outside the care team.", "warning"
        )


# ---------------------------------------------------------------------------------------------
# The claims scorecard


# ---------------------------------------------------------------------------------------------
# The outcome pages, in the order of the app


# ---------------------------------------------------------------------------------------------
# The whole report


def build_report(
    cohort: Cohort,
    settings: dict,
    filters_description: str,
    suppress: bool = True,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    group_by: str | None = None,
    full_cohort: Cohort | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The report as one HTML document.

    `cohort` is what the report describes (the filtered courses), `settings` the flat definition and
    threshold settings of the CLI's `--set` (checked first: a bad one raises ValueError),
    `filters_description` the filters in words. `suppress=False` makes a private report with every
    count shown. `group_by` names the course column the comparisons use (each page's default
    otherwise); `full_cohort`, the unfiltered dataset, adds its size to the facts.
    """
    settings = dict(settings or {})
    check_claim_settings(settings)
    check_area_settings(settings)
    started = time.perf_counter()
    when = (generated_at or datetime.now(UTC)).astimezone(UTC)
    report = Report(suppress=suppress, threshold=threshold, claim_set=active_claim_set(settings))
    sections: list[tuple[str, str, Callable[[], None]]] = [
        ("dataset", "The dataset", lambda: dataset_section(report, cohort, full_cohort)),
        (
            "definitions",
            "Filters and definitions",
            lambda: definitions_section(report, settings, filters_description, group_by),
        ),
    ]
    sections += [
        (area.section_id, area.report_title, partial(area.report, report, cohort, settings, group_by))
        for area in AREAS
        if area.report is not None
    ]
    body = []
    for section_id, title, write in sections:
        report.parts = []
        if cohort.n_courses == 0 and section_id not in ("dataset", "definitions"):
            report.notice("No course matches the filters: there is nothing to show.")
        else:
            _write_safely(report, title, write)
        body.append(
            f'<section id="{section_id}" data-section="{section_id}"><h2>{html.escape(title)}</h2>{"".join(report.parts)}</section>'
        )
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
    contents = "".join(
        f'<li><a href="#{section_id}">{html.escape(title)}</a></li>' for section_id, title, _ in sections
    )
    synthetic = '<span class="badge" style="background:#ef6c00">Synthetic demo data</span> ' if cohort.synthetic else ""
    stamp = f"{when:%Y-%m-%d %H:%M} UTC"
    return f"""{document_head(f"{TITLE}: {source}", STYLE)}
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


def document_head(title: str, style: str) -> str:
    """The start of a self-contained HTML file: a content policy that forbids every request, and plotly inline.
    `title` is escaped already."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="isotretinoin-outcomes {html.escape(__version__)}">
<title>{title}</title>
<style>{style}</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>
</head>"""


def footer_text(cohort: Cohort, report: Report) -> str:
    if cohort.synthetic:
        nature = (
            "<p><strong>Synthetic data.</strong> Every number in this report comes from a generated cohort whose parameters "
            "follow published figures: no real patient is described. It shows what the dashboard does, not what isotretinoin does.</p>"
        )
    else:
        nature = (
            f"<p><strong>Data:</strong> {html.escape(cohort.source)}, pseudonymous course records; the report holds aggregate "
            "results only. Observational data: differences between groups are associations, not effects of treatment.</p>"
        )
    shared = (
        f'<p>Counts from 1 to {report.threshold - 1} are shown as "{report.small_label}".</p>'
        if report.suppress
        else "<p><strong>Private report: small counts are not suppressed.</strong></p>"
    )
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
