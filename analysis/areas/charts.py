"""Shared figure styling and building blocks, so every chart reads the same way.

Charts are built from aggregates (counts per bin, estimates per month), never from one mark per
row, so they stay light at a million courses.
"""

from __future__ import annotations

import re
import textwrap
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.stats.suppression import HATCH, bar_heights, count_labels, hatch_pattern, numerator_labels, share_labels

PALETTE = ("#2f6f9f", "#d9822b", "#3a9a5b", "#b8463f", "#7d5ba6", "#8c6d31", "#5a8f9c", "#c46aa0")
SUPPORTED_COLOR = "#2e7d32"
CONTRADICTED_COLOR = "#c62828"
NEUTRAL_COLOR = "#607d8b"
FONT = "Inter, Segoe UI, Helvetica, Arial, sans-serif"
TEMPLATE = go.Layout(template="plotly_white").template  # validated once, as every chart carries it


# Chart text is wrapped on the server, at widths that fit a phone: the browser's width is not known
# here, and a line that fits a 390-px screen (a chart about 358 px wide) reads well on a desktop too.
TITLE_SIZE = 16
TITLE_CHARS = 40  # characters per title line at 16 px
SUBTITLE_CHARS = 56  # per subtitle line (plotly's <sup>, 70% of the title's size)
LINE_SPACING = 1.3  # plotly's line height, in font sizes
TITLE_PAD = 12  # px between the top edge and the title
TITLE_GAP = 16  # px between the title block and the plot (or the panel titles above it)
PANEL_TITLE_SIZE = 16  # make_subplots' titles of the panels
MIN_PLOT_HEIGHT = 220  # px of plot a chart keeps on a phone, below its title and above its legend
LEGEND_ROW = 24  # px per row of a legend under the plot
PHONE_LEGEND_WIDTH = 320  # px a phone leaves for a legend's row
AXIS_TITLE_CHARS = 30  # an axis title's line, wrapped to fit under a phone's plot
PHONE_PLOT_WIDTH = 250  # px of plot a phone leaves beside the axis labels
TICK_CHAR_PX = 6.5  # px per character of a tick label, with a little to spare
TICK_GAP = 8  # px kept between two tick labels side by side
# Rows of the CIOMS band names (very rare ... very common) over a log axis: on a phone each band is about
# 40 px wide, so neighbours go on different rows and "very common" (the widest) on a row of its own.
CIOMS_LABEL_ROWS = (0, 1, 0, 1, 2)
BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)

# A legend under the plot, at the bottom of the chart: plotly keeps that strip free of the plot, its
# tick labels and axis titles however many rows the legend wraps onto on a narrow screen. Its rows run
# the chart's whole width (not only the plot's), so a phone fits more entries on a row.
LEGEND_BELOW = {
    "orientation": "h",
    "yref": "container",
    "y": 0,
    "yanchor": "bottom",
    "xref": "container",
    "x": 0,
    "xanchor": "left",
    "traceorder": "normal",
}


def wrap_lines(text: str, width: int) -> list[str]:
    """The lines of `text` (existing <br> kept), each broken at spaces to at most `width` characters."""
    lines = []
    for part in BREAK.split(text or ""):
        lines += textwrap.wrap(part, width, break_long_words=False, break_on_hyphens=False) or [""]
    return lines


def wrapped(text: str, width: int) -> str:
    """`text` with <br> where a line would pass `width` characters (for panel titles, annotations, labels)."""
    return "<br>".join(wrap_lines(text, width))


def axis_title(text: str) -> str:
    """An axis title wrapped to fit under (or beside) a phone's plot."""
    return wrapped(text, AXIS_TITLE_CHARS)


def category_ticks(labels, width: int = 24) -> dict:
    """Axis settings naming each category (row) with its name wrapped at `width` characters, so that long
    names beside a plot leave a phone's plot wide and are not cut at the chart's edge."""
    names = [str(label) for label in dict.fromkeys(labels)]
    return {"tickmode": "array", "tickvals": names, "ticktext": [wrapped(name, width) for name in names]}


def label_step(labels: list[str], width: float = PHONE_PLOT_WIDTH) -> int:
    """Every how many ticks a label is written so that the labels (their longest line) stand side by side,
    horizontal, across a phone's plot: 1 when all of them fit. The other ticks keep their mark and grid line."""
    if not labels:
        return 1
    widest = max(len(plain_title(line)) for label in labels for line in BREAK.split(label))
    needed = len(labels) * (widest * TICK_CHAR_PX + TICK_GAP)
    return max(1, int(np.ceil(needed / width)))


def title_text(title: str, subtitle: str = "") -> str:
    """The chart's title and its smaller subtitle, each wrapped to fit a phone."""
    text = wrapped(title, TITLE_CHARS)
    if subtitle:
        text += "<br><sup>" + wrapped(subtitle, SUBTITLE_CHARS) + "</sup>"
    return text


def plain_title(text: str) -> str:
    """A chart title as words: line breaks as spaces and markup removed ("title" / "subtitle" searchable)."""
    return re.sub(r"<[^>]+>", "", BREAK.sub(" ", text or ""))


def title_block(text: str, size: float) -> int:
    """Pixels from the chart's top edge to the plot that a title of `text` at `size` px needs."""
    lines = len(BREAK.split(text)) if text else 0
    return round(title_pad(size) + lines * LINE_SPACING * size + TITLE_GAP)


def title_pad(size: float) -> int:
    """Pixels above a title at `size` px: plotly places a large title's first line a little high."""
    return round(TITLE_PAD * max(size, TITLE_SIZE) / TITLE_SIZE)


def panel_titles_height(fig: go.Figure, size: float) -> int:
    """Pixels the panels' own titles (`make_subplots(subplot_titles=...)`, drawn just above the top row)
    take between the chart's title and the plot."""
    lines = [
        len(BREAK.split(note.text or ""))
        for note in fig.layout.annotations
        if note.yref == "paper" and note.yanchor == "bottom" and (note.y or 0) >= 0.999
    ]
    return round(max(lines) * LINE_SPACING * size) if lines else 0


def legend_rows(fig: go.Figure, width: float = PHONE_LEGEND_WIDTH, char_px: float = 7.0) -> int:
    """Rows a horizontal legend of the figure's entries takes in `width` px (0 when no legend is drawn)."""
    if fig.layout.showlegend is False:
        return 0
    names = [
        trace.name
        for trace in fig.data
        if trace.name and trace.showlegend is not False and getattr(trace, "legend", None) in (None, "legend")
    ]
    names = list(dict.fromkeys(names))
    if not names or (len(names) == 1 and fig.layout.showlegend is not True):
        return 0
    rows, used = 1, 0.0
    for name in names:
        entry = 40 + char_px * len(plain_title(name))
        if used and used + entry > width:
            rows, used = rows + 1, 0.0
        used += entry
    return rows


def styled(fig: go.Figure, title: str, subtitle: str = "", height: int = 380) -> go.Figure:
    """Title and subtitle (definitions, n) wrapped to fit a phone, the legend under the plot, margins and
    fonts common to every chart.

    `height` is the chart's height with a one-line title and subtitle; a longer title or a legend that
    would wrap on a phone makes the chart taller, so the plot keeps its height at every width. Plotly
    keeps the title (`automargin`) and the legend clear of the plot whatever a figure sets afterwards."""
    text = title_text(title, subtitle)
    top = title_block(text, TITLE_SIZE) + panel_titles_height(fig, PANEL_TITLE_SIZE)
    usual_top = 80 if subtitle else 56
    plot = max(height - usual_top - 50, MIN_PLOT_HEIGHT)
    with_template(fig)
    fig.update_layout(
        title={
            "text": text,
            "x": 0,
            "xanchor": "left",
            "yref": "container",
            "y": 1,
            "yanchor": "top",
            "pad": {"t": TITLE_PAD},
            "automargin": True,
            "font": {"size": TITLE_SIZE},
        },
        font={"family": FONT, "size": 13},
        height=top + plot + 50 + LEGEND_ROW * legend_rows(fig),
        margin={"l": 60, "r": 20, "t": top, "b": 50},
        legend=LEGEND_BELOW,
        hoverlabel={"font": {"family": FONT}},
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


# Presenter mode on a 1920 x 1080 projector: text sizes in px, read from the back of a room.
PROJECTOR_FONT = {"title": 28, "text": 20, "legend": 18, "annotation": 18}
PROJECTOR_LINE_WIDTH = 4
PROJECTOR_MARKER_SIZE = 11
PROJECTOR_MIN_HEIGHT = 560


def for_projector(fig: go.Figure) -> go.Figure:
    """A copy of the chart for presenter mode: title 28 px, axis titles and ticks 20 px, legend 18 px
    (below the plot, where a large legend cannot sit on the title), thicker lines and larger markers.
    The page draws and exports this copy, so a presenter's PNG carries the large type too."""
    big = go.Figure(fig)
    layout = big.layout
    top = layout.margin.t or 56
    big_top = max(
        top,
        title_block(layout.title.text or "", PROJECTOR_FONT["title"])
        + panel_titles_height(big, PROJECTOR_FONT["annotation"]),
    )
    big.update_layout(
        font_size=PROJECTOR_FONT["text"],
        title={"font": {"size": PROJECTOR_FONT["title"]}, "pad": {"t": title_pad(PROJECTOR_FONT["title"])}},
        legend={**LEGEND_BELOW, "font": {"size": PROJECTOR_FONT["legend"]}},
        height=max(
            (layout.height or 380) + big_top - top + 40 + LEGEND_ROW * legend_rows(big, 1400, 10), PROJECTOR_MIN_HEIGHT
        ),
        margin={"t": big_top, "b": (layout.margin.b or 50) + 40, "l": (layout.margin.l or 60) + 20},
    )
    big.update_xaxes(title_font_size=PROJECTOR_FONT["text"], tickfont_size=PROJECTOR_FONT["text"])
    big.update_yaxes(title_font_size=PROJECTOR_FONT["text"], tickfont_size=PROJECTOR_FONT["text"])
    big.update_annotations(font_size=PROJECTOR_FONT["annotation"])
    for trace in big.data:
        _thicker(trace)
    return big


def _thicker(trace) -> None:
    """Drawn lines at least 4 px wide, markers at least 11 px and text on the plot at least 18 px, for the
    traces that have them; a line drawn 0 px wide (the edge of a shaded band) stays invisible."""
    line = getattr(trace, "line", None)
    if line is not None and "width" in line and line.width != 0:
        line.width = max(line.width or 2, PROJECTOR_LINE_WIDTH)
    marker = getattr(trace, "marker", None)
    if marker is not None and "size" in marker and not isinstance(marker.size, (tuple, list)):
        marker.size = max(marker.size or 6, PROJECTOR_MARKER_SIZE)
    textfont = getattr(trace, "textfont", None)
    if textfont is not None and "size" in textfont and not isinstance(textfont.size, (tuple, list)):
        textfont.size = max(textfont.size or 12, PROJECTOR_FONT["annotation"])


def with_template(fig: go.Figure) -> go.Figure:
    """The plotly_white template, set the way plotly sets its default one: a registered template is
    valid already, and validating it again (a deep copy and a check of every property) cost ~10 ms
    per chart, more than the rest of most charts."""
    layout = fig.layout
    layout._validate = False
    try:
        layout.template = TEMPLATE
    finally:
        layout._validate = fig._validate
    return fig


def vertical_span(x0: float, x1: float, axis: int = 1, **style) -> dict:
    """A line (x0 == x1) or band across the whole height of subplot `axis`, as `add_vline` /
    `add_vrect` draw it, for `add_shapes`."""
    suffix = "" if axis == 1 else str(axis)
    return {
        "type": "line" if x0 == x1 else "rect",
        "x0": x0,
        "x1": x1,
        "xref": f"x{suffix}",
        "y0": 0,
        "y1": 1,
        "yref": f"y{suffix} domain",
        **style,
    }


def add_shapes(fig: go.Figure, shapes: list[dict]) -> go.Figure:
    """Shapes added in one assignment: plotly's add_vline / add_vrect each validate the layout again."""
    fig.layout.shapes = [*fig.layout.shapes, *shapes]
    return fig


def empty_figure(title: str, message: str) -> go.Figure:
    """A chart's place kept, with the reason it has nothing to draw (the report and exports keep their layout)."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"color": NEUTRAL_COLOR}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return styled(fig, title, height=260)


def histogram_bars(
    values: pd.Series,
    bin_width: float,
    start: float | None = None,
    name: str = "",
    color: str = PALETTE[0],
    unit: str = "",
    *,
    suppress_below: int | None = None,
) -> go.Bar:
    """A histogram as bars of precomputed counts (bin edges in the hover, with n).

    With `suppress_below`, bins of fewer courses are drawn hatched at that height and read "<5"
    (analysis.stats.suppression)."""
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
    heights, texts, hidden = bar_heights(counts, suppress_below)
    return go.Bar(
        x=centers,
        y=heights if hidden.any() else counts,
        width=bin_width * 0.95,
        name=name,
        marker_color=color,
        marker_pattern=hatch_pattern(hidden) if hidden.any() else None,
        customdata=np.column_stack([labels, texts]),
        hovertemplate="%{customdata[0]}: %{customdata[1]} courses<extra>" + name + "</extra>",
    )


def count_bars(
    counts: pd.Series,
    name: str = "",
    color: str = PALETTE[0],
    unit: str = "courses",
    *,
    suppress_below: int | None = None,
    horizontal: bool = False,
) -> go.Bar:
    """Bars of counts per category with each one's share of the total in the hover; small counts
    hatched and written "<5" with `suppress_below`. `horizontal` bars name their categories beside
    them, where a narrow panel has no room for the names under the bars."""
    total = counts.sum()
    share = (counts / total * 100) if total else counts * 0
    heights, texts, hidden = bar_heights(counts.to_numpy(), suppress_below)
    shares = (
        share_labels(share.round(1).to_numpy() / 100, hidden, ".1%")
        if suppress_below
        else share.round(1).map("{:g}%".format).to_numpy()
    )
    categories, values = [str(i) for i in counts.index], heights if hidden.any() else counts.to_numpy()
    return go.Bar(
        x=values if horizontal else categories,
        y=categories if horizontal else values,
        orientation="h" if horizontal else "v",
        name=name,
        marker_color=color,
        marker_pattern=hatch_pattern(hidden) if hidden.any() else None,
        customdata=np.column_stack([texts, shares]),
        hovertemplate=("%{y}" if horizontal else "%{x}")
        + ": %{customdata[0]} "
        + unit
        + " (%{customdata[1]})<extra>"
        + name
        + "</extra>",
    )


def has_hatched_bars(fig: go.Figure) -> bool:
    """Whether any bar of the figure stands for a hidden count (drawn hatched)."""
    for trace in fig.data:
        pattern = getattr(getattr(trace, "marker", None), "pattern", None)
        shapes = getattr(pattern, "shape", None) if pattern is not None else None
        if shapes is not None and not isinstance(shapes, str) and HATCH in shapes:
            return True
    return False


def withheld_rows(labels, texts, x, hover=None, name: str = "count under 5") -> go.Scatter:
    """Rows of a category chart whose value is not drawn: a grey note in the row instead of a point."""
    return go.Scatter(
        x=list(x),
        y=list(labels),
        mode="text",
        text=list(texts),
        textposition="middle right",
        name=name,
        showlegend=False,
        textfont={"color": NEUTRAL_COLOR, "size": 11},
        hovertext=list(hover if hover is not None else texts),
        hoverinfo="text",
    )


def share_hover_data(numerators, totals, ci_low, ci_high, hidden, suppress_below: int | None) -> np.ndarray:
    """A share's hover data, as shown: `customdata[0]` of `customdata[1]` counted, 95% CI `[2]` to `[3]`
    (small counts as "<5", hidden shares' bounds blank)."""
    return np.column_stack(
        [
            numerator_labels(numerators, totals, suppress_below),
            count_labels(totals, suppress_below),
            share_labels(ci_low, hidden),
            share_labels(ci_high, hidden),
        ]
    )


HOVER_DECIMALS = 4  # decimals a number keeps in a figure's hover data (customdata), where it reads the same


def as_hovered(values, shown_decimals: int, keep: int = HOVER_DECIMALS) -> np.ndarray:
    """Numbers for a figure's hover data, written as `"%{customdata[i]:.<shown_decimals>f}"` shows them:
    rounded to `keep` decimals (a shorter figure to send), each one left as it was where the rounding
    would change what the hover reads (plotly writes a number as JavaScript's `toFixed`: half away from
    zero, on the number's exact binary value)."""
    values = np.asarray(values, dtype=float)
    rounded = np.round(values, keep)
    step = Decimal(1).scaleb(-shown_decimals)

    def shown(value: float) -> Decimal | float:
        return value if not np.isfinite(value) else Decimal(value).quantize(step, rounding=ROUND_HALF_UP)

    same = np.fromiter((shown(a) == shown(b) for a, b in zip(values, rounded)), dtype=bool, count=len(values))
    return np.where(same | ~np.isfinite(values), rounded, values)
