"""Charts of the clearance area, built from the aggregates of `analysis.clearance`.

Every chart states the clearance definition and the missed-visit rule in its subtitle, puts
the denominator on the axis or in the tooltip, and marks the source document's claim and the
published figure where one exists.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .clearance import LESION_MEASURES, ClearanceSettings, Flare, GroupComparison
from .figures import NEUTRAL_COLOR, PALETTE, histogram_bars, styled
from .literature import reference
from .survival import KaplanMeier

ARTICLE_COLOR = "#c62828"
LITERATURE_COLOR = "#6a4c93"
IGA_COLORS = {0: "#1b7837", 1: "#7fbf7b", 2: "#f1c232", 3: "#e08214", 4: "#b2182b"}
IGA_NAMES = {0: "0 clear", 1: "1 almost clear", 2: "2 mild", 3: "3 moderate", 4: "4 severe"}
LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.28, "xanchor": "left", "x": 0}
ARTICLE_CLEARANCE = 0.80  # "most users report 80-100% clearance of acne"
FLARE_DISPLAY_RANGE = (-100.0, 200.0)


def _band(x, low, high, color: str, name: str) -> list[go.Scatter]:
    """A shaded 95% CI band between two series (no hover of its own)."""
    return [
        go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False),
        go.Scatter(x=x, y=low, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=_transparent(color, 0.18),
                   hoverinfo="skip", name=name, showlegend=True),
    ]


def _transparent(hex_color: str, alpha: float) -> str:
    red, green, blue = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _reference_line(fig: go.Figure, y: float, text: str, color: str, dash: str, position: str = "top left") -> None:
    fig.add_hline(y=y, line={"color": color, "dash": dash, "width": 1.5}, annotation_text=text,
                  annotation_position=position, annotation_font={"color": color, "size": 11})


def _month_ticks(months, counts, prefix: str = "n=", zero: str = "Baseline") -> dict:
    text = [f"{zero if m == 0 else m}<br><span style='font-size:10px'>{prefix}{c:,}</span>" for m, c in zip(months, counts)]
    return {"tickmode": "array", "tickvals": list(months), "ticktext": text}


def empty_figure(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"color": NEUTRAL_COLOR})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return styled(fig, title, height=260)


def clearance_by_month_figure(by_month: pd.DataFrame, settings: ClearanceSettings) -> go.Figure:
    """Share of courses clear per month with its 95% CI band, the denominator under each month."""
    title = "Share of courses clear, month by month"
    if by_month.empty:
        return empty_figure(title, "No course has an assessment after the first dose under this definition.")
    months = by_month["month"].to_numpy()
    fig = go.Figure(_band(months, by_month["ci_low"], by_month["ci_high"], PALETTE[0], "95% confidence interval"))
    custom = np.column_stack([by_month["cleared"], by_month["n"], by_month["ci_low"], by_month["ci_high"]])
    fig.add_trace(go.Scatter(
        x=months, y=by_month["rate"], mode="lines+markers", name="Clear (this dataset)", line={"color": PALETTE[0], "width": 2.5},
        customdata=custom,
        hovertemplate="Month %{x}: <b>%{y:.1%}</b> clear (95% CI %{customdata[2]:.1%} to %{customdata[3]:.1%})"
                      "<br>%{customdata[0]:,} of %{customdata[1]:,} courses<extra></extra>",
    ))
    _reference_line(fig, ARTICLE_CLEARANCE, "Article: \"80-100% clearance\" (80%)", ARTICLE_COLOR, "dash", "bottom right")
    if settings.definition == "iga01":
        published = reference("end_of_course_iga01")
        _reference_line(fig, published.value, f"Published: {published.value:.0%} IGA 0/1 at end of course (Patel 2021)",
                        LITERATURE_COLOR, "dot", "top left")
    fig.update_yaxes(title="Courses clear (%)", tickformat=".0%", range=[0, 1.05])
    fig.update_xaxes(title="Month of course (n = courses counted that month)", **_month_ticks(months, by_month["n"]))
    subtitle = f"{settings.describe()} · shaded: 95% CI (Wilson; exact below 30 courses)"
    return styled(fig, title, subtitle, height=430)


def lesion_change_figure(lesions: pd.DataFrame, measures: tuple[str, ...] = tuple(LESION_MEASURES)) -> go.Figure:
    """Median % change from baseline per month for each lesion measure, with its interquartile range."""
    title = "How far lesion counts fell: change from each course's baseline"
    data = lesions[lesions["measure"].isin(measures) & (lesions["n_change"] > 0)]
    if data.empty:
        return empty_figure(title, "No lesion counts with a baseline count to compare against.")
    fig = go.Figure()
    for color, (measure, part) in zip(PALETTE, data.groupby("measure", sort=False)):
        label = LESION_MEASURES[measure]
        if measure == "total_lesions":
            fig.add_traces(_band(part["month"], part["change_q1"], part["change_q3"], color, "Total lesions: middle half of courses"))
        custom = np.column_stack([part["n_change"], part["change_q1"], part["change_q3"], part["median"]])
        fig.add_trace(go.Scatter(
            x=part["month"], y=part["change_median"], mode="lines+markers", name=label, line={"color": color, "width": 2},
            customdata=custom,
            hovertemplate=label + ", month %{x}: median <b>%{y:.0f}%</b> (IQR %{customdata[1]:.0f}% to %{customdata[2]:.0f}%)"
                                  "<br>median count %{customdata[3]:.0f} lesions · %{customdata[0]:,} courses<extra></extra>",
        ))
    _reference_line(fig, -80, "Article: \"80-100% clearance\" (-80%)", ARTICLE_COLOR, "dash", "bottom left")
    published = reference("lesion_reduction_week20")
    fig.add_trace(go.Scatter(
        x=[20 * 7 / 30.4375], y=[published.value * 100], mode="markers", name="Published: total lesions week 20 (Tan 2014)",
        marker={"symbol": "diamond", "size": 11, "color": LITERATURE_COLOR},
        hovertemplate=f"{published.describe()}<extra></extra>",
    ))
    fig.update_yaxes(title="Change from baseline (%)", ticksuffix="%", zeroline=True)
    fig.update_xaxes(title="Month of course (0 = baseline)", dtick=1)
    subtitle = "Lines: median course; shaded: middle half of courses (IQR), total lesions · observed visits, the last one in each month (missed visits not imputed)"
    fig = styled(fig, title, subtitle, height=470)
    fig.update_layout(legend=LEGEND_BELOW, margin={"b": 110})
    return fig


def lesion_count_figure(lesions: pd.DataFrame, measure: str = "total_lesions") -> go.Figure:
    """Median lesion count per month for one measure, with its interquartile range."""
    label = LESION_MEASURES[measure]
    title = f"{label} per month: median count"
    data = lesions[(lesions["measure"] == measure) & (lesions["n"] > 0)]
    if data.empty:
        return empty_figure(title, f"No counts of {label.lower()} in the data.")
    fig = go.Figure(_band(data["month"], data["q1"], data["q3"], PALETTE[0], "middle half of courses (IQR)"))
    fig.add_trace(go.Scatter(
        x=data["month"], y=data["median"], mode="lines+markers", name="median", line={"color": PALETTE[0], "width": 2},
        customdata=np.column_stack([data["n"], data["q1"], data["q3"]]),
        hovertemplate="Month %{x}: median <b>%{y:.0f}</b> lesions (IQR %{customdata[1]:.0f}-%{customdata[2]:.0f})"
                      "<br>%{customdata[0]:,} courses<extra></extra>",
    ))
    fig.update_yaxes(title="Lesions (count)", rangemode="tozero")
    fig.update_xaxes(title="Month of course (0 = baseline)", **_month_ticks(data["month"], data["n"]))
    return styled(fig, title, "Observed visits, the last one in each month (missed visits not imputed)", height=380)


def iga_distribution_figure(iga: pd.DataFrame) -> go.Figure:
    """Stacked shares of courses at each IGA grade, at baseline and each month."""
    title = "Acne severity (IGA) month by month"
    if iga.empty:
        return empty_figure(title, "The data has no IGA grades.")
    months = np.sort(iga["month"].unique())
    totals = iga.groupby("month")["n"].first().reindex(months)
    fig = go.Figure()
    for grade in sorted(iga["iga"].unique()):
        part = iga[iga["iga"] == grade].set_index("month").reindex(months)
        fig.add_trace(go.Bar(
            x=months, y=part["share"].fillna(0), name=IGA_NAMES.get(grade, str(grade)), marker_color=IGA_COLORS.get(grade, NEUTRAL_COLOR),
            customdata=np.column_stack([part["courses"].fillna(0), totals]),
            hovertemplate=f"IGA {IGA_NAMES.get(grade, grade)}" + ", month %{x}: <b>%{y:.0%}</b>"
                                                                  "<br>%{customdata[0]:,} of %{customdata[1]:,} courses assessed<extra></extra>",
        ))
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_yaxes(title="Courses assessed (%)", tickformat=".0%", range=[0, 1])
    fig.update_xaxes(title="Month of course (n = courses with an IGA that month)", **_month_ticks(months, totals))
    subtitle = "Baseline: each course's baseline IGA · months: the last IGA of the month, observed visits (missed visits not imputed)"
    return styled(fig, title, subtitle, height=420)


def flare_figure(flare: Flare) -> go.Figure:
    """Distribution of each course's highest lesion change in the first weeks, flares highlighted."""
    settings, estimate = flare.settings, flare.estimate
    low, high = settings.flare_window_days
    title = "Initial flare: worse before better?"
    if estimate.n == 0:
        return empty_figure(title, f"No course has a baseline lesion count and a visit on days {low}-{high}.")
    shown = flare.peak_change.clip(*FLARE_DISPLAY_RANGE)
    bars = histogram_bars(shown, bin_width=10, start=FLARE_DISPLAY_RANGE[0], name="courses", unit="%")
    flared = np.asarray(bars.x, dtype="float") - 5 >= settings.flare_percent - 1e-9
    bars.marker.color = [ARTICLE_COLOR if f else PALETTE[0] for f in flared]
    fig = go.Figure(bars)
    fig.add_vline(x=settings.flare_percent, line={"color": ARTICLE_COLOR, "dash": "dash"},
                  annotation_text=f"flare: {settings.flare_percent:g}% or more above baseline", annotation_position="top right")
    fig.update_xaxes(title=f"Highest change in total lesions, days {low}-{high} (%)", ticksuffix="%")
    fig.update_yaxes(title="Courses")
    published = reference("initial_flare")
    subtitle = (f"{estimate.estimate:.0%} flared: {estimate.numerator:,} of {estimate.n:,} courses (95% CI {estimate.ci_low:.0%}-"
                f"{estimate.ci_high:.0%})<br>Published: {published.value:.0%} (Demircay 2008) · observed visits · changes beyond +200% shown at +200%")
    fig = styled(fig, title, subtitle, height=440)
    fig.update_layout(margin={"t": 118})
    return fig


def time_to_clearance_figure(km: KaplanMeier, settings: ClearanceSettings, by_month: int = 6) -> go.Figure:
    """Cumulative share cleared (1 - Kaplan-Meier) by month, with its 95% CI and the number still followed."""
    title = "Time to clearance"
    table = km.table
    if km.n == 0:
        return empty_figure(title, "No course has an assessment after the first dose under this definition.")
    months = table["day"].to_numpy()
    cleared, low, high = 1 - table["survival"], 1 - table["ci_high"], 1 - table["ci_low"]
    fig = go.Figure(_band(months, low, high, PALETTE[2], "95% confidence interval"))
    fig.data[0].line.shape = fig.data[1].line.shape = "hv"
    fig.add_trace(go.Scatter(
        x=months, y=cleared, mode="lines", line={"shape": "hv", "color": PALETTE[2], "width": 2.5}, name="Cleared (Kaplan-Meier)",
        customdata=np.column_stack([table["at_risk"], table["events"], low, high]),
        hovertemplate="By month %{x}: <b>%{y:.1%}</b> cleared (95% CI %{customdata[2]:.1%} to %{customdata[3]:.1%})"
                      "<br>%{customdata[0]:,} courses still followed, %{customdata[1]:,} cleared that month<extra></extra>",
    ))
    if settings.definition == "iga01":
        published = reference("cleared_by_4_months")
        fig.add_trace(go.Scatter(x=[4], y=[published.value], mode="markers", name="Published: 86% cleared by 4 months",
                                 marker={"symbol": "diamond", "size": 11, "color": LITERATURE_COLOR},
                                 hovertemplate=f"{published.describe()}<extra></extra>"))
    ticks = np.arange(0, int(months.max()) + 1)
    fig.update_xaxes(title="Month of course (number still followed and not yet clear)", range=[-0.2, ticks.max() + 0.3],
                     **_month_ticks(ticks, km.at_risk_at(ticks), prefix="", zero="0"))
    fig.update_yaxes(title="Courses cleared (%)", tickformat=".0%", range=[0, 1.02])
    estimate = km.failure_at(by_month)
    at = f"by month {by_month}: {estimate.estimate:.0%} (95% CI {estimate.ci_low:.0%}-{estimate.ci_high:.0%})" if estimate.estimate is not None else ""
    subtitle = (f"Clear = {settings.definition_text()}<br>{km.n:,} courses · {at}"
                f"<br>Kaplan-Meier; courses never clear count until their last assessment; missed visits not imputed")
    fig = styled(fig, title, subtitle, height=440)
    fig.update_layout(margin={"t": 118}, legend={"orientation": "v", "yanchor": "bottom", "y": 0.04, "xanchor": "right", "x": 0.99})
    return fig


def group_comparison_figure(comparison: GroupComparison, settings: ClearanceSettings, label: str) -> go.Figure:
    """End-of-course clearance per group: point and 95% CI, n in the labels."""
    title = f"Clear at the end of course, by {label.lower()}"
    table = comparison.table
    if table.empty:
        return empty_figure(title, "No course was assessed at the end of course in any group.")
    names = [f"{g} (n={n:,})" for g, n in zip(table["group"], table["n"])]
    fig = go.Figure(go.Scatter(
        x=table["rate"], y=names, mode="markers", marker={"size": 11, "color": PALETTE[0]}, name="Clear at end of course",
        error_x={"type": "data", "symmetric": False, "array": table["ci_high"] - table["rate"], "arrayminus": table["rate"] - table["ci_low"]},
        customdata=np.column_stack([table["cleared"], table["n"], table["ci_low"], table["ci_high"]]),
        hovertemplate="%{y}: <b>%{x:.1%}</b> clear (95% CI %{customdata[2]:.1%} to %{customdata[3]:.1%})"
                      "<br>%{customdata[0]:,} of %{customdata[1]:,} courses<extra></extra>",
    ))
    fig.add_vline(x=ARTICLE_CLEARANCE, line={"color": ARTICLE_COLOR, "dash": "dash"}, annotation_text="Article: 80%",
                  annotation_position="top", annotation_yshift=8, annotation_font={"color": ARTICLE_COLOR, "size": 11})
    fig.update_yaxes(range=[len(table) - 0.4, -0.8])  # a little room above the first group for the label
    fig.update_xaxes(title="Courses clear at the end of course (%)", tickformat=".0%", range=[0, 1.02])
    fig.update_yaxes(title="")
    p_text = "" if comparison.p_value is None else f" p = {comparison.p_value:.3g}"
    subtitle = f"{settings.describe()} · {comparison.test}{p_text}"
    return styled(fig, title, subtitle, height=max(260, 120 + 45 * len(table)))
