"""Charts of the clearance area, built from the aggregates of `analysis.areas.clearance.compute`.

Every chart states the clearance definition and the missed-visit rule in its subtitle, puts
the denominator on the axis or in the tooltip, and marks the source document's claim and the
published figure where one exists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.areas.charts import (
    NEUTRAL_COLOR,
    PALETTE,
    axis_title,
    empty_figure,
    has_hatched_bars,
    histogram_bars,
    label_step,
    share_hover_data,
    styled,
    withheld_rows,
    wrapped,
)
from analysis.areas.clearance.compute import LESION_MEASURES, ClearanceSettings, Flare, GroupComparison
from analysis.areas.literature import reference
from analysis.schema import DAYS_PER_MONTH
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
)
from analysis.stats.survival import KaplanMeier

ARTICLE_COLOR = "#c62828"
LITERATURE_COLOR = "#6a4c93"
IGA_COLORS = {0: "#1b7837", 1: "#7fbf7b", 2: "#f1c232", 3: "#e08214", 4: "#b2182b"}
IGA_NAMES = {0: "0 clear", 1: "1 almost clear", 2: "2 mild", 3: "3 moderate", 4: "4 severe"}
# An article line: where a reading of a claim puts its threshold on this chart, and its label naming
# the reading ("Article, read as ..."). The claims area chooses it; no reading, no line.
ArticleLine = tuple[float, str]
FLARE_DISPLAY_RANGE = (-100.0, 200.0)


ANNOTATION_CHARS = 40  # a label on the plot, wrapped to fit a phone


def _band(x, low, high, color: str, name: str) -> list[go.Scatter]:
    """A shaded 95% CI band between two series (no hover of its own)."""
    return [
        go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False),
        go.Scatter(
            x=x,
            y=low,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=_transparent(color, 0.18),
            hoverinfo="skip",
            name=name,
            showlegend=True,
        ),
    ]


def _transparent(hex_color: str, alpha: float) -> str:
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _reference_line(fig: go.Figure, y: float, text: str, color: str, dash: str, position: str = "top left") -> None:
    fig.add_hline(
        y=y,
        line={"color": color, "dash": dash, "width": 1.5},
        annotation_text=wrapped(text, ANNOTATION_CHARS),
        annotation_position=position,
        annotation_font={"color": color, "size": 11},
    )


def _month_ticks(months, counts, zero: str = "0", suppress_below: int | None = None) -> dict:
    """A tick per month, labelled with the month and the count under it; on a long course every second
    (third ...) month from the first is labelled so that the labels stay horizontal on a phone."""
    text = [
        f"{zero if m == 0 else m}<br><span style='font-size:85%'>{c}</span>"
        for m, c in zip(months, count_labels(counts, suppress_below))
    ]
    step = label_step(text)
    return {
        "tickmode": "array",
        "tickvals": list(months),
        "ticktext": [label if i % step == 0 else "" for i, label in enumerate(text)],
    }


def _months_text(months) -> str:
    months = [int(m) for m in months]
    return f"month{'s' if len(months) > 1 else ''} {', '.join(map(str, months))}"


def _too_few(n, suppress_below: int | None) -> np.ndarray:
    """Summaries (medians, quartiles) resting on fewer courses than the threshold: not drawn."""
    values = np.asarray(n, dtype="float")
    return values < suppress_below if suppress_below else np.zeros(values.shape, dtype=bool)


def clearance_by_month_figure(
    by_month: pd.DataFrame,
    settings: ClearanceSettings,
    *,
    suppress_below: int | None = None,
    article: ArticleLine | None = None,
) -> go.Figure:
    """Share of courses clear per month with its 95% CI band, the denominator under each month.

    With `suppress_below`, a month whose share rests on a small count is left as a gap."""
    title = "Share of courses clear, month by month"
    if by_month.empty:
        return empty_figure(title, "No course has an assessment after the first dose under this definition.")
    months = by_month["month"].to_numpy()
    hidden = hidden_shares(by_month["cleared"], by_month["n"], suppress_below)
    shown = blank_rows(by_month[["rate", "ci_low", "ci_high"]], hidden)
    fig = go.Figure(_band(months, shown["ci_low"], shown["ci_high"], PALETTE[0], "95% confidence interval"))
    custom = share_hover_data(
        by_month["cleared"], by_month["n"], by_month["ci_low"], by_month["ci_high"], hidden, suppress_below
    )
    fig.add_trace(
        go.Scatter(
            x=months,
            y=shown["rate"],
            mode="lines+markers",
            name="Clear (this dataset)",
            line={"color": PALETTE[0], "width": 2.5},
            customdata=custom,
            hovertemplate="Month %{x}: <b>%{y:.1%}</b> clear (95% CI %{customdata[2]} to %{customdata[3]})"
            "<br>%{customdata[0]} of %{customdata[1]} courses<extra></extra>",
        )
    )
    if article is not None:
        _reference_line(fig, article[0], article[1], ARTICLE_COLOR, "dash", "bottom right")
    if settings.definition == "iga01":
        published = reference("end_of_course_iga01")
        _reference_line(
            fig,
            published.value,
            f"Published: {published.value:.0%} IGA 0/1 at end of course (Patel 2021)",
            LITERATURE_COLOR,
            "dot",
            "top left",
        )
    fig.update_yaxes(title="Courses clear (%)", tickformat=".0%", range=[0, 1.05])
    fig.update_xaxes(
        title=axis_title("Month of course (under each: courses counted that month)"),
        **_month_ticks(months, by_month["n"], suppress_below=suppress_below),
    )
    subtitle = f"{settings.describe()} · shaded: 95% CI (Wilson; exact below 30 courses)"
    if hidden.any():
        subtitle += f"<br>{withheld_note(suppress_below, _months_text(months[hidden]))}"
    return styled(fig, title, subtitle, height=430)


def lesion_change_figure(
    lesions: pd.DataFrame,
    measures: tuple[str, ...] = tuple(LESION_MEASURES),
    *,
    suppress_below: int | None = None,
    article: ArticleLine | None = None,
) -> go.Figure:
    """Median % change from baseline per month for each lesion measure, with its interquartile range.

    With `suppress_below`, months with fewer courses than that are not drawn."""
    title = "How far lesion counts fell: change from each course's baseline"
    data = lesions[lesions["measure"].isin(measures) & (lesions["n_change"] > 0)]
    data = data[~_too_few(data["n_change"], suppress_below)]
    if data.empty:
        return empty_figure(title, "No lesion counts with a baseline count to compare against.")
    fig = go.Figure()
    for color, (measure, part) in zip(PALETTE, data.groupby("measure", sort=False)):
        label = LESION_MEASURES[measure]
        if measure == "total_lesions":
            fig.add_traces(
                _band(
                    part["month"], part["change_q1"], part["change_q3"], color, "Total lesions: middle half of courses"
                )
            )
        custom = np.column_stack([count_labels(part["n_change"]), part["change_q1"], part["change_q3"], part["median"]])
        fig.add_trace(
            go.Scatter(
                x=part["month"],
                y=part["change_median"],
                mode="lines+markers",
                name=label,
                line={"color": color, "width": 2},
                customdata=custom,
                hovertemplate=label
                + ", month %{x}: median <b>%{y:.0f}%</b> (IQR %{customdata[1]:.0f}% to %{customdata[2]:.0f}%)"
                "<br>median count %{customdata[3]:.0f} lesions · %{customdata[0]} courses<extra></extra>",
            )
        )
    if article is not None:
        _reference_line(fig, article[0], article[1], ARTICLE_COLOR, "dash", "bottom left")
    published = reference("lesion_reduction_week20")
    fig.add_trace(
        go.Scatter(
            x=[20 * 7 / DAYS_PER_MONTH],
            y=[published.value * 100],
            mode="markers",
            name="Published: total lesions week 20 (Tan 2014)",
            marker={"symbol": "diamond", "size": 11, "color": LITERATURE_COLOR},
            hovertemplate=f"{published.describe()}<extra></extra>",
        )
    )
    fig.update_yaxes(title="Change from baseline (%)", ticksuffix="%", zeroline=True)
    fig.update_xaxes(title="Month of course (0 = baseline)", dtick=1)
    subtitle = "Lines: median course; shaded: middle half of courses (IQR), total lesions · observed visits, the last one in each month (missed visits not imputed)"
    if suppress_below:
        subtitle += f"<br>Months with fewer than {suppress_below} courses not drawn"
    fig = styled(fig, title, subtitle, height=470)
    return fig


def iga_distribution_figure(iga: pd.DataFrame, *, suppress_below: int | None = None) -> go.Figure:
    """Stacked shares of courses at each IGA grade, at baseline and each month.

    With `suppress_below`, months with fewer courses assessed are left out, and within a month a
    grade of fewer courses is drawn hatched at the threshold's share (analysis.stats.suppression)."""
    title = "Acne severity (IGA) month by month"
    all_months = np.sort(iga["month"].unique())
    too_few = all_months[_too_few(iga.groupby("month")["n"].first().reindex(all_months), suppress_below)]
    iga = iga[~iga["month"].isin(too_few)]
    if iga.empty:
        return empty_figure(
            title,
            "The data has no IGA grades."
            if not len(too_few)
            else f"No month has IGA grades for {suppress_below} courses or more.",
        )
    months = np.sort(iga["month"].unique())
    totals = iga.groupby("month")["n"].first().reindex(months)
    grid = iga.pivot_table(index="month", columns="iga", values="courses", aggfunc="sum", fill_value=0).reindex(months)
    small, protecting = hidden_cells(grid, suppress_below)
    hidden = small | protecting
    drawn = pooled(grid.div(totals, axis=0), hidden)
    fig = go.Figure()
    for grade in sorted(iga["iga"].unique()):
        part = iga[iga["iga"] == grade].set_index("month").reindex(months)
        counts = count_labels(part["courses"].fillna(0), suppress_below)
        counts[protecting[grade].to_numpy()] = SUPPRESSED
        share = part["share"].fillna(0).where(~hidden[grade], drawn[grade])
        fig.add_trace(
            go.Bar(
                x=months,
                y=share,
                name=IGA_NAMES.get(grade, str(grade)),
                marker_color=IGA_COLORS.get(grade, NEUTRAL_COLOR),
                marker_pattern=hatch_pattern(hidden[grade]) if hidden[grade].any() else None,
                customdata=np.column_stack(
                    [
                        counts,
                        count_labels(totals, suppress_below),
                        share_labels(part["share"].fillna(0), hidden[grade], ".0%"),
                    ]
                ),
                hovertemplate=f"IGA {IGA_NAMES.get(grade, grade)}" + ", month %{x}: <b>%{customdata[2]}</b>"
                "<br>%{customdata[0]} of %{customdata[1]} courses assessed<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_yaxes(title="Courses assessed (%)", tickformat=".0%", range=[0, 1])
    fig.update_xaxes(
        title=axis_title("Month of course (0 = baseline; under each: courses with an IGA that month)"),
        **_month_ticks(months, totals, suppress_below=suppress_below),
    )
    subtitle = "Baseline: each course's baseline IGA · months: the last IGA of the month, observed visits (missed visits not imputed)"
    if suppress_below and (len(too_few) or hidden.to_numpy().any()):
        parts = [f"{_months_text(too_few)} not drawn (fewer than {suppress_below} courses)"] if len(too_few) else []
        parts += [hidden_bars_note(suppress_below, pooled_parts=True)] if hidden.to_numpy().any() else []
        subtitle += "<br>" + ". ".join(part[:1].upper() + part[1:] for part in parts)
    return styled(fig, title, subtitle, height=420)


def flare_figure(flare: Flare, *, suppress_below: int | None = None) -> go.Figure:
    """Distribution of each course's highest lesion change in the first weeks, flares highlighted
    (small bins hatched and the share withheld when it rests on a small count, with `suppress_below`)."""
    settings, estimate = flare.settings, flare.estimate
    low, high = settings.flare_window_days
    title = "Initial flare: worse before better?"
    if estimate.n == 0:
        return empty_figure(title, f"No course has a baseline lesion count and a visit on days {low}-{high}.")
    shown = flare.peak_change.clip(*FLARE_DISPLAY_RANGE)
    bars = histogram_bars(
        shown, bin_width=10, start=FLARE_DISPLAY_RANGE[0], name="courses", unit="%", suppress_below=suppress_below
    )
    flared = np.asarray(bars.x, dtype="float") - 5 >= settings.flare_percent - 1e-9
    bars.marker.color = [ARTICLE_COLOR if f else PALETTE[0] for f in flared]
    fig = go.Figure(bars)
    fig.add_vline(
        x=settings.flare_percent,
        line={"color": ARTICLE_COLOR, "dash": "dash"},
        annotation_text=f"flare: {settings.flare_percent:g}% or more above baseline",
        annotation_position="top right",
    )
    fig.update_xaxes(title=f"Highest change in total lesions, days {low}-{high} (%)", ticksuffix="%")
    fig.update_yaxes(title="Courses")
    published = reference("initial_flare")
    if hidden_shares([estimate.numerator], [estimate.n], suppress_below)[0]:
        share = (
            f"Share that flared not shown: {numerator_labels([estimate.numerator], [estimate.n], suppress_below)[0]} of "
            f"{count_label(estimate.n, suppress_below)} courses (a count under {suppress_below})"
        )
    else:
        share = (
            f"{estimate.estimate:.0%} flared: {estimate.numerator:,} of {estimate.n:,} courses (95% CI {estimate.ci_low:.0%}-"
            f"{estimate.ci_high:.0%})"
        )
    hatched = f" · {hidden_bars_note(suppress_below)}" if suppress_below and has_hatched_bars(fig) else ""
    subtitle = (
        f"{share}<br>Published: {published.value:.0%} (Demircay 2008) · observed visits · changes beyond +200% shown at +200%"
        f"{hatched}"
    )
    return styled(fig, title, subtitle, height=440)


def time_to_clearance_figure(
    km: KaplanMeier, settings: ClearanceSettings, by_month: int = 6, *, suppress_below: int | None = None
) -> go.Figure:
    """Cumulative share cleared (1 - Kaplan-Meier) by month, with its 95% CI and the number still followed
    (numbers under `suppress_below` written "<5"; a curve of fewer courses not drawn)."""
    title = "Time to clearance"
    table = km.table
    if km.n == 0:
        return empty_figure(title, "No course has an assessment after the first dose under this definition.")
    if _too_few([km.n], suppress_below)[0]:
        return empty_figure(
            title, f"Not drawn: fewer than {suppress_below} courses were assessed after the first dose."
        )
    months = table["day"].to_numpy()
    cleared, low, high = 1 - table["survival"], 1 - table["ci_high"], 1 - table["ci_low"]
    fig = go.Figure(_band(months, low, high, PALETTE[2], "95% confidence interval"))
    fig.data[0].line.shape = fig.data[1].line.shape = "hv"
    fig.add_trace(
        go.Scatter(
            x=months,
            y=cleared,
            mode="lines",
            line={"shape": "hv", "color": PALETTE[2], "width": 2.5},
            name="Cleared (Kaplan-Meier)",
            customdata=np.column_stack(
                [
                    count_labels(table["at_risk"], suppress_below),
                    count_labels(table["events"], suppress_below),
                    share_labels(low, np.zeros(len(table), bool)),
                    share_labels(high, np.zeros(len(table), bool)),
                ]
            ),
            hovertemplate="By month %{x}: <b>%{y:.1%}</b> cleared (95% CI %{customdata[2]} to %{customdata[3]})"
            "<br>%{customdata[0]} courses still followed, %{customdata[1]} cleared that month<extra></extra>",
        )
    )
    if settings.definition == "iga01":
        published = reference("cleared_by_4_months")
        fig.add_trace(
            go.Scatter(
                x=[4],
                y=[published.value],
                mode="markers",
                name="Published: 86% cleared by 4 months",
                marker={"symbol": "diamond", "size": 11, "color": LITERATURE_COLOR},
                hovertemplate=f"{published.describe()}<extra></extra>",
            )
        )
    ticks = np.arange(0, int(months.max()) + 1)
    fig.update_xaxes(
        title=axis_title("Month of course (under each: courses still followed and not yet clear)"),
        range=[-0.2, ticks.max() + 0.3],
        **_month_ticks(ticks, km.at_risk_at(ticks), suppress_below=suppress_below),
    )
    fig.update_yaxes(title="Courses cleared (%)", tickformat=".0%", range=[0, 1.02])
    estimate = km.failure_at(by_month)
    at = (
        f"by month {by_month}: {estimate.estimate:.0%} (95% CI {estimate.ci_low:.0%}-{estimate.ci_high:.0%})"
        if estimate.estimate is not None
        else ""
    )
    subtitle = (
        f"Clear = {settings.definition_text()}<br>{count_label(km.n, suppress_below)} courses · {at}"
        f"<br>Kaplan-Meier; courses never clear count until their last assessment; missed visits not imputed"
    )
    return styled(fig, title, subtitle, height=440)


def group_comparison_figure(
    comparison: GroupComparison,
    settings: ClearanceSettings,
    label: str,
    *,
    suppress_below: int | None = None,
    article: ArticleLine | None = None,
) -> go.Figure:
    """End-of-course clearance per group: point and 95% CI, n in the labels (a group whose share
    rests on a count under `suppress_below` keeps its row with a note instead of a point)."""
    title = f"Clear at the end of course, by {label.lower()}"
    table = comparison.table
    if table.empty:
        return empty_figure(title, "No course was assessed at the end of course in any group.")
    names = np.array(
        [f"{g} (n={n})" for g, n in zip(table["group"], count_labels(table["n"], suppress_below))], dtype=object
    )
    hidden = hidden_shares(table["cleared"], table["n"], suppress_below)
    shown = blank_rows(table[["rate", "ci_low", "ci_high"]], hidden)
    cleared, totals = (
        numerator_labels(table["cleared"], table["n"], suppress_below),
        count_labels(table["n"], suppress_below),
    )
    fig = go.Figure(
        go.Scatter(
            x=shown["rate"],
            y=names,
            mode="markers",
            marker={"size": 11, "color": PALETTE[0]},
            name="Clear at end of course",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": shown["ci_high"] - shown["rate"],
                "arrayminus": shown["rate"] - shown["ci_low"],
            },
            customdata=np.column_stack(
                [cleared, totals, share_labels(table["ci_low"], hidden), share_labels(table["ci_high"], hidden)]
            ),
            hovertemplate="%{y}: <b>%{x:.1%}</b> clear (95% CI %{customdata[2]} to %{customdata[3]})"
            "<br>%{customdata[0]} of %{customdata[1]} courses<extra></extra>",
        )
    )
    if hidden.any():
        notes = [f"{c} of {n} clear: share not shown" for c, n in zip(cleared[hidden], totals[hidden])]
        fig.add_trace(
            withheld_rows(
                names[hidden],
                [f"count under {suppress_below}: not shown"] * int(hidden.sum()),
                np.zeros(int(hidden.sum())),
                notes,
            )
        )
    if article is not None:
        fig.add_vline(
            x=article[0],
            line={"color": ARTICLE_COLOR, "dash": "dash"},
            annotation_text=wrapped(article[1], ANNOTATION_CHARS),
            annotation_position="top left",
            annotation_yshift=8,
            annotation_font={"color": ARTICLE_COLOR, "size": 11},
        )
    fig.update_yaxes(range=[len(table) - 0.4, -0.8])  # a little room above the first group for the label
    fig.update_traces(cliponaxis=False, selector={"type": "scatter"})  # a dot at 100% drawn whole
    fig.update_xaxes(title="Courses clear at the end of course (%)", tickformat=".0%", range=[0, 1.02])
    fig.update_yaxes(title="")
    p_text = "" if comparison.p_value is None else f" p = {comparison.p_value:.3g}"
    subtitle = f"{settings.describe()} · {comparison.test}{p_text}"
    if hidden.any():
        left_out = f"{how_many(int(hidden.sum()), 'group')} of {len(table)}"
        subtitle += f"<br>{withheld_note(suppress_below, left_out)}"
    return styled(fig, title, subtitle, height=max(260, 120 + 45 * len(table)))
