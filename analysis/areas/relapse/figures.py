"""Figures of the relapse area: Kaplan-Meier curves with the number at risk beneath, and the
relapse and second-course figures beside the published ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.areas.charts import (
    MIN_PLOT_HEIGHT,
    NEUTRAL_COLOR,
    PALETTE,
    as_hovered,
    axis_title,
    category_ticks,
    label_step,
    styled,
    wrapped,
)
from analysis.areas.literature import reference
from analysis.areas.relapse.compute import (
    FREE_OF,
    GROUPINGS,
    HAD,
    ORIGINS,
    RELAPSE,
    SurvivalAnalysis,
    horizon_table,
    risk_days,
)
from analysis.schema import DAYS_PER_MONTH
from analysis.stats.suppression import count_label, count_labels
from analysis.stats.survival import KaplanMeier

MINIMAL_RELAPSE_THRESHOLD = 0.10  # claim C07's default: "minimal" read as under 10% at 1 year
RELAPSE_REFERENCES = ("relapse_any", "relapse_12m_low_dose", "relapse_12m_high_dose", "still_clear_10y")
SECOND_COURSE_REFERENCES = ("retrial_any", "second_course_quebec")
RISK_GAP = 96  # px between the curves and the number-at-risk rows: tick labels, axis title, the rows' label
LABEL_CHARS = 26  # a row's name beside the published figures, wrapped to keep the plot wide on a phone
ANNOTATION_CHARS = 28


def km_figure(
    analysis: SurvivalAnalysis, complement: bool = False, title: str | None = None, *, suppress_below: int | None = None
) -> go.Figure:
    """Kaplan-Meier curves with 95% CI bands and, beneath, the number at risk every 6 months.

    With `complement` the curves show the share who have had the event (1 - S) instead of the
    share still free of it; used for second courses, which read more naturally rising. With
    `suppress_below`, numbers at risk and event counts under it read "<5" and a curve of fewer
    courses is not drawn (the curves themselves are cumulative estimates and stay).
    """
    curves = analysis.curves()
    left_out = [label for label, km in curves.items() if suppress_below and 0 < km.n < suppress_below]
    curves = {label: km for label, km in curves.items() if label not in left_out}
    risk_share = min(0.3, 0.08 + 0.045 * len(curves))
    height = 560 + 24 * max(len(curves) - 2, 0)
    plot = max(height - 80 - 50, MIN_PLOT_HEIGHT)  # as `styled` keeps it at every width
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[1 - risk_share, risk_share], vertical_spacing=RISK_GAP / plot
    )
    for position, (label, km) in enumerate(curves.items()):
        color = PALETTE[position % len(PALETTE)]
        for trace in _curve_traces(km, label, color, complement, analysis.kind, suppress_below):
            fig.add_trace(trace, row=1, col=1)
    days = risk_days(analysis)
    counts = {label: count_labels(km.at_risk_at(days), suppress_below) for label, km in curves.items()}
    step = max((label_step(list(texts)) for texts in counts.values()), default=1)  # side by side on a phone
    for position, (label, km) in enumerate(curves.items()):
        fig.add_trace(_risk_row(km, label, days, PALETTE[position % len(PALETTE)], suppress_below, step), row=2, col=1)
    subtitle = _subtitle(analysis, suppress_below)
    if left_out:
        subtitle += f"<br>Not drawn, fewer than {suppress_below} courses: {', '.join(map(str, left_out))}."
    styled(fig, title or _default_title(analysis, complement), subtitle, height=height)
    _axes(fig, analysis, complement, days, list(curves))
    return fig


def _curve_traces(
    km: KaplanMeier, label: str, color: str, complement: bool, kind: str, suppress_below: int | None = None
) -> list[go.Scatter]:
    table = km.table
    months = table["day"] / DAYS_PER_MONTH
    value, low, high = table["survival"], table["ci_low"], table["ci_high"]
    if complement:
        value, low, high = 1 - value, 1 - high, 1 - low
    events = table["events"].cumsum()
    band = _transparent(color)
    meaning = (HAD if complement else FREE_OF)[kind].lower()
    customdata = np.column_stack(
        [
            as_hovered(table["day"], 0),
            as_hovered(low * 100, 1),
            as_hovered(high * 100, 1),
            count_labels(table["at_risk"], suppress_below),
            count_labels(events, suppress_below),
        ]
    )
    hover = (
        f"<b>{label}</b><br>Day %{{customdata[0]:.0f}} (month %{{x:.1f}}): %{{y:.1f}}% {meaning}"
        "<br>95% CI %{customdata[1]:.1f}-%{customdata[2]:.1f}%<br>At risk: %{customdata[3]}; "
        f"events so far: %{{customdata[4]}} of n = {count_label(km.n, suppress_below)}<extra></extra>"
    )
    return [
        go.Scatter(
            x=months,
            y=high * 100,
            mode="lines",
            line={"width": 0, "shape": "hv"},
            hoverinfo="skip",
            showlegend=False,
            legendgroup=label,
        ),
        go.Scatter(
            x=months,
            y=low * 100,
            mode="lines",
            line={"width": 0, "shape": "hv"},
            fill="tonexty",
            fillcolor=band,
            hoverinfo="skip",
            showlegend=False,
            legendgroup=label,
        ),
        go.Scatter(
            x=months,
            y=value * 100,
            mode="lines",
            line={"color": color, "width": 2.2, "shape": "hv"},
            name=f"{label} (n = {count_label(km.n, suppress_below)}, events {count_label(km.events, suppress_below)})",
            legendgroup=label,
            customdata=customdata,
            hovertemplate=hover,
        ),
    ]


def _transparent(color: str, alpha: float = 0.16) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _risk_row(
    km: KaplanMeier, label: str, days: np.ndarray, color: str, suppress_below: int | None = None, step: int = 1
) -> go.Scatter:
    """The curve's number at risk under the plot, written every `step` ticks (every tick in the hover)."""
    at_risk = count_labels(km.at_risk_at(days), suppress_below)
    return go.Scatter(
        x=days / DAYS_PER_MONTH,
        y=[label] * len(days),
        mode="text",
        text=[text if i % step == 0 else "" for i, text in enumerate(at_risk)],
        textfont={"color": color, "size": 12},
        showlegend=False,
        customdata=np.column_stack([np.asarray(days, dtype=object), at_risk]),
        hovertemplate=f"<b>{label}</b><br>Day %{{customdata[0]}}: %{{customdata[1]}} at risk<extra></extra>",
    )


def _axes(fig: go.Figure, analysis: SurvivalAnalysis, complement: bool, days: np.ndarray, labels: list[str]) -> None:
    ticks = days / DAYS_PER_MONTH
    top = _upper_limit(analysis) if complement else 101
    fig.update_yaxes(title_text=f"{(HAD if complement else FREE_OF)[analysis.kind]} (%)", range=[0, top], row=1, col=1)
    fig.update_yaxes(
        range=[len(labels) - 0.4, -0.6],
        showgrid=False,
        tickfont={"size": 11},
        categoryorder="array",
        categoryarray=labels,
        row=2,
        col=1,
    )
    fig.update_xaxes(
        tickvals=ticks,
        ticktext=[f"{t:.0f}" for t in ticks],
        showticklabels=True,
        title_text=axis_title(f"Months since {ORIGINS[analysis.settings.origin]}"),
        title_standoff=4,
        zeroline=False,
        row=1,
        col=1,
    )
    fig.update_xaxes(tickvals=ticks, showticklabels=False, showgrid=False, zeroline=False, row=2, col=1)
    fig.add_annotation(
        text="<b>Number at risk</b><br>(followed and event-free at that month)",
        xref="paper",
        yref="y2 domain",
        x=0,
        y=1.18,
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        font={"size": 12},
    )
    fig.update_layout(hovermode="closest")  # the legend stays under the chart, where it covers no curve


def _upper_limit(analysis: SurvivalAnalysis) -> float:
    """Top of the y axis for rising curves: a little above the highest upper CI, at most 100%."""
    highest = (
        max((1 - km.table["ci_low"].min()) for km in analysis.curves().values() if km.n)
        if any(km.n for km in analysis.curves().values())
        else 1
    )
    return min(100.0, max(10.0, float(np.ceil(highest * 110 / 10) * 10)))


def _default_title(analysis: SurvivalAnalysis, complement: bool) -> str:
    if analysis.kind == RELAPSE:
        split = f" by {GROUPINGS.get(analysis.group_by, analysis.group_by).lower()}" if analysis.group_by else ""
        return f"Staying free of relapse after the course{split}"
    return "Starting a further course after this one"


def _subtitle(analysis: SurvivalAnalysis, suppress_below: int | None = None) -> str:
    times = analysis.times
    counts = times.exclusion_counts()
    missing = int(counts.loc[counts["problem"].str.startswith("cannot"), "courses"].sum())
    inconsistent = int(counts["courses"].sum()) - missing
    entered, total, missing, inconsistent = count_labels(
        [times.entered, times.total, missing, inconsistent], suppress_below
    )
    lines = [
        f"{analysis.settings.describe(analysis.kind).capitalize()}.",
        f"{entered} of {total} courses; left out: {missing} for missing dates, {inconsistent} for inconsistent dates. "
        "Shaded: 95% CI (Kaplan-Meier, log-log).",
    ]
    if analysis.comparison is not None:
        lines.append(_logrank_text(analysis))
    return "<br>".join(lines)


def _logrank_text(analysis: SurvivalAnalysis) -> str:
    test = analysis.comparison
    if test.p_value is None:
        return f"Log-rank test not possible: {test.reason}."
    missing = " (courses with a missing value not tested)" if "(missing)" in analysis.groups else ""
    shown = format_p(test.p_value)
    return f"Log-rank test across {test.groups} groups: p {shown if shown.startswith('<') else '= ' + shown}{missing}."


def format_p(p: float | None) -> str:
    """A p-value as a table shows it: '< 0.001' or '0.042'."""
    return "" if p is None or p != p else "< 0.001" if p < 0.001 else f"{p:.3f}"


def literature_figure(analysis: SurvivalAnalysis, *, suppress_below: int | None = None) -> go.Figure:
    """The data's share with the event at each horizon (with 95% CI) beside the published figures
    (counts under `suppress_below` read "<5"; no estimate drawn from fewer courses)."""
    data = horizon_table(analysis, complement=True)
    data = data[data["group"] == next(iter(analysis.curves()))].dropna(subset=["estimate"])
    if suppress_below:
        data = data[data["courses"] >= suppress_below]
    keys = RELAPSE_REFERENCES if analysis.kind == RELAPSE else SECOND_COURSE_REFERENCES
    rows = [
        (
            f"This data: {HAD[analysis.kind].lower()} by {int(r.years)} year{'s' if r.years > 1 else ''}",
            r.estimate,
            r.ci_low,
            r.ci_high,
            f"n = {count_label(r.courses, suppress_below)}; {count_label(r.events_by_then, suppress_below)} events",
        )
        for r in data.itertuples()
    ]
    rows += [_reference_row(key) for key in keys]
    labels = [r[0] for r in rows]
    fig = go.Figure()
    mine = [r for r in rows if r[0].startswith("This data")]
    fig.add_trace(
        go.Scatter(
            x=[r[1] * 100 for r in mine],
            y=[r[0] for r in mine],
            mode="markers",
            marker={"size": 11, "color": PALETTE[0]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [(r[3] - r[1]) * 100 for r in mine],
                "arrayminus": [(r[1] - r[2]) * 100 for r in mine],
            },
            customdata=[[r[2] * 100, r[3] * 100, r[4]] for r in mine],
            name="This data (Kaplan-Meier, 95% CI)",
            hovertemplate="%{y}: %{x:.1f}% (95% CI %{customdata[0]:.1f}-%{customdata[1]:.1f}%)<br>%{customdata[2]}<extra></extra>",
        )
    )
    published = [r for r in rows if not r[0].startswith("This data")]
    fig.add_trace(
        go.Scatter(
            x=[r[1] * 100 for r in published],
            y=[r[0] for r in published],
            mode="markers",
            marker={"size": 11, "symbol": "diamond", "color": NEUTRAL_COLOR},
            customdata=[[r[4]] for r in published],
            name="Published figure",
            hovertemplate="%{y}: %{x:.1f}%<br>%{customdata[0]}<extra></extra>",
        )
    )
    if analysis.kind == RELAPSE:
        fig.add_vline(
            x=MINIMAL_RELAPSE_THRESHOLD * 100,
            line_dash="dot",
            line_color="#555",
            annotation_text=wrapped("10%: 'minimal relapse' test (claim C07, at 1 year)", ANNOTATION_CHARS),
            annotation_position="top right",
            annotation_align="left",
        )
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=labels[::-1],
        **category_ticks(labels, LABEL_CHARS),
        range=[-0.6, len(labels) - 0.4 + (1.0 if analysis.kind == RELAPSE else 0)],  # a free row for the label
    )
    fig.update_xaxes(title_text=axis_title(f"{HAD[analysis.kind]} (% of courses)"), rangemode="tozero")
    fig.update_traces(cliponaxis=False)
    title = (
        "Relapse: this data beside published figures"
        if analysis.kind == RELAPSE
        else "Second courses: this data beside published figures"
    )
    subtitle = (
        f"{analysis.settings.describe(analysis.kind).capitalize()}.<br>"
        "Published figures differ in population and length of follow-up (hover for details)."
    )
    return styled(fig, title, subtitle, height=190 + 50 * (len(rows) + (analysis.kind == RELAPSE)))  # 3-line names


def _reference_row(key: str) -> tuple:
    ref = reference(key)
    if key == "still_clear_10y":
        return (
            "Not clear at 10 years (Layton 1993)",
            1 - ref.value,
            None,
            None,
            f"{ref.label} ({ref.value:.0%}); {ref.population}; {ref.source}",
        )
    return (f"{ref.label} ({ref.source.split(',')[0]})", ref.value, None, None, f"{ref.population}; {ref.source}")


def literature_table(analysis: SurvivalAnalysis) -> pd.DataFrame:
    """The published figures shown beside this area's estimates, for the page's table and CSV."""
    keys = RELAPSE_REFERENCES if analysis.kind == RELAPSE else SECOND_COURSE_REFERENCES
    return pd.DataFrame(
        [
            {
                "figure": reference(k).label,
                "value_percent": round(reference(k).value * 100, 1),
                "population": reference(k).population,
                "source": reference(k).source,
            }
            for k in keys
        ]
    )
