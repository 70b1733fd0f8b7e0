"""The scorecard as a chart: each claim's estimate and 95% CI against its own threshold.

Shares the article calls "most" (about 0.5-0.9) and rates it calls "rare" (1 in 1,000, 1 in
10,000) cannot share one linear axis, so the chart has two panels: a linear 0-100% panel and a
log-scale panel, shaded by CIOMS frequency band, for claims whose threshold is below 5%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.areas.charts import CIOMS_LABEL_ROWS, add_shapes, styled, vertical_span, wrapped
from analysis.areas.claims.compute import (
    CONTRADICTED,
    DEPENDS,
    DESCRIBED,
    INCONCLUSIVE,
    NOT_TESTABLE,
    ONE_SIDED_METHOD,
    SUPPORTED,
    ClaimResult,
    interval_text,
    percent,
    rule_text,
)
from analysis.stats.suppression import count_label, hidden_shares

VERDICT_COLORS = {
    SUPPORTED: "#2e7d32",
    CONTRADICTED: "#c62828",
    INCONCLUSIVE: "#ef6c00",
    DESCRIBED: "#757575",
    NOT_TESTABLE: "#7b1fa2",
    DEPENDS: "#1565c0",
}
VERDICT_LABELS = {
    SUPPORTED: "Supported",
    CONTRADICTED: "Contradicted",
    INCONCLUSIVE: "Inconclusive",
    DESCRIBED: "Described",
    NOT_TESTABLE: "Not testable",
    DEPENDS: "Depends on the reading",
}
RARE_BELOW = 0.05  # claims with a threshold under 5% go on the log-scale panel
LOG_FLOOR = 1e-5
CIOMS_SPANS = (
    ("very rare", LOG_FLOOR, 1e-4),
    ("rare", 1e-4, 1e-3),
    ("uncommon", 1e-3, 1e-2),
    ("common", 1e-2, 1e-1),
    ("very common", 1e-1, 1.0),
)
LOG_TICKS = (
    (1e-5, "1 in 100,000"),
    (1e-4, "1 in 10,000"),
    (1e-3, "1 in 1,000"),
    (1e-2, "1 in 100"),
    (1e-1, "1 in 10"),
    (1.0, "100%"),
)
ROW_HEIGHT = 36  # a label of two lines
LABEL_CHARS = 24  # a claim's label wrapped to keep the plot wide on a phone
THRESHOLD_COLOR = "#212121"
WITHHELD = "withheld"  # a row whose estimate rests on a count under the suppression threshold
WITHHELD_COLOR = "#757575"
LITERATURE_COLOR = "#1565c0"


def chart_rows(results: list[ClaimResult], suppress_below: int | None = None) -> pd.DataFrame:
    """One row per plotted item (a claim, each reading of a claim read several ways, or each item
    of a claim naming several); with `suppress_below`, an item whose estimate rests on a count under
    it is marked withheld."""
    rows = []
    for result in results:
        items = plotted_items(result)
        for item, label in items:
            rare = item.threshold is not None and item.threshold < RARE_BELOW
            rows.append(
                {
                    "label": label,
                    "panel": 2 if rare else 1,
                    "verdict": item.verdict,
                    "estimate": item.estimate,
                    "ci_low": item.ci_low,
                    "ci_high": item.ci_high,
                    "n": item.n,
                    "unit": item.unit,
                    "threshold": item.threshold,
                    "rule": rule_text(item.direction, item.threshold),
                    "reads_as": item.reads_as if result.several_readings else "",
                    "compare": item.compare_value,
                    "reason": item.reason,
                    "one_sided": item.method == ONE_SIDED_METHOD,
                    "numerator": item.numerator,
                }
            )
    table = pd.DataFrame(rows)
    if suppress_below and not table.empty:
        counted = table["n"].fillna(0).to_numpy() > 0  # a not-testable bound quotes its counts too
        table["withheld"] = counted & hidden_shares(table["numerator"], table["n"], suppress_below)
    else:
        table["withheld"] = False
    return table


def plotted_items(result: ClaimResult) -> list[tuple[ClaimResult, str]]:
    """What the chart draws for a claim, each with its label: every reading, or every named item."""
    if result.several_readings:
        return [(reading, f"{result.id} ({reading.reading}) {reading.label}") for reading in result.readings]
    if result.parts:
        return [(part, f"{result.id} {part.label}") for part in result.parts]
    return [(result, f"{result.id} {result.label}")]


def _hover(rows: pd.DataFrame, suppress_below: int | None = None) -> list[str]:
    texts = []
    for row in rows.itertuples():
        if row.verdict == NOT_TESTABLE:
            texts.append(f"<b>{row.label}</b><br>Not testable: {row.reason}")
            continue
        if row.withheld:
            texts.append(
                f"<b>{row.label}</b><br>Estimate withheld: it rests on a count under {suppress_below} "
                f"(n = {count_label(row.n, suppress_below)} {row.unit})"
            )
            continue
        bound = "one-sided upper 95% bound" if row.one_sided else "95% CI"
        texts.append(
            f"<b>{row.label}</b><br>{percent(row.estimate)} ({bound} {interval_text(row.ci_low, row.ci_high)})"
            f"<br>n = {count_label(row.n)} {row.unit}<br>{_article(row)}<br>Verdict: {VERDICT_LABELS[row.verdict]}"
        )
    return texts


def _article(row) -> str:
    return f"Article, read as {row.reads_as}: {row.rule}" if row.reads_as else f"Article: {row.rule}"


def _plotted(values: pd.Series, log: bool) -> np.ndarray:
    array = values.astype("float").to_numpy()
    return np.maximum(array, LOG_FLOOR) if log else array


def _estimate_traces(fig: go.Figure, rows: pd.DataFrame, log: bool, panel: int, shown: set[str]) -> None:
    for rank, verdict in enumerate(VERDICT_COLORS):
        group = rows[(rows["verdict"] == verdict) & ~rows["withheld"]]
        if verdict == NOT_TESTABLE or group.empty:
            continue
        x = _plotted(group["estimate"], log)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=group["label"],
                mode="markers",
                name=VERDICT_LABELS[verdict],
                legendgroup=verdict,
                showlegend=verdict not in shown,
                legendrank=rank + 1,
                marker={"color": VERDICT_COLORS[verdict], "size": 11},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": _plotted(group["ci_high"], log) - x,
                    "arrayminus": x - _plotted(group["ci_low"], log),
                    "color": VERDICT_COLORS[verdict],
                    "thickness": 2.5,
                    "width": 6,
                },
                hovertext=_hover(group),
                hoverinfo="text",
            ),
            row=panel,
            col=1,
        )
        shown.add(verdict)


def _marker_trace(
    fig: go.Figure,
    rows: pd.DataFrame,
    column: str,
    log: bool,
    panel: int,
    name: str,
    symbol: str,
    color: str,
    size: int,
    show: bool,
) -> bool:
    present = rows[rows[column].notna()]
    if present.empty:
        return show
    values = present[column].astype("float")
    text = [
        f"{label}: {name.lower()} {rule if column == 'threshold' else percent(value)}"
        for label, rule, value in zip(present["label"], present["rule"], values)
    ]
    fig.add_trace(
        go.Scatter(
            x=_plotted(values, log),
            y=present["label"],
            mode="markers",
            name=name,
            legendgroup=name,
            showlegend=show,
            legendrank=10,
            marker={"symbol": symbol, "size": size, "color": color, "line": {"width": 2.5, "color": color}},
            hovertext=text,
            hoverinfo="text",
        ),
        row=panel,
        col=1,
    )
    return False


def _withheld_trace(fig: go.Figure, rows: pd.DataFrame, log: bool, panel: int, suppress_below: int | None) -> None:
    withheld = rows[rows["withheld"]]
    if withheld.empty:
        return
    x = np.full(len(withheld), LOG_FLOOR * 1.2 if log else 0.005)  # at the left edge, clear of the threshold marks
    fig.add_trace(
        go.Scatter(
            x=x,
            y=withheld["label"],
            mode="text",
            text=[f"withheld: a count under {suppress_below}"] * len(withheld),
            name=WITHHELD,
            textposition="middle right",
            textfont={"color": WITHHELD_COLOR},
            showlegend=False,
            hovertext=_hover(withheld, suppress_below),
            hoverinfo="text",
        ),
        row=panel,
        col=1,
    )


def _not_testable_trace(fig: go.Figure, rows: pd.DataFrame, log: bool, panel: int, shown: set[str]) -> None:
    missing = rows[(rows["verdict"] == NOT_TESTABLE) & ~rows["withheld"]]
    if missing.empty:
        return
    x = np.full(len(missing), 1e-3 if log else 0.5)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=missing["label"],
            mode="text",
            text=["not testable: data missing"] * len(missing),
            name=VERDICT_LABELS[NOT_TESTABLE],
            textfont={"color": VERDICT_COLORS[NOT_TESTABLE]},
            showlegend=False,
            hovertext=_hover(missing),
            hoverinfo="text",
        ),
        row=panel,
        col=1,
    )
    shown.add(NOT_TESTABLE)


def scorecard_figure(results: list[ClaimResult], subtitle: str = "", *, suppress_below: int | None = None) -> go.Figure:
    """Forest-plot style chart of every claim: estimate and CI (coloured by verdict), the article's
    threshold (a bar) and the published figure for the same quantity (a diamond). With
    `suppress_below`, an estimate resting on a count under it is not drawn ("withheld")."""
    rows = chart_rows(results, suppress_below)
    panels = [panel for panel in (1, 2) if (rows["panel"] == panel).any()]
    heights = [int((rows["panel"] == panel).sum()) for panel in panels]
    titles = {1: "Shares (linear scale)", 2: "Rare and common events<br>(log scale, CIOMS bands)"}
    fig = make_subplots(
        rows=len(panels),
        cols=1,
        row_heights=heights,
        vertical_spacing=0.16 if len(panels) == 2 else 0.05,
        subplot_titles=[titles[p] for p in panels],
    )
    shown: set[str] = set()
    show_threshold = show_literature = True
    for row_number, panel in enumerate(panels, start=1):
        part = rows[rows["panel"] == panel]
        target = row_number
        _estimate_traces(fig, part, panel == 2, target, shown)
        show_threshold = _marker_trace(
            fig,
            part,
            "threshold",
            panel == 2,
            target,
            "Article's threshold",
            "line-ns",
            THRESHOLD_COLOR,
            20,
            show_threshold,
        )
        show_literature = _marker_trace(
            fig,
            part,
            "compare",
            panel == 2,
            target,
            "Published figure",
            "diamond-open",
            LITERATURE_COLOR,
            11,
            show_literature,
        )
        _not_testable_trace(fig, part, panel == 2, target, shown)
        _withheld_trace(fig, part, panel == 2, target, suppress_below)
        labels = list(part["label"])[::-1]
        fig.update_yaxes(
            categoryorder="array",
            categoryarray=labels,
            tickvals=labels,
            ticktext=[wrapped(label, LABEL_CHARS) for label in labels],
            row=target,
            col=1,
        )
        if panel == 1:
            fig.update_xaxes(
                range=[-0.05, 1.05],
                tickformat=".0%",
                title_text="Share of courses (or events,<br>months), 95% CI",
                row=target,
                col=1,
            )
        else:
            values, labels = zip(*LOG_TICKS)
            fig.update_xaxes(
                type="log",
                range=[np.log10(LOG_FLOOR) - 0.15, 0.15],
                tickvals=list(values),
                ticktext=list(labels),
                title_text="Share, log scale",
                row=target,
                col=1,
            )
            _cioms_bands(fig, target, len(part))
    note = "Dot and line: estimate and 95% CI, coloured by verdict. Bar: the article's threshold. Diamond: published figure. Hover for n."
    if rows["withheld"].any():
        withheld = ", ".join(dict.fromkeys(label.split()[0] for label in rows.loc[rows["withheld"], "label"]))
        subtitle = f"{subtitle}; " if subtitle else ""
        subtitle += f"not drawn (counts under {suppress_below}): {withheld}"
    height = ROW_HEIGHT * len(rows) + 150 * len(panels) + 80
    styled(fig, "The article's claims against the data", f"{subtitle + '. ' if subtitle else ''}{note}", height=height)
    fig.update_layout(margin={"l": 20, "r": 30, "b": 60}, hovermode="closest")  # the labels push the left margin
    fig.update_traces(cliponaxis=False, selector={"type": "scatter"})  # a dot at 0% or 100% drawn whole
    return fig


def _cioms_bands(fig: go.Figure, row: int, rows_in_panel: int) -> None:
    """Alternate shading per CIOMS band, named along the top of the panel (log axes take log10 positions)."""
    add_shapes(
        fig,
        [
            vertical_span(low, high, row, fillcolor="#eceff1", opacity=1, layer="below", line={"width": 0})
            for _, low, high in CIOMS_SPANS[1::2]
        ],
    )
    for line, (name, low, high) in zip(CIOMS_LABEL_ROWS, CIOMS_SPANS):  # neighbours on different lines: none touch
        fig.add_annotation(
            x=(np.log10(low) + np.log10(high)) / 2,
            y=rows_in_panel - 0.2 + 0.6 * line,
            text=name,
            showarrow=False,
            font={"size": 11, "color": "#546e7a"},
            row=row,
            col=1,
        )
    fig.update_yaxes(range=[-0.6, rows_in_panel + 0.1 + 0.6 * max(CIOMS_LABEL_ROWS)], row=row, col=1)
