"""What every outcome area declares, and what the JSON summary and the report ask of it.

An area is declared once (`Area`, in its package's `declaration.py`); the JSON summary, the HTML
report, the report's definitions list and the tests iterate over `analysis.areas.registry.AREAS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import pandas as pd

if TYPE_CHECKING:
    from analysis.cohort.model import Cohort
    from analysis.stats.intervals import Estimate

WITHHELD = "withheld"  # what a shared report shows instead of a figure that would reveal a small count
INDIVIDUAL_CHARTS_LEFT_OUT = (
    "{chart} is not included in a shared report: it draws each course's own values, and a single "
    "patient's results can be recognised. A private report includes it."
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
class Area:
    """An outcome area as the rest of the product sees it.

    `key` names it in the JSON summary and, for areas with definitions, as the prefix of their
    settings; `anchor` is its section's id in the report (the key unless given); `settings` is its
    definitions class (`from_settings(dict)`, `describe()`); `summary` writes its JSON section;
    `report` writes its report section.
    """

    key: str
    title: str
    report_title: str
    anchor: str = ""
    settings: type | None = None
    summary: Callable[[Cohort, SummaryOptions], dict] | None = None
    report: Callable[[ReportWriter, Cohort, dict, str | None], None] | None = None

    @property
    def section_id(self) -> str:
        return self.anchor or self.key
