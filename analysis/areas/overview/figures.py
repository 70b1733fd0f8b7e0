"""Charts of the courses at a glance: who was treated, with what dose, for how long, and how complete the data are."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.areas.charts import (
    PALETTE,
    add_shapes,
    count_bars,
    empty_figure,
    has_hatched_bars,
    histogram_bars,
    styled,
    vertical_span,
    withheld_rows,
    wrapped,
)
from analysis.areas.overview.compute import TYPICAL_COURSE_DAYS, category_counts
from analysis.cohort.model import Cohort
from analysis.stats.suppression import (
    count_label,
    count_labels,
    hidden_bars_note,
    hidden_shares,
    how_many,
    numerator_labels,
    withheld_note,
)

PANEL_CHARS = 14  # a panel of three side by side is about 90 px wide on a phone


def demographics_figure(cohort: Cohort, *, suppress_below: int | None = None) -> go.Figure:
    courses = cohort.courses
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=[wrapped(text, PANEL_CHARS) for text in ("Sex", "Age at start (years)", "Baseline IGA")],
        horizontal_spacing=0.08,
    )
    fig.add_trace(
        count_bars(
            category_counts(cohort, "sex", ("F", "M", "other", "unknown")),
            "Sex",
            PALETTE[0],
            suppress_below=suppress_below,
            horizontal=True,  # the names beside the bars: under them they would turn in a phone's narrow panel
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        histogram_bars(courses["age"], 2, name="Age", color=PALETTE[1], unit=" y", suppress_below=suppress_below),
        row=1,
        col=2,
    )
    fig.add_trace(
        count_bars(category_counts(cohort, "baseline_iga"), "Baseline IGA", PALETTE[2], suppress_below=suppress_below),
        row=1,
        col=3,
    )
    fig.update_xaxes(title_text="Courses", row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    fig.update_layout(showlegend=False)
    subtitle = f"{count_label(cohort.n_courses, suppress_below)} courses of {count_label(cohort.n_patients, suppress_below)} patients; bars count courses; hover for counts"
    return styled(fig, "Who was treated", _with_hatch_note(fig, subtitle, suppress_below))


NO_DOSE = (
    "No dose per kg is known for these courses: it needs weight_kg and either cumulative_dose_mg (courses) "
    "or dose_mg_per_day (visits)."
)


def dose_figure(cohort: Cohort, *, suppress_below: int | None = None) -> go.Figure:
    courses = cohort.courses
    if courses["daily_dose_mg_per_kg"].isna().all() and courses["cumulative_dose_mg_per_kg"].isna().all():
        return empty_figure("Dose received", NO_DOSE)  # not empty axes from -1 to 4
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=[
            wrapped(text, PANEL_CHARS) for text in ("Mean daily dose (mg/kg/day)", "Cumulative dose (mg/kg)")
        ],
    )
    fig.add_trace(
        histogram_bars(
            courses["daily_dose_mg_per_kg"],
            0.05,
            start=0,
            name="Daily dose",
            color=PALETTE[0],
            unit=" mg/kg/d",
            suppress_below=suppress_below,
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        histogram_bars(
            courses["cumulative_dose_mg_per_kg"],
            10,
            start=0,
            name="Cumulative dose",
            color=PALETTE[1],
            unit=" mg/kg",
            suppress_below=suppress_below,
        ),
        row=1,
        col=2,
    )
    band_edges = [(x, 1) for x in (0.5, 1.0)] + [(x, 2) for x in (120, 220)]
    add_shapes(fig, [vertical_span(x, x, axis, line={"dash": "dot", "color": "#555"}) for x, axis in band_edges])
    fig.update_yaxes(title_text="Courses", row=1, col=1)
    fig.update_layout(showlegend=False)
    known = int(courses["cumulative_dose_mg_per_kg"].notna().sum())
    subtitle = (
        f"Dotted lines: dose bands (<0.5 / 0.5-1.0 / >1.0 mg/kg/day; <120 / 120-220 / >220 mg/kg)<br>"
        f"Dose known for {count_label(known, suppress_below)} of {count_label(len(courses), suppress_below)} courses"
    )
    return styled(fig, "Dose received", _with_hatch_note(fig, subtitle, suppress_below))


def duration_figure(cohort: Cohort, *, suppress_below: int | None = None) -> go.Figure:
    courses = cohort.courses
    fig = go.Figure(
        histogram_bars(
            courses["duration_days"], 14, start=0, name="Course length", unit=" days", suppress_below=suppress_below
        )
    )
    low, high = TYPICAL_COURSE_DAYS
    fig.add_vrect(
        x0=low,
        x1=high,
        fillcolor="#3a9a5b",
        opacity=0.12,
        line_width=0,
        annotation_text="4-6 months<br>(the article's 'typically')",
        annotation_position="top left",
        annotation_align="left",
    )
    tallest = max((max(trace.y) for trace in fig.data if trace.y is not None and len(trace.y)), default=0)
    fig.update_yaxes(range=[0, tallest * 1.3 or 1])  # room above the bars for the band's label
    fig.update_xaxes(title_text="Days from first to last dose")
    fig.update_yaxes(title_text="Courses")
    known = int(courses["duration_days"].notna().sum())
    subtitle = f"{count_label(known, suppress_below)} courses with a known last dose; 2-week bins"
    return styled(fig, "How long courses lasted", _with_hatch_note(fig, subtitle, suppress_below))


def completeness_figure(table: pd.DataFrame, *, suppress_below: int | None = None) -> go.Figure:
    """Share of rows with a value per column; with `suppress_below`, a column with fewer rows filled
    (or missing) than that is named with a note instead of a bar."""
    present = table[table["rows"] > 0]
    labels = present["table"] + "." + present["column"]
    hidden = hidden_shares(present["filled"], present["rows"], suppress_below)
    filled, rows = (
        numerator_labels(present["filled"], present["rows"], suppress_below),
        count_labels(present["rows"], suppress_below),
    )
    fig = go.Figure(
        go.Bar(
            x=present["percent_filled"].where(~hidden),
            y=labels,
            orientation="h",
            marker_color=PALETTE[0],
            customdata=np.column_stack([filled, rows]),
            hovertemplate="%{y}: %{x}% filled (%{customdata[0]} of %{customdata[1]} rows)<extra></extra>",
        )
    )
    subtitle = "Columns of loaded tables; 0% means the column is absent"
    if hidden.any():
        notes = [f"{f} of {r} rows filled" for f, r in zip(filled[hidden], rows[hidden])]
        fig.add_trace(
            withheld_rows(labels[hidden], [f"share not shown: {note}" for note in notes], np.zeros(int(hidden.sum())))
        )
        fig.update_layout(showlegend=False)
        subtitle += f". {withheld_note(suppress_below, how_many(int(hidden.sum()), 'column'), 'rows')}"
    fig.update_xaxes(title_text="% of rows with a value", range=[0, 100])
    fig.update_yaxes(autorange="reversed")
    return styled(fig, "Data completeness per column", subtitle, height=max(300, 18 * len(present) + 120))


def _with_hatch_note(fig: go.Figure, subtitle: str, suppress_below: int | None) -> str:
    return f"{subtitle}. {hidden_bars_note(suppress_below)}" if suppress_below and has_hatched_bars(fig) else subtitle
