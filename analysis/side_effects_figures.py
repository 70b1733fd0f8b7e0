"""Charts of the side-effects area, built from the tables of `analysis.side_effects`.

Frequencies are drawn on a logarithmic axis so that each CIOMS band (very rare ... very common)
takes the same width and a rare effect is as readable as a very common one.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .figures import NEUTRAL_COLOR, PALETTE, count_bars, styled
from .side_effects import ANY_EFFECT, CIOMS_BANDS, CIOMS_DEFINITIONS, CIOMS_LOWER_EDGES, SideEffectSettings, resolution_labels

AXIS_FLOOR = 1e-5  # a rate of 0 is drawn here, at the left edge of the log axis
BAND_COLORS = {"very common": "#b8463f", "common": "#d9822b", "uncommon": "#c9a227", "rare": "#3a9a5b", "very rare": "#2f6f9f"}
GRADE_COLORS = {"Grade 1": "#c7dcef", "Grade 2": "#7fb2d9", "Grade 3": "#d9822b", "Grade 4": "#b8463f", "Grade 5": "#5c1f1b",
                "Not graded": "#cfd8dc"}
RESOLUTION_COLORS = ("#3a9a5b", "#8fc79a", "#d9822b", "#b0bec5", "#eceff1")
BAND_RANGES = dict(zip(CIOMS_BANDS, zip((AXIS_FLOOR, *CIOMS_LOWER_EDGES), (*CIOMS_LOWER_EDGES, 1.0))))


def _finish(fig: go.Figure, title: str, subtitle: str, height: int, wrap: int = 150, legend_below: bool = False,
            top_extra: int = 0) -> go.Figure:
    """`styled`, with the subtitle wrapped onto as many lines as it needs and room left for it."""
    lines = textwrap.wrap(subtitle, wrap)
    styled(fig, title, "<br>".join(lines), height=height)
    fig.update_layout(margin={"t": 50 + 20 * len(lines) + top_extra})
    if legend_below:
        fig.update_layout(legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0, "xanchor": "left",
                                  "traceorder": "normal"}, margin={"b": 110})
    return fig


def definition_note(settings: SideEffectSettings) -> str:
    counted = (f"onset from the first dose to {settings.window_days_after_end} days after the last dose"
               if settings.treatment_emergent else "all recorded side effects, any onset")
    return f"Per course; {counted}; repeats within a course count once"


def _log_axis(fig: go.Figure, title: str = "Courses with the effect (log scale)") -> None:
    ticks = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    fig.update_xaxes(type="log", range=[np.log10(AXIS_FLOOR), 0.02], tickvals=ticks,
                     ticktext=["0", "0.01%", "0.1%", "1%", "10%", "100%"], title_text=title)
    for edge in CIOMS_LOWER_EDGES:
        fig.add_vline(x=edge, line_dash="dot", line_color="#9e9e9e", line_width=1)
    for band, (low, high) in BAND_RANGES.items():
        fig.add_annotation(x=np.log10(np.sqrt(low * high)), y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                           text=f"<span style='color:{BAND_COLORS[band]}'>{band}</span>", font={"size": 11})


def _floored(values: pd.Series) -> np.ndarray:
    return np.maximum(values.astype("float").fillna(0).to_numpy(), AXIS_FLOOR)


def _interval_hover(table: pd.DataFrame, name_column: str) -> list[str]:
    return [
        f"<b>{row[name_column]}</b><br>{int(row['courses']):,} of {int(row['at_risk']):,} courses = {row['rate']:.2%}"
        f"<br>95% CI {row['ci_low']:.2%} to {row['ci_high']:.2%}<br>CIOMS band: {row['band']} (interval: {row['ci_bands']})"
        if pd.notna(row["rate"]) else f"<b>{row[name_column]}</b><br>not measurable"
        for _, row in table.iterrows()
    ]


def _interval_trace(table: pd.DataFrame, labels: pd.Series, band: str, hover: list[str], showlegend: bool = True) -> go.Scatter:
    rate, low, high = _floored(table["rate"]), _floored(table["ci_low"]), _floored(table["ci_high"])
    return go.Scatter(
        x=rate, y=labels, mode="markers", name=band, legendgroup=band, showlegend=showlegend,
        marker={"color": BAND_COLORS.get(band, NEUTRAL_COLOR), "size": 11, "line": {"color": "white", "width": 1}},
        error_x={"type": "data", "symmetric": False, "array": high - rate, "arrayminus": rate - low,
                 "color": BAND_COLORS.get(band, NEUTRAL_COLOR), "thickness": 2, "width": 4},
        hovertext=hover, hoverinfo="text",
    )


def named_effects_figure(named: pd.DataFrame, settings: SideEffectSettings) -> go.Figure:
    """Each effect the document names: the data's rate and CI over the band the document claims."""
    fig = go.Figure()
    labels = named["effect"]
    word_x, word_y = [], []
    for label, word in zip(labels, named["document_says"]):
        low, high = BAND_RANGES[word]
        word_x += [low, high, None]
        word_y += [label, label, None]
    fig.add_trace(go.Scatter(x=word_x, y=word_y, mode="lines", name="Document's word", hoverinfo="skip",
                             line={"color": "rgba(96,125,139,0.28)", "width": 22}))
    hover = [f"{text}<br>Document says: '{word}' ({CIOMS_DEFINITIONS[word]})<br>{comparison}<br>Literature: {literature}"
             for text, word, comparison, literature in zip(_interval_hover(named, "effect"), named["document_says"],
                                                         named["comparison"], named["literature"])]
    for band in CIOMS_BANDS[::-1]:
        rows = named["band"] == band
        if rows.any():
            fig.add_trace(_interval_trace(named[rows], labels[rows], band, [h for h, r in zip(hover, rows) if r]))
    literature = named[named["literature_rate"].notna()]
    fig.add_trace(go.Scatter(
        x=literature["literature_rate"], y=literature["effect"], mode="markers", name="Published figure",
        marker={"symbol": "diamond-open", "size": 12, "color": "#37474f", "line": {"width": 2}},
        hovertext=literature["literature"], hoverinfo="text",
    ))
    _log_axis(fig)
    fig.update_yaxes(autorange="reversed", title_text="")
    n = int(named["at_risk"].max()) if named["at_risk"].notna().any() else 0
    subtitle = (f"Dot: share of {n:,} courses with 95% CI, coloured by its CIOMS band; grey bar: the band the document's word claims; "
                f"diamond: published figure. {definition_note(settings)}")
    return _finish(fig, "The document's side effects against the data", subtitle, height=520, legend_below=True, top_extra=20)


def incidence_figure(table: pd.DataFrame, settings: SideEffectSettings, limit: int = 25) -> go.Figure:
    """The most frequent effects, ranked, with 95% CIs, coloured by CIOMS band."""
    shown = table.head(limit)
    labels = shown["term"]
    hover = [f"{text}<br>{body}<br>{int(events):,} episodes" for text, body, events in
             zip(_interval_hover(shown, "term"), shown["body_system"], shown["events"])]
    fig = go.Figure()
    for band in CIOMS_BANDS[::-1]:
        rows = shown["band"] == band
        if rows.any():
            fig.add_trace(_interval_trace(shown[rows], labels[rows], band, [h for h, r in zip(hover, rows) if r]))
    _log_axis(fig)
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=list(labels), title_text="")
    n = int(shown["at_risk"].iloc[0]) if len(shown) else 0
    more = f"; the {limit} most frequent of {len(table):,} terms" if len(table) > limit else ""
    subtitle = f"Share of {n:,} courses with 95% CI, coloured by CIOMS frequency band{more}. {definition_note(settings)}"
    return _finish(fig, "How often each side effect occurred", subtitle, height=max(420, 26 * len(shown) + 220),
                   legend_below=True, top_extra=20)


def onset_figure(onset: pd.DataFrame, terms: list[str], settings: SideEffectSettings) -> go.Figure:
    """Heat map: courses whose first episode of each effect began in each month of the course."""
    if onset.empty:
        return styled(go.Figure(), "When side effects began", "No side effect with a known onset day")
    months = list(range(int(onset["onset_month"].min()), int(onset["onset_month"].max()) + 1))
    grid = onset.pivot_table(index="term", columns="onset_month", values="courses", aggfunc="sum").reindex(index=terms, columns=months).fillna(0)
    at_risk = int(onset["at_risk"].iloc[0])
    share = grid / at_risk * 100
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=months, y=grid.index, colorscale="Oranges", colorbar={"title": "Courses"},
        customdata=share.to_numpy(), xgap=1, ygap=1,
        hovertemplate="%{y}, month %{x}: %{z:,} courses began (%{customdata:.1f}% of " + f"{at_risk:,})<extra></extra>",
    ))
    fig.update_xaxes(title_text="Month of the course (days from first dose / 30.4, rounded)", dtick=1)
    fig.update_yaxes(autorange="reversed")
    subtitle = f"First episode per course; onset day unknown left out. {definition_note(settings)}"
    return _finish(fig, "When side effects began", subtitle, height=max(380, 24 * len(terms) + 170), wrap=95)


def grade_figure(grades: pd.DataFrame, terms: list[str], settings: SideEffectSettings) -> go.Figure:
    """Courses by the worst CTCAE grade reached for each effect."""
    fig = go.Figure()
    for grade, color in GRADE_COLORS.items():
        rows = grades[grades["worst_grade"] == grade].set_index("term").reindex(terms)["courses"].fillna(0)
        if rows.sum() > 0:
            fig.add_trace(go.Bar(x=rows.to_numpy(), y=terms, orientation="h", name=grade, marker_color=color,
                                 hovertemplate="%{y}: %{x:,} courses, worst " + grade + "<extra></extra>"))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="Courses with the effect")
    fig.update_yaxes(autorange="reversed")
    subtitle = f"Worst CTCAE grade per course (1 mild ... 5 death); 'not graded': no grade recorded. {definition_note(settings)}"
    return _finish(fig, "How severe side effects were", subtitle, height=max(420, 24 * len(terms) + 230), wrap=95,
                   legend_below=True)


def resolution_figure(resolution: pd.DataFrame, settings: SideEffectSettings) -> go.Figure:
    """Share of episodes resolved during the course, soon after it, later, or not (yet) resolved."""
    labels = resolution_labels(settings.resolution_days)
    totals = resolution["events"].replace(0, np.nan)
    fig = go.Figure()
    for label, color in zip(labels, RESOLUTION_COLORS):
        share = (resolution[label] / totals * 100).fillna(0)
        fig.add_trace(go.Bar(
            x=share, y=resolution["term"], orientation="h", name=label, marker_color=color,
            customdata=np.column_stack([resolution[label], resolution["events"]]),
            hovertemplate="%{y}: %{customdata[0]:,} of %{customdata[1]:,} episodes (%{x:.1f}%)<extra>" + label + "</extra>",
        ))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="% of episodes", range=[0, 100])
    fig.update_yaxes(autorange="reversed")
    subtitle = ("Episodes without a resolution day are shown as not resolved; "
                f"'{ANY_EFFECT}' pools every episode. {definition_note(settings)}")
    return _finish(fig, "Did side effects go away after the course?", subtitle, height=max(440, 30 * len(resolution) + 260),
                   wrap=110, legend_below=True)


def comparison_figure(table: pd.DataFrame, effect: str, group_label: str, settings: SideEffectSettings) -> go.Figure:
    """Rate with 95% CI per subgroup for one effect."""
    rate = table["rate"].to_numpy(dtype="float")
    fig = go.Figure(go.Scatter(
        x=rate * 100, y=table["group"], mode="markers", marker={"size": 11, "color": PALETTE[0]},
        error_x={"type": "data", "symmetric": False, "array": (table["ci_high"] - table["rate"]).to_numpy(dtype="float") * 100,
                 "arrayminus": (table["rate"] - table["ci_low"]).to_numpy(dtype="float") * 100, "thickness": 2, "width": 4},
        customdata=np.column_stack([table["courses"], table["at_risk"]]),
        hovertemplate="%{y}: %{customdata[0]:,} of %{customdata[1]:,} courses = %{x:.1f}%<extra></extra>",
    ))
    fig.update_xaxes(title_text=f"Courses with {effect.lower() if effect != ANY_EFFECT else 'any side effect'} (%)", rangemode="tozero")
    fig.update_yaxes(autorange="reversed", title_text=group_label, type="category")
    reference = table["reference"].iloc[0] if len(table) else ""
    subtitle = (f"95% CI per group; differences against '{reference}' with Fisher's exact test in the table below. "
                f"{definition_note(settings)}")
    return _finish(fig, f"{effect} by {group_label.lower()}", subtitle, height=max(320, 40 * len(table) + 160))


def events_per_course_figure(table: pd.DataFrame, settings: SideEffectSettings) -> go.Figure:
    counts = pd.Series(table["courses"].to_numpy(), index=table["side_effects"])
    fig = go.Figure(count_bars(counts, "Courses", PALETTE[0]))
    fig.update_xaxes(title_text="Side effects recorded in the course", type="category")
    fig.update_yaxes(title_text="Courses")
    subtitle = f"{int(counts.sum()):,} courses; each episode counts. {definition_note(settings)}"
    return _finish(fig, "Side effects per course", subtitle, height=380, wrap=70)
