"""Charts of the side-effects area, built from the tables of `analysis.areas.side_effects.compute`.

Frequencies are drawn on a logarithmic axis so that each CIOMS band (very rare ... very common)
takes the same width and a rare effect is as readable as a very common one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.areas.charts import (
    CIOMS_LABEL_ROWS,
    NEUTRAL_COLOR,
    PALETTE,
    axis_title,
    category_ticks,
    count_bars,
    has_hatched_bars,
    styled,
    withheld_rows,
)
from analysis.areas.side_effects.compute import (
    ANY_EFFECT,
    CIOMS_BANDS,
    CIOMS_DEFINITIONS,
    CIOMS_LOWER_EDGES,
    SideEffectSettings,
    resolution_labels,
    shown_terms,
)
from analysis.stats.suppression import (
    SUPPRESSED,
    blank_rows,
    count_label,
    count_labels,
    hatch_pattern,
    hidden_bars_note,
    hidden_cells,
    hidden_shares,
    how_many,
    numerator_labels,
    pooled,
    share_labels,
    withheld_note,
    withheld_reasons,
)

AXIS_FLOOR = 1e-5  # a rate of 0 is drawn here, at the left edge of the log axis
BAND_COLORS = {
    "very common": "#b8463f",
    "common": "#d9822b",
    "uncommon": "#c9a227",
    "rare": "#3a9a5b",
    "very rare": "#2f6f9f",
}
GRADE_COLORS = {
    "Grade 1": "#c7dcef",
    "Grade 2": "#7fb2d9",
    "Grade 3": "#d9822b",
    "Grade 4": "#b8463f",
    "Grade 5": "#5c1f1b",
    "Not graded": "#cfd8dc",
}
BAND_LABEL_ROW = 14  # px between the rows of band names above the plot
BAND_LABELS_HEIGHT = BAND_LABEL_ROW * (max(CIOMS_LABEL_ROWS) + 1) + 4
EFFECT_CHARS = 20  # an effect's name wrapped on the axis, to keep the plot wide on a phone
RESOLUTION_COLORS = ("#3a9a5b", "#8fc79a", "#d9822b", "#b0bec5", "#eceff1")
BAND_RANGES = dict(zip(CIOMS_BANDS, zip((AXIS_FLOOR, *CIOMS_LOWER_EDGES), (*CIOMS_LOWER_EDGES, 1.0))))


def _finish(
    fig: go.Figure,
    title: str,
    subtitle: str,
    height: int,
    top_extra: int = 0,
) -> go.Figure:
    """`styled` (the subtitle wrapped, the legend under the plot, room made for both), with `top_extra`
    px more above the plot for labels drawn there."""
    styled(fig, title, subtitle, height=height + top_extra)
    if top_extra:
        fig.update_layout(margin={"t": fig.layout.margin.t + top_extra})
    return fig


def definition_note(settings: SideEffectSettings) -> str:
    counted = (
        f"onset from the first dose to {settings.window_days_after_end} days after the last dose"
        if settings.treatment_emergent
        else "all recorded side effects, any onset"
    )
    return f"Per course; {counted}; repeats within a course count once"


def _log_axis(fig: go.Figure, title: str = "Courses affected (log scale)") -> None:
    """The log axis with the CIOMS bands named above the plot; a dot at 100% (or 0) drawn whole."""
    ticks = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    fig.update_xaxes(
        type="log",
        range=[np.log10(AXIS_FLOOR), 0.02],
        tickvals=ticks,
        ticktext=["0", "0.01%", "0.1%", "1%", "10%", "100%"],
        title_text=axis_title(title),
    )
    for edge in CIOMS_LOWER_EDGES:
        fig.add_vline(x=edge, line_dash="dot", line_color="#9e9e9e", line_width=1)
    for (band, (low, high)), row in zip(BAND_RANGES.items(), CIOMS_LABEL_ROWS):  # staggered: no two touch
        fig.add_annotation(
            x=np.log10(np.sqrt(low * high)),
            y=1.0,
            yref="paper",
            yanchor="bottom",
            yshift=2 + BAND_LABEL_ROW * row,
            showarrow=False,
            text=f"<span style='color:{BAND_COLORS[band]}'>{band}</span>",
            font={"size": 11},
        )
    fig.update_traces(cliponaxis=False, selector={"type": "scatter"})


def _floored(values: pd.Series) -> np.ndarray:
    return np.maximum(values.astype("float").fillna(0).to_numpy(), AXIS_FLOOR)


def _interval_hover(
    table: pd.DataFrame, name_column: str, settings: SideEffectSettings, suppress_below: int | None = None
) -> list[str]:
    hidden = hidden_shares(table["courses"], table["at_risk"], suppress_below)
    courses, at_risk = (
        numerator_labels(table["courses"], table["at_risk"], suppress_below),
        count_labels(table["at_risk"], suppress_below),
    )
    return [
        f"<b>{name}</b><br>{k} of {n} courses: share not shown (a count under {suppress_below})"
        if withheld
        else f"<b>{name}</b><br>{k} of {n} courses = {rate:.2%}"
        f"<br>95% CI {low:.2%} to {high:.2%}<br>CIOMS band: {band} (interval: {bands})"
        if pd.notna(rate)
        else f"<b>{name}</b><br>not measurable"
        for name, k, n, rate, low, high, band, bands, withheld in zip(
            shown_terms(table[name_column], settings),
            courses,
            at_risk,
            table["rate"],
            table["ci_low"],
            table["ci_high"],
            table["band"],
            table["ci_bands"],
            hidden,
        )
    ]


def _withheld_rows(
    fig: go.Figure, table: pd.DataFrame, labels: pd.Series, hover: list[str], suppress_below: int | None
) -> np.ndarray:
    """Rows whose share rests on a small count: a note at the left edge instead of a point. Returns their mask."""
    hidden = hidden_shares(table["courses"], table["at_risk"], suppress_below)
    if hidden.any():
        fig.add_trace(
            withheld_rows(
                labels[hidden],
                list(withheld_reasons(table["courses"], table["at_risk"], suppress_below)[hidden]),
                np.full(int(hidden.sum()), AXIS_FLOOR),
                [h for h, w in zip(hover, hidden) if w],
            )
        )
    return hidden


def _interval_trace(
    table: pd.DataFrame, labels: pd.Series, band: str, hover: list[str], showlegend: bool = True
) -> go.Scatter:
    rate, low, high = _floored(table["rate"]), _floored(table["ci_low"]), _floored(table["ci_high"])
    return go.Scatter(
        x=rate,
        y=labels,
        mode="markers",
        name=band,
        legendgroup=band,
        showlegend=showlegend,
        marker={"color": BAND_COLORS.get(band, NEUTRAL_COLOR), "size": 11, "line": {"color": "white", "width": 1}},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": high - rate,
            "arrayminus": rate - low,
            "color": BAND_COLORS.get(band, NEUTRAL_COLOR),
            "thickness": 2,
            "width": 4,
        },
        hovertext=hover,
        hoverinfo="text",
    )


def named_effects_figure(
    named: pd.DataFrame, settings: SideEffectSettings, *, suppress_below: int | None = None
) -> go.Figure:
    """Each effect the document names: the data's rate and CI over the band the document claims
    (an effect of fewer courses than `suppress_below`, or nearly all, shows a note instead of its share)."""
    fig = go.Figure()
    labels = named["effect"]
    word_x, word_y = [], []
    for label, word in zip(labels, named["document_says"]):
        low, high = BAND_RANGES[word]
        word_x += [low, high, None]
        word_y += [label, label, None]
    fig.add_trace(
        go.Scatter(
            x=word_x,
            y=word_y,
            mode="lines",
            name="Document's word",
            hoverinfo="skip",
            line={"color": "rgba(96,125,139,0.28)", "width": 22},
        )
    )
    hover = [
        f"{text}<br>Document says: '{word}' ({CIOMS_DEFINITIONS[word]})<br>{comparison}<br>Literature: {literature}"
        for text, word, comparison, literature in zip(
            _interval_hover(named, "effect", settings, suppress_below),
            named["document_says"],
            named["comparison"],
            named["literature"],
        )
    ]
    hidden = _withheld_rows(fig, named, labels, hover, suppress_below)
    for band in CIOMS_BANDS[::-1]:
        rows = (named["band"] == band) & ~hidden
        if rows.any():
            fig.add_trace(_interval_trace(named[rows], labels[rows], band, [h for h, r in zip(hover, rows) if r]))
    literature = named[named["literature_rate"].notna()]
    fig.add_trace(
        go.Scatter(
            x=literature["literature_rate"],
            y=literature["effect"],
            mode="markers",
            name="Published figure",
            marker={"symbol": "diamond-open", "size": 12, "color": "#37474f", "line": {"width": 2}},
            hovertext=literature["literature"],
            hoverinfo="text",
        )
    )
    _log_axis(fig)
    fig.update_yaxes(autorange="reversed", title_text="", **category_ticks(labels, EFFECT_CHARS))
    n = int(named["at_risk"].max()) if named["at_risk"].notna().any() else 0
    subtitle = (
        f"Dot: share of {count_label(n, suppress_below)} courses with 95% CI, coloured by its CIOMS band; grey bar: the band the "
        f"document's word claims; diamond: published figure. {definition_note(settings)}"
    )
    if hidden.any():
        subtitle += f". {withheld_note(suppress_below, how_many(int(hidden.sum()), 'side effect'))}."
    return _finish(
        fig, "The document's side effects against the data", subtitle, height=520, top_extra=BAND_LABELS_HEIGHT
    )


def incidence_figure(
    table: pd.DataFrame, settings: SideEffectSettings, limit: int = 25, *, suppress_below: int | None = None
) -> go.Figure:
    """The most frequent effects, ranked, with 95% CIs, coloured by CIOMS band (effects resting on a
    count under `suppress_below` keep their row with a note)."""
    shown = table.head(limit)
    labels = pd.Series(shown_terms(shown["term"], settings), index=shown.index)
    hover = [
        f"{text}<br>{body}<br>{events} episodes"
        for text, body, events in zip(
            _interval_hover(shown, "term", settings, suppress_below),
            shown["body_system"],
            count_labels(shown["events"], suppress_below),
        )
    ]
    fig = go.Figure()
    hidden = _withheld_rows(fig, shown, labels, hover, suppress_below)
    for band in CIOMS_BANDS[::-1]:
        rows = (shown["band"] == band) & ~hidden
        if rows.any():
            fig.add_trace(_interval_trace(shown[rows], labels[rows], band, [h for h, r in zip(hover, rows) if r]))
    _log_axis(fig)
    fig.update_yaxes(
        autorange="reversed",
        categoryorder="array",
        categoryarray=list(labels),
        title_text="",
        **category_ticks(labels, EFFECT_CHARS),
    )
    n = int(shown["at_risk"].iloc[0]) if len(shown) else 0
    more = f"; the {limit} most frequent of {len(table):,} terms" if len(table) > limit else ""
    subtitle = f"Share of {count_label(n, suppress_below)} courses with 95% CI, coloured by CIOMS frequency band{more}. {definition_note(settings)}"
    if hidden.any():
        subtitle += f". {withheld_note(suppress_below, how_many(int(hidden.sum()), 'side effect'))}."
    return _finish(
        fig,
        "How often each side effect occurred",
        subtitle,
        height=max(420, 30 * len(shown) + 220),
        top_extra=BAND_LABELS_HEIGHT,
    )


def onset_figure(
    onset: pd.DataFrame, terms: list[str], settings: SideEffectSettings, *, suppress_below: int | None = None
) -> go.Figure:
    """Heat map: courses whose first episode of each effect began in each month of the course.

    With `suppress_below`, a cell of fewer courses is coloured as the threshold and reads "<5"
    (with one more cell of its row when it is the row's only one)."""
    if onset.empty:
        return styled(go.Figure(), "When side effects began", "No side effect with a known onset day")
    months = list(range(int(onset["onset_month"].min()), int(onset["onset_month"].max()) + 1))
    grid = (
        onset.pivot_table(index="term", columns="onset_month", values="courses", aggfunc="sum")
        .reindex(index=terms, columns=months)
        .fillna(0)
    )
    at_risk = int(onset["at_risk"].iloc[0])
    share = grid / at_risk * 100
    small, protecting = hidden_cells(grid, suppress_below)
    hidden = (small | protecting).to_numpy()
    counts = count_labels(grid.to_numpy().ravel(), suppress_below).reshape(grid.shape)
    counts[protecting.to_numpy()] = SUPPRESSED
    shares = share_labels(share.to_numpy().ravel() / 100, hidden.ravel(), ".1%").reshape(grid.shape)
    fig = go.Figure(
        go.Heatmap(
            z=np.where(hidden, suppress_below or 0, grid.to_numpy()),
            x=months,
            y=shown_terms(grid.index, settings),
            colorscale="Oranges",
            colorbar={"title": "Courses"},
            customdata=np.dstack([counts, shares]),
            xgap=1,
            ygap=1,
            hovertemplate="%{y}, month %{x}: %{customdata[0]} courses began (%{customdata[1]} of "
            + f"{count_label(at_risk, suppress_below)})<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=axis_title("Month of the course (days from first dose / 30.4, rounded)"), dtick=1)
    fig.update_yaxes(autorange="reversed")
    subtitle = f"First episode per course; onset day unknown left out. {definition_note(settings)}"
    if hidden.any():
        subtitle += (
            f". Cells of fewer than {suppress_below} courses are coloured as {suppress_below} and read "
            f"'<{suppress_below}' (one more per row may read 'suppressed')."
        )
    return _finish(fig, "When side effects began", subtitle, height=max(380, 24 * len(terms) + 170))


def grade_figure(
    grades: pd.DataFrame, terms: list[str], settings: SideEffectSettings, *, suppress_below: int | None = None
) -> go.Figure:
    """Courses by the worst CTCAE grade reached for each effect (grades of fewer courses than
    `suppress_below` hatched at that length, per analysis.stats.suppression)."""
    fig = go.Figure()
    grid = (
        grades.pivot_table(index="term", columns="worst_grade", values="courses", aggfunc="sum", observed=True)
        .reindex(index=terms, columns=list(GRADE_COLORS))
        .fillna(0)
    )
    small, protecting = hidden_cells(grid, suppress_below)
    for grade, color in GRADE_COLORS.items():
        rows = grid[grade]
        if rows.sum() > 0:
            hidden = (small[grade] | protecting[grade]).to_numpy()
            counts = count_labels(rows, suppress_below)
            counts[protecting[grade].to_numpy()] = SUPPRESSED
            fig.add_trace(
                go.Bar(
                    x=np.where(hidden, suppress_below or 0, rows.to_numpy()),
                    y=shown_terms(terms, settings),
                    orientation="h",
                    name=grade,
                    marker_color=color,
                    marker_pattern=hatch_pattern(hidden) if hidden.any() else None,
                    customdata=counts,
                    hovertemplate="%{y}: %{customdata} courses, worst " + grade + "<extra></extra>",
                )
            )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="Courses with the effect")
    fig.update_yaxes(autorange="reversed")
    subtitle = f"Worst CTCAE grade per course (1 mild ... 5 death); 'not graded': no grade recorded. {definition_note(settings)}"
    if suppress_below and has_hatched_bars(fig):
        subtitle += f". {hidden_bars_note(suppress_below)}."
    return _finish(
        fig,
        "How severe side effects were",
        subtitle,
        height=max(420, 24 * len(terms) + 230),
    )


def resolution_figure(
    resolution: pd.DataFrame, settings: SideEffectSettings, *, suppress_below: int | None = None
) -> go.Figure:
    """Share of episodes resolved during the course, soon after it, later, or not (yet) resolved.

    With `suppress_below`, an effect with fewer episodes is named with a note, and a part of fewer
    episodes is hatched at the threshold's share (analysis.stats.suppression)."""
    labels = resolution_labels(settings.resolution_days)
    too_few = resolution["events"].between(1, (suppress_below or 1) - 1).to_numpy()
    totals = resolution["events"].replace(0, np.nan).where(~too_few)
    parts = resolution[list(labels)].mask(np.broadcast_to(too_few[:, None], (len(resolution), len(labels))), 0)
    small, protecting = hidden_cells(parts, suppress_below)
    drawn = pooled(parts.div(totals, axis=0) * 100, small | protecting).fillna(0)
    fig = go.Figure()
    for label, color in zip(labels, RESOLUTION_COLORS):
        share = (resolution[label] / totals * 100).fillna(0)
        hidden = (small[label] | protecting[label]).to_numpy()
        counts = count_labels(resolution[label], suppress_below)
        counts[protecting[label].to_numpy()] = SUPPRESSED
        fig.add_trace(
            go.Bar(
                x=np.where(hidden, drawn[label], share),
                y=shown_terms(resolution["term"], settings),
                orientation="h",
                name=label,
                marker_color=color,
                marker_pattern=hatch_pattern(hidden) if hidden.any() else None,
                customdata=np.column_stack(
                    [
                        counts,
                        count_labels(resolution["events"], suppress_below),
                        share_labels(share / 100, hidden | too_few, ".1%"),
                    ]
                ),
                hovertemplate="%{y}: %{customdata[0]} of %{customdata[1]} episodes (%{customdata[2]})<extra>"
                + label
                + "</extra>",
            )
        )
    if too_few.any():
        fig.add_trace(
            withheld_rows(
                shown_terms(resolution["term"][too_few], settings),
                [f"fewer than {suppress_below} episodes: not shown"] * int(too_few.sum()),
                np.zeros(int(too_few.sum())),
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="% of episodes", range=[0, 100])
    fig.update_yaxes(autorange="reversed")
    subtitle = (
        "Episodes without a resolution day are shown as not resolved; "
        f"'{ANY_EFFECT}' pools every episode. {definition_note(settings)}"
    )
    if suppress_below and has_hatched_bars(fig):
        subtitle += f". {hidden_bars_note(suppress_below, 'episodes', pooled_parts=True)}."
    return _finish(
        fig,
        "Did side effects go away after the course?",
        subtitle,
        height=max(440, 30 * len(resolution) + 260),
    )


def comparison_figure(
    table: pd.DataFrame,
    effect: str,
    group_label: str,
    settings: SideEffectSettings,
    *,
    suppress_below: int | None = None,
) -> go.Figure:
    """Rate with 95% CI per subgroup for one effect (a group resting on a count under
    `suppress_below` keeps its row with a note instead of a point)."""
    hidden = hidden_shares(table["courses"], table["at_risk"], suppress_below)
    shown = blank_rows(table[["rate", "ci_low", "ci_high"]].astype("float"), hidden)
    rate = shown["rate"].to_numpy(dtype="float")
    courses, at_risk = (
        numerator_labels(table["courses"], table["at_risk"], suppress_below),
        count_labels(table["at_risk"], suppress_below),
    )
    fig = go.Figure(
        go.Scatter(
            x=rate * 100,
            y=table["group"],
            mode="markers",
            marker={"size": 11, "color": PALETTE[0]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (shown["ci_high"] - shown["rate"]).to_numpy(dtype="float") * 100,
                "arrayminus": (shown["rate"] - shown["ci_low"]).to_numpy(dtype="float") * 100,
                "thickness": 2,
                "width": 4,
            },
            customdata=np.column_stack([courses, at_risk]),
            hovertemplate="%{y}: %{customdata[0]} of %{customdata[1]} courses = %{x:.1f}%<extra></extra>",
        )
    )
    if hidden.any():
        fig.add_trace(
            withheld_rows(
                table["group"][hidden],
                list(withheld_reasons(table["courses"], table["at_risk"], suppress_below)[hidden]),
                np.zeros(int(hidden.sum())),
                [
                    f"{g}: {k} of {n} courses; share not shown"
                    for g, k, n in zip(table["group"][hidden], courses[hidden], at_risk[hidden])
                ],
            )
        )
        fig.update_layout(showlegend=False)
    fig.update_xaxes(
        title_text=f"Courses with {effect.lower() if effect != ANY_EFFECT else 'any side effect'} (%)",
        rangemode="tozero",
    )
    fig.update_yaxes(autorange="reversed", title_text=group_label, type="category")
    reference = table["reference"].iloc[0] if len(table) else ""
    subtitle = (
        f"95% CI per group; differences against '{reference}' with Fisher's exact test in the table below. "
        f"{definition_note(settings)}"
    )
    if hidden.any():
        subtitle += f". {withheld_note(suppress_below, how_many(int(hidden.sum()), 'group'))}."
    return _finish(
        fig,
        f"{shown_terms([effect], settings)[0]} by {group_label.lower()}",
        subtitle,
        height=max(320, 40 * len(table) + 160),
    )


def events_per_course_figure(
    table: pd.DataFrame, settings: SideEffectSettings, *, suppress_below: int | None = None
) -> go.Figure:
    """Courses by the number of side effects recorded (small counts hatched with `suppress_below`)."""
    counts = pd.Series(table["courses"].to_numpy(), index=table["side_effects"])
    fig = go.Figure(count_bars(counts, "Courses", PALETTE[0], suppress_below=suppress_below))
    fig.update_xaxes(title_text="Side effects recorded in the course", type="category")
    fig.update_yaxes(title_text="Courses")
    subtitle = (
        f"{count_label(int(counts.sum()), suppress_below)} courses; each episode counts. {definition_note(settings)}"
    )
    if suppress_below and has_hatched_bars(fig):
        subtitle += f". {hidden_bars_note(suppress_below)}."
    return _finish(fig, "Side effects per course", subtitle, height=380)
