"""Charts of the lab area, built from the aggregates of `analysis.areas.labs.compute`.

Every chart names its statistic and definitions in the subtitle, gives n in its tooltips and
marks the source document's claim ("rare") and the published figures where they exist.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.areas.charts import (
    NEUTRAL_COLOR,
    PALETTE,
    axis_title,
    category_ticks,
    empty_figure,
    share_hover_data,
    styled,
    withheld_rows,
    wrapped,
)
from analysis.areas.labs.compute import EDISH_QUADRANTS, PHASES, LabSettings, proportion_intervals
from analysis.areas.literature import reference
from analysis.ingest.lab_units import BY_CODE
from analysis.schema import DAYS_PER_MONTH
from analysis.stats.suppression import (
    SUPPRESSED,
    blank_rows,
    count_labels,
    hidden_cells,
    hidden_shares,
    how_many,
    numerator_labels,
    share_labels,
    small_label,
    withheld_note,
)

ARTICLE_COLOR = "#c62828"
LITERATURE_COLOR = "#6a4c93"
LIMIT_COLOR = "#b8463f"
GRADE_COLORS = {1: "#f1c232", 2: "#e08214", 3: "#b2182b"}
PHASE_ORDER = (PHASES["course"], PHASES["after"])
MIN_RESULTS = 10  # time points with fewer results are not drawn (too noisy to read)
LEGEND_CHARS = 40  # a legend entry wrapped to fit a phone
LABEL_CHARS = 26  # a row's name beside the plot, wrapped to fit a phone
SVG_MAX_POINTS = 3_000  # a chart with more points is drawn with WebGL (scattergl), slow to start where no GPU helps
INDIVIDUAL_LEVEL = (
    "Not shown in presenter mode or in a shared report: this chart draws each course's own values, "
    "and a single patient's results can be recognised. Leave presenter mode to see it."
)


def _scatter(points: int):
    """The trace type for a chart of `points` points: SVG while few, WebGL beyond SVG_MAX_POINTS."""
    return go.Scatter if points <= SVG_MAX_POINTS else go.Scattergl


def _finish(fig: go.Figure, title: str, subtitle: str, height: int) -> go.Figure:
    """`styled` (the subtitle wrapped, the legend under the plot, room made for both)."""
    return styled(fig, title, subtitle, height=height)


def test_name(test: str) -> str:
    return BY_CODE[test].name if test in BY_CODE else test


def _rgba(hex_color: str, alpha: float) -> str:
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _time_axis(rows: pd.DataFrame, settings: LabSettings) -> tuple[list, dict]:
    """x values and axis settings: months as numbers, visits as ordered labels."""
    if settings.group == "visit":
        order = rows.drop_duplicates("visit").sort_values("visit_order")["visit"].tolist()
        return rows["visit"].tolist(), {"title": "Nominal visit", "categoryorder": "array", "categoryarray": order}
    return rows["month"].tolist(), {
        "title": axis_title("Month of course (0 = first dose; negative = before)"),
        "dtick": 1,
    }


def trend_figure(
    trend: pd.DataFrame,
    test: str,
    settings: LabSettings,
    min_results: int = MIN_RESULTS,
    *,
    suppress_below: int | None = None,
) -> go.Figure:
    """One test over the course: median and IQR (or mean and SD) per month or visit, per group,
    with the upper limit of normal as a dashed line. With `suppress_below`, time points need at
    least that many results, and a share above the limit resting on a small count reads "suppressed"."""
    name = test_name(test)
    min_results = max(min_results, suppress_below or 0)
    rows = trend[(trend["test"] == test) & (trend["n"] >= min_results)]
    title = f"{name} during and after the course"
    if rows.empty:
        return empty_figure(title, f"No time point has {min_results} or more {test} results.")
    unit = rows["unit"].iloc[0]
    series = "group" if "group" in rows else "phase" if "phase" in rows else None
    groups = (
        [None]
        if series is None
        else [g for g in PHASE_ORDER if g in set(rows[series])]
        if series == "phase"
        else rows[series].unique().tolist()
    )
    fig = go.Figure()
    for i, group in enumerate(groups):
        part = rows if group is None else rows[rows[series] == group]
        _add_center_and_band(
            fig,
            part,
            settings,
            unit,
            PALETTE[i % len(PALETTE)],
            group,
            dashed=group == PHASES["after"],
            suppress_below=suppress_below,
        )
    limit = float(trend.loc[trend["test"] == test, "upper_limit"].median())
    if np.isfinite(limit):
        fig.add_hline(
            y=limit,
            line={"color": LIMIT_COLOR, "dash": "dash", "width": 1.5},
            annotation_text=f"Upper limit of normal ({limit:g} {unit})",
            annotation_position="top left",
            annotation_font={"color": LIMIT_COLOR, "size": 11},
        )
    _, axis = _time_axis(rows, settings)
    fig.update_xaxes(**axis)
    fig.update_yaxes(title=f"{test} ({unit})", rangemode="tozero")
    fig.update_layout(showlegend=len(groups) > 1)
    centre = (
        "Line: median; shaded: middle half (IQR)"
        if settings.statistic == "median_iqr"
        else "Line: mean; shaded: ± 1 SD"
    )
    subtitle = f"{centre}. All results per time point, as observed; points with under {min_results} results hidden. Hover for n"
    return _finish(fig, title, subtitle, height=400)


def _add_center_and_band(
    fig: go.Figure,
    part: pd.DataFrame,
    settings: LabSettings,
    unit: str,
    color: str,
    group,
    dashed: bool = False,
    suppress_below: int | None = None,
) -> None:
    x, _ = _time_axis(part, settings)
    if settings.statistic == "median_iqr":
        centre, low, high = part["median"], part["q1"], part["q3"]
        text = "median %{y:.3g} " + unit + " (IQR %{customdata[1]:.3g} to %{customdata[2]:.3g})"
    else:
        centre, low, high = part["mean"], part["mean"] - part["sd"], part["mean"] + part["sd"]
        text = "mean %{y:.3g} " + unit + " (SD %{customdata[3]:.3g})"
    label = "all courses" if group is None else str(group)
    fig.add_trace(
        go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False, legendgroup=label)
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=low,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=_rgba(color, 0.16),
            hoverinfo="skip",
            showlegend=False,
            legendgroup=label,
        )
    )
    hidden = hidden_shares(part["above_uln_n"], part["limit_known_n"], suppress_below)
    custom = np.column_stack(
        [count_labels(part["n"], suppress_below), low, high, part["sd"], share_labels(part["above_uln"], hidden, ".0%")]
    )
    where = "Visit %{x}" if settings.group == "visit" else "Month %{x}"
    fig.add_trace(
        go.Scatter(
            x=x,
            y=centre,
            mode="lines+markers",
            name=label,
            line={"color": color, "width": 2.5, "dash": "dot" if dashed else "solid"},
            legendgroup=label,
            customdata=custom,
            hovertemplate=f"<b>{label}</b> · {where}: {text}<br>n = %{{customdata[0]}} results · "
            "%{customdata[4]} above the upper limit<extra></extra>",
        )
    )


def above_limit_figure(
    trend: pd.DataFrame,
    tests: list[str],
    settings: LabSettings,
    min_results: int = MIN_RESULTS,
    *,
    suppress_below: int | None = None,
) -> go.Figure:
    """Share of results above the upper limit per month (or visit), one line per test, 95% CI bars
    (a point resting on a count under `suppress_below` left as a gap)."""
    title = "How often results were above the upper limit of normal"
    min_results = max(min_results, suppress_below or 0)
    rows = trend[trend["test"].isin(tests)]
    during = "phase" in rows
    if during:
        rows = rows[rows["phase"] == PHASES["course"]]
    if "group" in rows or during:
        rows = rows.groupby(["test", "unit", settings.group], as_index=False, observed=True).agg(
            above_uln_n=("above_uln_n", "sum"),
            limit_known_n=("limit_known_n", "sum"),
            **({"visit_order": ("visit_order", "first")} if settings.group == "visit" else {}),
        )
        shares = proportion_intervals(rows["above_uln_n"], rows["limit_known_n"])
        rows = rows.assign(
            above_uln=shares["share"].to_numpy(),
            ci_low=shares["ci_low"].to_numpy(),
            ci_high=shares["ci_high"].to_numpy(),
        )
    rows = rows[rows["limit_known_n"] >= min_results]
    if rows.empty:
        return empty_figure(title, "No results with a known upper limit.")
    fig = go.Figure()
    withheld = 0
    for i, test in enumerate([t for t in tests if t in set(rows["test"])]):
        part = rows[rows["test"] == test]
        if settings.group == "visit":
            part = part.sort_values("visit_order")
        x, _ = _time_axis(part, settings)
        hidden = hidden_shares(part["above_uln_n"], part["limit_known_n"], suppress_below)
        withheld += int(hidden.sum())
        shown = blank_rows(part[["above_uln", "ci_low", "ci_high"]], hidden)
        custom = share_hover_data(
            part["above_uln_n"], part["limit_known_n"], part["ci_low"], part["ci_high"], hidden, suppress_below
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=shown["above_uln"],
                mode="lines+markers",
                name=test,
                line={"color": PALETTE[i % len(PALETTE)], "width": 2},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": shown["ci_high"] - shown["above_uln"],
                    "arrayminus": shown["above_uln"] - shown["ci_low"],
                    "thickness": 1,
                    "width": 3,
                },
                customdata=custom,
                hovertemplate=f"<b>{test_name(test)}</b> %{{x}}: %{{y:.1%}} above the limit "
                "(95% CI %{customdata[2]} to %{customdata[3]})<br>%{customdata[0]} of %{customdata[1]} results<extra></extra>",
            )
        )
    _, axis = _time_axis(rows.sort_values(settings.group if settings.group == "month" else "visit_order"), settings)
    fig.update_xaxes(**axis)
    fig.update_yaxes(title="Results above the upper limit (%)", tickformat=".0%", rangemode="tozero")
    which = "results up to the last dose" if during else "all results"
    subtitle = (
        f"Share of {which} at each time point; bars: 95% CI (Wilson; exact below 30). "
        f"Points with fewer than {min_results} results hidden"
    )
    if withheld:
        subtitle += f". {withheld_note(suppress_below, how_many(withheld, 'point'), 'results')}"
    return _finish(fig, title, subtitle, height=400)


def new_abnormal_figure(
    table: pd.DataFrame, *, suppress_below: int | None = None, article: tuple[float, str] | None = None
) -> go.Figure:
    """Courses with a normal baseline that went above the limit on treatment, beside Zane 2006 and,
    when a reading of the claims tested holds these shares against a threshold, the article's line
    (`article`: value and label naming the reading); a measure resting on a count under
    `suppress_below` keeps its row with a note instead of a bar."""
    title = "New out-of-range values on treatment (baseline normal)"
    rows = table[table["group"] == "all courses"] if "group" in table else table
    rows = rows[rows["courses"] > 0]
    if rows.empty:
        return empty_figure(title, "No course has both a normal baseline and a result on treatment.")
    labels = rows["measure"].tolist()
    fig, hidden = _share_bars(
        rows,
        "measure",
        "new_abnormal",
        "new_abnormal_n",
        "courses with a normal baseline",
        suppress_below,
        color=PALETTE[0],
        name="This dataset",
    )
    published = rows[rows["literature"].notna()]
    if len(published):
        fig.add_trace(
            go.Scatter(
                y=published["measure"],
                x=published["literature"],
                mode="markers",
                name="Published (Zane 2006, n=13,772)",
                marker={
                    "symbol": "diamond",
                    "size": 13,
                    "color": LITERATURE_COLOR,
                    "line": {"color": "white", "width": 1},
                },
                hovertemplate="<b>%{y}</b>: %{x:.0%} in Zane et al. 2006, Arch Dermatol<extra></extra>",
            )
        )
    if article is not None:
        fig.add_trace(
            go.Scatter(
                x=[article[0], article[0]],
                y=[labels[0], labels[-1]],
                mode="lines",
                name=article[1],
                line={"color": ARTICLE_COLOR, "dash": "dash", "width": 2},
                hoverinfo="skip",
            )
        )
    fig.update_xaxes(
        title=axis_title("Courses with a new value above the upper limit (%)"), tickformat=".0%", rangemode="tozero"
    )
    fig.update_yaxes(autorange="reversed")
    subtitle = (
        "Among courses whose last result before the first dose (baseline window) was within limits and with a result "
        "during treatment; bars: 95% CI (Wilson; exact below 30 courses)"
    )
    if hidden.any():
        subtitle += f". {withheld_note(suppress_below, how_many(int(hidden.sum()), 'measure'))}"
    return _finish(fig, title, subtitle, height=max(400, 170 + 48 * len(rows)))  # a plot >= 200 px on a phone


def grade_figure(grades: pd.DataFrame, *, suppress_below: int | None = None) -> go.Figure:
    """Worst CTCAE grade on treatment per test: share of courses at grade 1, 2 and 3 or more.

    With `suppress_below`, a grade reached by fewer courses (or hidden with one, so the test's total
    cannot give it away) is not drawn and is named at the end of its row; a test graded in fewer
    courses is named with a note (analysis.stats.suppression)."""
    title = "How far values rose: worst CTCAE v5 grade on treatment"
    if grades.empty:
        return empty_figure(title, "No graded test (ALT, AST, triglycerides, cholesterol, CK) on treatment.")
    fig = go.Figure()
    share = {
        1: grades["grade_1_plus"] - grades["grade_2_plus"],
        2: grades["grade_2_plus"] - grades["grade_3_plus"],
        3: grades["grade_3_plus"],
    }
    counts = pd.DataFrame(
        {
            1: grades["grade_1_plus_n"] - grades["grade_2_plus_n"],
            2: grades["grade_2_plus_n"] - grades["grade_3_plus_n"],
            3: grades["grade_3_plus_n"],
            0: grades["courses"] - grades["grade_1_plus_n"],
        }
    )
    too_few = grades["courses"].between(1, (suppress_below or 1) - 1).to_numpy()
    small, protecting = hidden_cells(counts.mask(np.broadcast_to(too_few[:, None], counts.shape), 0), suppress_below)
    hidden = small | protecting
    names = {1: "Grade 1 (mild)", 2: "Grade 2 (moderate)", 3: "Grade 3-4 (severe)"}
    for grade, label in names.items():
        texts = count_labels(counts[grade], suppress_below)
        texts[protecting[grade].to_numpy()] = SUPPRESSED
        fig.add_trace(
            go.Bar(
                y=grades["test"],
                x=share[grade].where(~(hidden[grade].to_numpy() | too_few)),
                orientation="h",
                name=label,
                marker_color=GRADE_COLORS[grade],
                customdata=np.column_stack(
                    [texts, count_labels(grades["courses"], suppress_below), share_labels(share[grade], hidden[grade])]
                ),
                hovertemplate="<b>%{y}</b>: "
                + label
                + " in %{customdata[2]} of courses (%{customdata[0]} of %{customdata[1]})<extra></extra>",
            )
        )
    labels = [f"  grade 3+: {text}" for text in share_labels(grades["grade_3_plus"], hidden[3])]
    if suppress_below:
        labels = [
            "" if few else _hidden_grades_label(label, small.loc[i], hidden.loc[i], suppress_below)
            for i, label, few in zip(grades.index, labels, too_few)
        ]
    total = (
        grades["grade_1_plus"].to_numpy()
        if not suppress_below
        else np.nansum([share[g].where(~hidden[g]) for g in names], axis=0)
    )
    fig.add_trace(
        go.Scatter(
            y=grades["test"],
            x=total,
            mode="text",
            text=labels,
            textposition="middle right",
            showlegend=False,
            hoverinfo="skip",
            textfont={"size": 11, "color": NEUTRAL_COLOR},
        )
    )
    if too_few.any():
        fig.add_trace(
            withheld_rows(
                grades["test"][too_few],
                [f"fewer than {suppress_below} courses graded: not shown"] * int(too_few.sum()),
                np.zeros(int(too_few.sum())),
            )
        )
    fig.update_layout(barmode="stack", legend={"traceorder": "normal"})
    fig.update_xaxes(title="Courses (%)", tickformat=".0%", range=[0, max(0.1, float(np.nanmax(total)) * 1.25)])
    fig.update_yaxes(autorange="reversed")
    tg3, liver3 = reference("ctcae_grade3_tg"), reference("ctcae_grade3_liver")
    subtitle = (
        f"Courses with a graded result during treatment; ALT/AST relative to the baseline when it was already above the limit. "
        f"Published grade 3+: triglycerides under {tg3.value:.0%}, liver tests under {liver3.value:.1%} ({tg3.source}, {tg3.population})"
    )
    if hidden.to_numpy().any():
        subtitle += (
            f"; grades of fewer than {suppress_below} courses (or hidden with one so that a total cannot give it away) "
            "are not drawn and are named beside the bar"
        )
    return _finish(fig, title, subtitle, height=max(400, 190 + 40 * len(grades)))  # a plot >= 200 px on a phone


def edish_figure(
    points: pd.DataFrame, max_points: int = 5000, seed: int = 0, *, suppress_below: int | None = None
) -> go.Figure:
    """eDISH: each course's peak ALT against peak total bilirubin on treatment, as multiples of the
    upper limit, log axes, lines at ALT 3x and bilirubin 2x (FDA DILI guidance 2009).

    One point per course: with `suppress_below` (presenter mode, shared reports) it is not drawn."""
    title = "Liver safety (eDISH): peak ALT against peak bilirubin"
    if suppress_below:
        return empty_figure(title, "<br>".join(textwrap.wrap(INDIVIDUAL_LEVEL, 95)))
    if points.empty:
        return empty_figure(title, "Needs ALT and total bilirubin (BILI) results on treatment for the same courses.")
    shown = points if len(points) <= max_points else _sample_keeping_outliers(points, max_points, seed)
    fig = go.Figure()
    scatter = _scatter(len(shown))
    for i, (key, label) in enumerate(EDISH_QUADRANTS.items()):
        part = shown[shown["quadrant"] == key]
        if part.empty:
            continue
        fig.add_trace(
            scatter(
                x=part["alt_uln"],
                y=part["bili_uln"],
                mode="markers",
                name=wrapped(label, LEGEND_CHARS),
                marker={
                    "size": 6 if key == "normal" else 9,
                    "color": NEUTRAL_COLOR if key == "normal" else PALETTE[(i + 2) % len(PALETTE)],
                    "opacity": 0.5 if key == "normal" else 0.9,
                },
                customdata=part["label"],
                hovertemplate="<b>%{customdata}</b><br>peak ALT %{x:.2f} x upper limit<br>peak bilirubin %{y:.2f} x upper limit<extra></extra>",
            )
        )
    fig.add_vline(x=3, line={"color": ARTICLE_COLOR, "dash": "dash", "width": 1})
    fig.add_hline(y=2, line={"color": ARTICLE_COLOR, "dash": "dash", "width": 1})
    for x, y, text, anchor in (
        (0.98, 0.98, "Possible Hy's law", "right"),
        (0.02, 0.98, "High bilirubin only", "left"),
        (0.98, 0.02, "ALT >= 3x only", "right"),
        (0.02, 0.02, "Normal or mild", "left"),
    ):
        fig.add_annotation(
            x=x,
            y=y,
            xref="paper",
            yref="paper",
            text=text,
            showarrow=False,
            xanchor=anchor,
            yanchor="top" if y > 0.5 else "bottom",
            font={"color": NEUTRAL_COLOR, "size": 12},
        )
    x_max = max(10.0, float(points["alt_uln"].max()) * 1.3)
    y_max = max(5.0, float(points["bili_uln"].max()) * 1.3)
    x_min = (
        min(0.1, float(points["alt_uln"][points["alt_uln"] > 0].min()) * 0.8) if (points["alt_uln"] > 0).any() else 0.1
    )
    y_min = (
        min(0.1, float(points["bili_uln"][points["bili_uln"] > 0].min()) * 0.8)
        if (points["bili_uln"] > 0).any()
        else 0.1
    )
    ticks = [0.05, 0.1, 0.2, 0.5, 1, 2, 3, 5, 10, 20, 50, 100]
    fig.update_xaxes(
        type="log",
        title=axis_title("Peak ALT on treatment (x upper limit of normal)"),
        range=[np.log10(x_min), np.log10(x_max)],
        tickvals=ticks,
        ticktext=[f"{t:g}x" for t in ticks],
    )
    fig.update_yaxes(
        type="log",
        title=axis_title("Peak total bilirubin (x upper limit)"),
        range=[np.log10(y_min), np.log10(y_max)],
        tickvals=ticks,
        ticktext=[f"{t:g}x" for t in ticks],
    )
    counts = points["quadrant"].value_counts()
    outside = int((points["quadrant"] != "normal").sum())
    drawn = (
        ""
        if len(shown) == len(points)
        else f"; {len(shown):,} drawn (all outside the normal quadrant, a random sample inside)"
        if len(shown) >= outside
        else f"; {len(shown):,} drawn at random, possible Hy's law cases first"
    )
    subtitle = (
        f"{len(points):,} courses with both tests during treatment; possible Hy's law: {counts.get('hys_law', 0):,}{drawn}. "
        "Dashed: ALT 3x, bilirubin 2x the upper limit. Hover for the course's pseudonymous id"
    )
    return _finish(fig, title, subtitle, height=520)


def _hidden_grades_label(label: str, small: pd.Series, hidden: pd.Series, threshold: int) -> str:
    """The end-of-row label naming the grades not drawn: "grade 1: <5 · grade 3+: 0.0%"."""
    parts = [
        f"grade {grade}: {small_label(threshold) if small[grade] else SUPPRESSED}" for grade in (1, 2) if hidden[grade]
    ]
    third = f"grade 3+: {small_label(threshold) if small[3] else SUPPRESSED} courses" if hidden[3] else label.strip()
    return "  " + " · ".join([*parts, third])


def _sample_keeping_outliers(points: pd.DataFrame, max_points: int, seed: int) -> pd.DataFrame:
    """At most `max_points` courses: possible Hy's law cases first, then the rest outside the normal
    quadrant, then normal ones; a group that does not fit is sampled at random (seeded)."""
    hys_law = (points["quadrant"] == "hys_law").to_numpy()
    normal = (points["quadrant"] == "normal").to_numpy()
    parts, room = [], max_points
    for group in (points[hys_law], points[~hys_law & ~normal], points[normal]):
        taken = group if len(group) <= room else group.sample(n=room, random_state=seed)
        parts.append(taken)
        room -= len(taken)
    return pd.concat(parts)


def spaghetti_figure(
    sample: pd.DataFrame, total_courses: int, test: str, *, suppress_below: int | None = None
) -> go.Figure:
    """Individual courses' results of one test over time (a random sample when there are many),
    with the monthly median of the sample and the upper limit.

    One line per course: with `suppress_below` (presenter mode, shared reports) it is not drawn."""
    name = test_name(test)
    title = f"{name}: individual courses"
    if suppress_below:
        return empty_figure(title, "<br>".join(textwrap.wrap(INDIVIDUAL_LEVEL, 95)))
    if sample.empty:
        return empty_figure(title, f"No {test} results to show.")
    unit = sample["unit"].iloc[0]
    months = sample["day"].to_numpy(dtype="float") / DAYS_PER_MONTH
    starts = np.r_[True, sample["course_idx"].to_numpy()[1:] != sample["course_idx"].to_numpy()[:-1]]
    x = _with_breaks(months, starts)
    y = _with_breaks(sample["value"].to_numpy(dtype="float"), starts)
    labels = _with_breaks(sample["label"].to_numpy(dtype=object), starts, fill=None)
    days = _with_breaks(sample["day"].to_numpy(dtype="float"), starts)
    scatter = _scatter(len(x))
    fig = go.Figure(
        scatter(
            x=x,
            y=y,
            mode="lines+markers",
            name="One course",
            line={"color": _rgba(PALETTE[0], 0.25), "width": 1},
            marker={"size": 3, "color": _rgba(PALETTE[0], 0.45)},
            customdata=np.column_stack([labels, days]),
            connectgaps=False,
            hovertemplate="<b>%{customdata[0]}</b><br>day %{customdata[1]:.0f}: %{y:.3g} " + unit + "<extra></extra>",
        )
    )
    median = sample.groupby("month")["value"].agg(["median", "size"])
    median = median[median["size"] >= MIN_RESULTS]
    fig.add_trace(
        scatter(
            x=median.index,
            y=median["median"],
            mode="lines+markers",
            name="Median of these courses per month",
            line={"color": "#222", "width": 3},
            customdata=median["size"],
            hovertemplate="Month %{x}: median %{y:.3g} " + unit + " (n = %{customdata})<extra></extra>",
        )
    )
    limit = float(sample["upper_limit"].median())
    if np.isfinite(limit):
        fig.add_hline(
            y=limit,
            line={"color": LIMIT_COLOR, "dash": "dash", "width": 1.5},
            annotation_text=f"Upper limit ({limit:g} {unit})",
            annotation_position="top left",
            annotation_font={"color": LIMIT_COLOR, "size": 11},
        )
    fig.update_xaxes(title="Months from first dose")
    fig.update_yaxes(title=f"{test} ({unit})", rangemode="tozero")
    shown = sample["course_idx"].nunique()
    which = (
        f"all {shown:,} courses with {test} results"
        if shown == total_courses
        else f"{shown:,} of {total_courses:,} courses with {test} results, drawn at random (the same draw each time)"
    )
    return _finish(fig, title, f"One line per course: {which}. Hover for the course's pseudonymous id", height=440)


def _with_breaks(values: np.ndarray, starts: np.ndarray, fill=np.nan) -> np.ndarray:
    """Values with a gap inserted before each new course, so one trace draws many separate lines."""
    positions = np.flatnonzero(starts)[1:]
    return np.insert(values.astype(object if fill is None else values.dtype), positions, fill)


def _share_bars(
    rows: pd.DataFrame,
    label: str,
    share: str,
    count: str,
    denominator: str,
    suppress_below: int | None,
    *,
    color: str,
    name: str | None = None,
) -> tuple[go.Figure, np.ndarray]:
    """Horizontal bars of a share per row of `rows` with its 95% CI and "k of n <denominator>" in the
    hover; a share resting on a count under `suppress_below` keeps its row with a note instead of a
    bar. Returns the figure and which rows were withheld."""
    hidden = hidden_shares(rows[count], rows["courses"], suppress_below)
    shown = blank_rows(rows[[share, "ci_low", "ci_high"]], hidden)
    counts, totals = (
        numerator_labels(rows[count], rows["courses"], suppress_below),
        count_labels(rows["courses"], suppress_below),
    )
    custom = np.column_stack(
        [counts, totals, share_labels(rows["ci_low"], hidden), share_labels(rows["ci_high"], hidden)]
    )
    fig = go.Figure(
        go.Bar(
            y=rows[label],
            x=shown[share],
            orientation="h",
            name=name,
            marker_color=color,
            error_x={
                "type": "data",
                "symmetric": False,
                "array": shown["ci_high"] - shown[share],
                "arrayminus": shown[share] - shown["ci_low"],
                "thickness": 1.2,
            },
            customdata=custom,
            hovertemplate="<b>%{y}</b>: %{x:.1%} (95% CI %{customdata[2]} to %{customdata[3]})"
            f"<br>%{{customdata[0]}} of %{{customdata[1]}} {denominator}<extra></extra>",
        )
    )
    if hidden.any():
        fig.add_trace(
            withheld_rows(
                rows[label][hidden],
                [f"count under {suppress_below}: not shown"] * int(hidden.sum()),
                np.zeros(int(hidden.sum())),
                [
                    f"{what}: {k} of {n} courses; share not shown"
                    for what, k, n in zip(rows[label][hidden], counts[hidden], totals[hidden])
                ],
            )
        )
    return fig, hidden


def compliance_figure(table: pd.DataFrame, *, suppress_below: int | None = None) -> go.Figure:
    """Share of courses meeting each monitoring criterion, with 95% CI (a criterion resting on a
    count under `suppress_below` keeps its row with a note instead of a bar)."""
    title = "Was monitoring done? Liver tests and lipids"
    if table.empty or int(table["courses"].max()) == 0:
        return empty_figure(title, "No courses to assess.")
    fig, hidden = _share_bars(table, "criterion", "share", "met", "courses", suppress_below, color=PALETTE[2])
    if hidden.any():
        fig.update_layout(showlegend=False)
    fig.update_xaxes(title="Courses (%)", tickformat=".0%", range=[0, 1.02])
    fig.update_yaxes(autorange="reversed", **category_ticks(table["criterion"], LABEL_CHARS))
    subtitle = (
        "EU label: liver tests and lipids at baseline, after 1 month, then every 3 months. "
        "Every course counts; a course without lab results counts as not monitored. Bars: 95% CI"
    )
    if hidden.any():
        subtitle += f". {withheld_note(suppress_below, how_many(int(hidden.sum()), 'criterion', 'criteria'))}"
    return _finish(fig, title, subtitle, height=140 + 44 * len(table))  # names of two lines
