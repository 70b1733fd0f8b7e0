"""Shared figure styling and building blocks, so every chart reads the same way.

Charts are built from aggregates (counts per bin, estimates per month), never from one mark per
row, so they stay light at a million courses.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

PALETTE = ("#2f6f9f", "#d9822b", "#3a9a5b", "#b8463f", "#7d5ba6", "#8c6d31", "#5a8f9c", "#c46aa0")
SUPPORTED_COLOR = "#2e7d32"
CONTRADICTED_COLOR = "#c62828"
NEUTRAL_COLOR = "#607d8b"
FONT = "Inter, Segoe UI, Helvetica, Arial, sans-serif"


def styled(fig: go.Figure, title: str, subtitle: str = "", height: int = 380) -> go.Figure:
    """Title, subtitle (definitions, n), margins and fonts common to every chart."""
    text = f"{title}<br><sup>{subtitle}</sup>" if subtitle else title
    fig.update_layout(
        title={"text": text, "x": 0, "xanchor": "left", "font": {"size": 16}},
        font={"family": FONT, "size": 13},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 80 if subtitle else 56, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        hoverlabel={"font": {"family": FONT}},
    )
    return fig


def histogram_bars(values: pd.Series, bin_width: float, start: float | None = None, name: str = "", color: str = PALETTE[0],
                   unit: str = "") -> go.Bar:
    """A histogram as bars of precomputed counts (bin edges in the hover, with n)."""
    data = values.dropna().astype("float").to_numpy()
    if data.size == 0:
        return go.Bar(x=[], y=[], name=name)
    low = np.floor((data.min() if start is None else start) / bin_width) * bin_width
    edges = np.arange(low, data.max() + bin_width * 1.0001, bin_width)
    if edges.size < 2:
        edges = np.array([low, low + bin_width])
    counts, edges = np.histogram(data, bins=edges)
    centers = (edges[:-1] + edges[1:]) / 2
    labels = [f"{a:g}-{b:g}{unit}" for a, b in zip(edges[:-1], edges[1:])]
    return go.Bar(
        x=centers, y=counts, width=bin_width * 0.95, name=name, marker_color=color,
        customdata=labels, hovertemplate="%{customdata}: %{y:,} courses<extra>" + name + "</extra>",
    )


def count_bars(counts: pd.Series, name: str = "", color: str = PALETTE[0], unit: str = "courses") -> go.Bar:
    total = counts.sum()
    share = (counts / total * 100) if total else counts * 0
    return go.Bar(
        x=[str(i) for i in counts.index], y=counts.to_numpy(), name=name, marker_color=color,
        customdata=share.round(1).to_numpy(),
        hovertemplate="%{x}: %{y:,} " + unit + " (%{customdata}%)<extra>" + name + "</extra>",
    )
