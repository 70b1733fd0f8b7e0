"""What every outcome area declares, and what the JSON summary and the report ask of it.

An area is declared once (`Area`, in its package's `declaration.py`); the JSON summary, the HTML
report, the report's definitions list and the tests iterate over `analysis.areas.registry.AREAS`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from analysis.stats.suppression import hidden_shares, suppress_count

if TYPE_CHECKING:
    from analysis.cohort.model import Cohort
    from analysis.stats.intervals import Estimate

WITHHELD = "withheld"  # what a shared report shows instead of a figure that would reveal a small count
INDIVIDUAL_CHARTS_LEFT_OUT = (
    "{chart} is not shown in presenter mode or in a shared report: it draws each course's own values, and a "
    "single patient's results can be recognised. The page outside presenter mode, and a private report, show it."
)


def display_term(term) -> str:
    """A side-effect term as charts and tables show it: first letter in upper case, the rest as written
    ("sunburn" -> "Sunburn"; "Cheilitis" and "ALT increased" unchanged). For display only: the stored terms,
    the JSON summary and the downloads keep the words as normalised or written."""
    text = "" if term is None or term != term else str(term)
    return text[:1].upper() + text[1:]


def display_terms(values) -> list[str]:
    return [display_term(v) for v in values]


@dataclass(frozen=True)
class SummaryOptions:
    """Definitions and thresholds chosen by the user; areas read the keys they know."""

    group_by: str | None = None
    settings: dict = field(default_factory=dict)


COMMON_COLUMN_LABELS = {
    "n": "courses counted",
    "ci_low": "95% CI from",
    "ci_high": "95% CI to",
    "rate": "share",
    "share": "share",
    "estimate": "estimate",
    "at_risk": "courses at risk",
    "courses": "courses",
    "group": "group",
    "month": "month",
    "method": "method",
    "band": "CIOMS band",
    "ci_bands": "bands the 95% CI covers",
}


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

    def column_labels(self) -> dict[str, str]:
        """Each column's heading: its own label, else the common one, else its name in words."""
        labels = {**COMMON_COLUMN_LABELS, **self.labels}
        return {column: str(labels.get(column, column)).replace("_", " ") for column in self.frame.columns}


class ReportWriter(Protocol):
    """The part of the HTML report an area writes its section into (analysis.outputs.report.Report)."""

    suppress: bool
    threshold: int
    suppress_below: int | None
    small_label: str

    def add(self, markup: str) -> None: ...
    def text(self, words: str, css: str = "") -> None: ...
    def notice(self, words: str) -> None: ...
    def key_figures(self, title: str, figures: list) -> None: ...
    def chart(self, name: str, figure) -> None: ...
    def table(self, table: Table) -> None: ...
    def rules(self, items: list[str]) -> None: ...
    def withheld(self, estimate: Estimate) -> bool: ...
    def article_line(self, kind: str, definition: str = "iga01", percent: float = 80.0) -> tuple | None: ...


def chosen_grouping(options: dict, group_by: str | None) -> str | None:
    """The grouping the report compares by: the one asked for when the page offers it, else the page's default."""
    if group_by in options:
        return group_by
    return next(iter(options), None)


@dataclass(frozen=True)
class Choice:
    """A choice a section offers on the page (which grouping, which side effect); a report takes the first
    option, or for a grouping the report's own grouping when it is offered."""

    key: str  # the widget's name, kept in the page's link
    label: str
    options: dict  # value -> words shown
    grouping: bool = False
    multiple: bool = False  # several values at once; `default` until the reader picks
    default: tuple = ()
    every_in_report: bool = False  # a report, which cannot be clicked, shows every option


@dataclass(frozen=True)
class Audience:
    """Whom a section is drawn for: the page (presenter mode or not) or a report (shared or private).

    `suppress_below` is what every figure takes; `lines` gives the article lines the claims tested
    allow (`kind, definition, percent -> (value, label) | None`); `group_by` is the report's grouping;
    `chosen` holds the page's choices by key.
    """

    suppress_below: int | None = None
    lines: Callable[..., tuple | None] = lambda *args, **kwargs: None
    group_by: str | None = None
    chosen: dict = field(default_factory=dict)
    report: bool = False

    def pick(self, choice: Choice):
        """The value of a choice for this audience: chosen on the page, else the report's grouping, else the
        first option (for a choice of several: the values chosen that are offered, else the default)."""
        if choice.multiple:
            wanted = self.chosen.get(choice.key, choice.default)
            return [value for value in wanted if value in choice.options]
        for wanted in (self.chosen.get(choice.key), self.group_by if choice.grouping else None):
            if wanted in choice.options:
                return wanted
        return next(iter(choice.options), None)

    def picks(self, choice: Choice) -> list:
        """The options drawn: every one in a report when the choice asks for it, else the one picked."""
        if self.report and choice.every_in_report:
            return list(choice.options)
        picked = self.pick(choice)
        return [] if picked is None else [picked]

    def count(self, n) -> str:
        """A count for a sentence, as the audience may see it ("<5" when suppressing; 0 stays 0)."""
        if self.suppress_below is not None:
            shown = suppress_count(n, self.suppress_below)
            if isinstance(shown, str):
                return shown
        return f"{int(n):,}"

    def share(self, estimate: Estimate, digits: int = 0) -> str:
        """A share with its interval for a sentence ("83% (95% CI 81-85%)"), or why it is withheld."""
        if estimate.estimate is None:
            return "not estimable"
        if self.withheld(estimate.numerator, estimate.n):
            return f"withheld (a count under {self.suppress_below})"
        if estimate.ci_low is None or estimate.ci_high is None:
            return f"{estimate.estimate:.{digits}%}"
        low, high = (f"{bound * 100:.{digits}f}" for bound in (estimate.ci_low, estimate.ci_high))
        return f"{estimate.estimate:.{digits}%} (95% CI {low}-{high}%)"

    def withheld(self, numerator, n) -> bool:
        """Whether a share `numerator` of `n` would give a small count back to this audience."""
        if self.suppress_below is None:
            return False
        numerator = float("nan") if numerator is None else numerator
        return bool(hidden_shares([numerator], [n], self.suppress_below)[0])


@dataclass(frozen=True)
class Drawing:
    """What one section shows for one result: a chart, its table, the words under it; or, in
    `missing`, the one sentence saying what the data lacks instead of an empty chart."""

    figure: object | None = None  # a plotly figure; plotly loads only when a section is drawn
    table: Table | None = None
    notes: tuple[str, ...] = ()
    more_tables: tuple[Table, ...] = ()
    more_figures: tuple[tuple[str, object], ...] = ()  # (name, figure) drawn after `figure`, two to a row
    missing: str = ""
    name: str = ""  # the chart's name when it depends on the data ("clearance by sex"); else the section's key

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.table, *self.more_tables) if self.table is not None else self.more_tables


@dataclass(frozen=True)
class Section:
    """One chart of an area with its table and notes, declared once for the page and the report.

    `draw(cohort, result, audience)` builds it; `key` names its widgets and files; `heading` opens a
    part of the page and of the report; `choices(cohort, result)` lists what the page lets the reader
    choose before it is drawn; `beside_next` asks a wide page to draw it next to the following section.
    """

    key: str
    title: str
    draw: Callable[[Cohort, object, Audience], Drawing]
    heading: str = ""
    choices: Callable[[Cohort, object], tuple[Choice, ...]] | None = None
    beside_next: bool = False


def report_audience(report: ReportWriter, group_by: str | None) -> Audience:
    """A report's audience: suppressed when shared, the report's claims and grouping, every option shown."""
    return Audience(report.suppress_below, report.article_line, group_by, report=True)


def write_sections(report: ReportWriter, sections: tuple[Section, ...], cohort: Cohort, result, audience: Audience):
    """The report's half of a declaration: each section's chart, table and notes, or what it lacks."""
    for section in sections:
        if section.heading:
            report.add(f"<h3>{html.escape(section.heading)}</h3>")
        drawing = section.draw(cohort, result, audience)
        if drawing.missing:
            report.notice(drawing.missing)
            continue
        if drawing.figure is not None:
            report.chart(drawing.name or section.key, drawing.figure)
        for name, figure in drawing.more_figures:
            report.chart(name, figure)
        for note in drawing.notes:
            report.text(note, "note")
        for table in drawing.tables:
            report.table(table)


@dataclass(frozen=True)
class Area:
    """An outcome area as the rest of the product sees it.

    `key` names it in the JSON summary and, for areas with definitions, as the prefix of their
    settings; `anchor` is its section's id in the report (the key unless given); `settings` is its
    definitions class (`from_settings(dict)`, `describe()`); `summary` writes its JSON section;
    `report` writes its report section; `sections` are its charts and tables, which its page and its
    report draw from `analyse(cohort, settings)`; a slide shows the `headline` section with the
    `finding` in one sentence and the verdicts of the claims shown on its `page`.
    """

    key: str
    title: str
    report_title: str
    anchor: str = ""
    settings: type | None = None
    summary: Callable[[Cohort, SummaryOptions], dict] | None = None
    report: Callable[[ReportWriter, Cohort, dict, str | None], None] | None = None
    sections: tuple[Section, ...] = ()
    analyse: Callable[[Cohort, dict], object] = lambda cohort, settings: None
    page: str = ""  # its page script, as claims name the page that shows them in detail
    headline: str = ""  # the key of the section a slide shows
    finding: Callable[[Cohort, object, Audience], str] | None = None  # the slide's one sentence

    @property
    def section_id(self) -> str:
        return self.anchor or self.key
