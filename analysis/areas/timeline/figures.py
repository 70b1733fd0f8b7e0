"""The figure of one course's timeline: dose, lesions, IGA, side effects and lab results on one time axis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.areas.base import display_terms
from analysis.areas.charts import (
    LEGEND_ROW,
    NEUTRAL_COLOR,
    PALETTE,
    PHONE_PLOT_WIDTH,
    label_step,
    legend_rows,
    styled,
    wrapped,
)
from analysis.areas.timeline.compute import (
    CLEAR_IGA_MAX,
    GRADE_COLORS,
    GRADE_NAMES,
    IGA_LABEL_OF,
    IGA_LABELS,
    LAB_COLORS,
    LAB_ORDER,
    ROW_TITLES,
    ROWS,
    CourseRecord,
    CourseRef,
    course_record,
)
from analysis.cohort.model import Cohort
from analysis.schema import DAYS_PER_MONTH

MILESTONE_PX = 18  # px a rotated milestone label takes beside its line (10 px type), with a little to spare
LEGEND_LINE = 21  # px per entry of the legend under the chart
NOTE_CHARS = 50  # a note above a row, wrapped to fit a phone

# --- The figure --------------------------------------------------------------------------------


def course_timeline_figure(cohort: Cohort, course: CourseRef | CourseRecord) -> go.Figure:
    """Dose, lesions, IGA, side effects and labs of one course on one shared axis of days.

    Raises CourseNotFound (with a plain-language message) when the course is not in the cohort.
    """
    record = course_record(cohort, course)
    units = _row_units(record)
    fig = make_subplots(rows=len(ROWS), cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=units)
    for row, draw in enumerate((_draw_dose, _draw_lesions, _draw_iga, _draw_adverse_events, _draw_labs), start=1):
        draw(fig, record, row)
    _draw_milestones(fig, record)
    styled(
        fig,
        f"Course {record.id}: dose, response, side effects and lab values over time",
        _subtitle(record),
        height=int(110 * sum(units) + 200),
    )
    _lay_out(fig, record)
    return fig


def _row_units(record: CourseRecord) -> list[float]:
    terms = record.adverse_events["term"].nunique() if len(record.adverse_events) else 0
    return [1.0, 1.4, 1.0, max(1.0, 0.32 * terms), 1.5]


def _subtitle(record: CourseRecord) -> str:
    counts = f"{len(record.visits)} visits, {len(record.adverse_events)} side effects, {len(record.labs)} lab results"
    return (
        f"Days from the first dose (day 0), month numbers on top · {counts}.<br>"
        "Dose holds from each visit until the next · side-effect bars run from onset to resolution, "
        "hatched with an arrow when not resolved · labs as multiples of the upper limit of normal."
    )


def _no_data(fig: go.Figure, row: int, text: str) -> None:
    """A note in an empty row; an empty trace keeps the row's axes drawn."""
    axis = "" if row == 1 else str(row)
    fig.add_trace(go.Scatter(x=[], y=[], showlegend=False, hoverinfo="skip"), row=row, col=1)
    fig.add_annotation(
        text=text,
        xref=f"x{axis} domain",
        yref=f"y{axis} domain",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"color": NEUTRAL_COLOR, "size": 12},
        name=f"no data: {ROWS[row - 1]}",
    )


def _draw_dose(fig: go.Figure, record: CourseRecord, row: int) -> None:
    steps = _dose_steps(record)
    weight = record.day("weight_kg")
    if not steps.empty:
        fig.add_trace(_dose_trace(steps, weight, "Daily dose at visits", "solid"), row=row, col=1)
        return
    average = _average_dose(record)
    if average is not None:
        fig.add_trace(
            _dose_trace(average, weight, "Average daily dose (total dose / course length)", "dash"), row=row, col=1
        )
        return
    _no_data(fig, row, "No daily dose recorded")


def _dose_steps(record: CourseRecord) -> pd.DataFrame:
    """Dose from each visit (screening doses count from day 0) until the next, ending at the last dose."""
    visits = record.visits
    end = record.day("end_day")
    doses = visits.loc[visits["dose_mg_per_day"].notna(), ["day", "dose_mg_per_day"]].astype("float")
    if end is not None:
        doses = doses[doses["day"] <= end]
    doses = doses.assign(day=doses["day"].clip(lower=0)).drop_duplicates("day", keep="last")
    if doses.empty:
        return doses
    if end is not None and end > doses["day"].iloc[-1]:
        doses = pd.concat([doses, pd.DataFrame({"day": [end], "dose_mg_per_day": [doses["dose_mg_per_day"].iloc[-1]]})])
    return doses.reset_index(drop=True)


def _average_dose(record: CourseRecord) -> pd.DataFrame | None:
    mg, duration, end = record.day("cumulative_dose_mg"), record.day("duration_days"), record.day("end_day")
    if mg is None or not duration or end is None:
        return None
    return pd.DataFrame({"day": [0.0, end], "dose_mg_per_day": [mg / duration] * 2})


def _dose_trace(steps: pd.DataFrame, weight: float | None, name: str, dash: str) -> go.Scatter:
    if weight:
        per_kg = steps["dose_mg_per_day"] / weight
        hover = "Day %{x}: %{y:.0f} mg/day (%{customdata:.2f} mg/kg/day)<extra></extra>"
    else:
        per_kg = steps["dose_mg_per_day"] * np.nan
        hover = "Day %{x}: %{y:.0f} mg/day (weight not recorded)<extra></extra>"
    return go.Scatter(
        x=steps["day"],
        y=steps["dose_mg_per_day"],
        customdata=per_kg,
        mode="lines+markers",
        line={"shape": "hv", "color": PALETTE[0], "dash": dash},
        marker={"size": 5},
        name=name,
        hovertemplate=hover,
    )


def _draw_lesions(fig: go.Figure, record: CourseRecord, row: int) -> None:
    visits = record.visits
    drawn = False
    for column, name, color in (
        ("total_lesions", "Total lesions", PALETTE[0]),
        ("inflammatory_lesions", "Inflammatory lesions", PALETTE[1]),
    ):
        seen = visits[visits[column].notna()] if column in visits else visits.iloc[0:0]
        if seen.empty:
            continue
        change = seen.get(f"pct_change_{column}", pd.Series(np.nan, index=seen.index)).astype("float")
        change_text = change.map("{:+.0f}% from baseline".format).where(change.notna(), "no baseline count")
        fig.add_trace(
            go.Scatter(
                x=seen["day"].astype("float"),
                y=seen[column].astype("float"),
                mode="lines+markers",
                name=name,
                line={"color": color},
                customdata=np.stack([seen["month"].astype("float"), change_text], axis=1),
                hovertemplate="Day %{x} (month %{customdata[0]}): %{y:.0f} lesions, %{customdata[1]}<extra>"
                + name
                + "</extra>",
            ),
            row=row,
            col=1,
        )
        drawn = True
    if not drawn:
        _no_data(fig, row, "No lesion counts recorded")


def _draw_iga(fig: go.Figure, record: CourseRecord, row: int) -> None:
    seen = record.visits[record.visits["iga"].notna()]
    fig.add_hrect(
        y0=-0.4,
        y1=CLEAR_IGA_MAX + 0.5,
        row=row,
        col=1,
        fillcolor="#3a9a5b",
        opacity=0.08,
        line_width=0,
        name="IGA 0/1 zone",
        exclude_empty_subplots=False,
    )
    if seen.empty:
        _no_data(fig, row, "No IGA recorded")
        return
    iga = seen["iga"].astype("int64")
    fig.add_trace(
        go.Scatter(
            x=seen["day"].astype("float"),
            y=iga.astype("float"),
            mode="lines+markers",
            name="IGA (0 clear to 4 severe)",
            line={"color": PALETTE[2], "shape": "hv"},
            marker={"size": 7},
            customdata=iga.map(IGA_LABEL_OF).fillna(iga.astype(str)),
            hovertemplate="Day %{x}: IGA %{customdata}<extra></extra>",
        ),
        row=row,
        col=1,
    )


def _draw_adverse_events(fig: go.Figure, record: CourseRecord, row: int) -> None:
    events = adverse_event_bars(record)
    if events.empty:
        _no_data(fig, row, "No side effects recorded")
        return
    for grade, group in events.groupby("grade_key", sort=True):
        fig.add_trace(
            go.Bar(
                orientation="h",
                y=group["term"],
                base=group["start"],
                x=group["length"],
                name=_grade_name(grade),
                marker={
                    "color": GRADE_COLORS.get(grade, NEUTRAL_COLOR),
                    "pattern": {"shape": np.where(group["resolved"], "", "/")},
                    "line": {"width": 0},
                },
                customdata=group["hover"],
                hovertemplate="%{customdata}<extra></extra>",
            ),
            row=row,
            col=1,
        )
    open_ended = events[~events["resolved"]]
    if not open_ended.empty:
        fig.add_trace(
            go.Scatter(
                x=open_ended["end"],
                y=open_ended["term"],
                mode="markers",
                name="Not resolved by end of follow-up",
                marker={"symbol": "triangle-right", "size": 11, "color": NEUTRAL_COLOR},
                customdata=open_ended["hover"],
                hovertemplate="%{customdata}<extra></extra>",
            ),
            row=row,
            col=1,
        )
    order = list(dict.fromkeys(events["term"]))
    fig.update_yaxes(categoryorder="array", categoryarray=order, autorange="reversed", row=row, col=1)


def _grade_name(grade: int) -> str:
    return f"Grade {grade} ({GRADE_NAMES[grade]})" if grade in GRADE_NAMES else "Grade not recorded"


def adverse_event_bars(record: CourseRecord) -> pd.DataFrame:
    """One bar per side effect: from onset to resolution, or open to the end of follow-up.

    A bar lasts at least one day so that an event resolved on its day of onset stays visible.
    """
    events = record.adverse_events
    if events.empty:
        return pd.DataFrame(columns=["term", "start", "end", "length", "resolved", "grade_key", "hover"])
    term = events["preferred_term"] if "preferred_term" in events else events["term"]
    start = events["onset_day"].astype("float")
    resolved = events["resolved_day"].notna()
    open_end = np.maximum(record.last_observed_day, start + 1)
    end = events["resolved_day"].astype("float").where(resolved, open_end)
    length = np.maximum(end - start, 1.0)
    grade = events["grade"].astype("Int64").fillna(0).astype("int64")
    bars = pd.DataFrame(
        {
            "term": display_terms(term),
            "start": start,
            "end": start + length,
            "length": length,
            "resolved": resolved.to_numpy(),
            "grade_key": grade,
        }
    )
    bars["hover"] = _event_hover(events, bars)
    return bars.reset_index(drop=True)


def _event_hover(events: pd.DataFrame, bars: pd.DataFrame) -> pd.Series:
    grade = bars["grade_key"].map({g: _grade_name(g) for g in bars["grade_key"].unique()})
    start = bars["start"].map("{:.0f}".format)
    until = ("resolved on day " + events["resolved_day"].astype("Int64").astype(str)).where(
        bars["resolved"],
        "unresolved: still present at the end of follow-up (day " + bars["end"].map("{:.0f}".format) + ")",
    )
    serious = (
        events["serious"].astype(object).fillna("not recorded").astype(str) if "serious" in events else "not recorded"
    )
    action = (
        events["action"].astype(object).fillna("not recorded").astype(str).str.replace("_", " ")
        if "action" in events
        else "not recorded"
    )
    return (
        "<b>"
        + bars["term"]
        + "</b> · "
        + grade
        + "<br>onset day "
        + start
        + ", "
        + until
        + "<br>serious: "
        + serious
        + " · action with the drug: "
        + action
    )


def _draw_labs(fig: go.Figure, record: CourseRecord, row: int) -> None:
    at = _widest_gap(record)
    results = record.lab_results
    shown = results[np.isfinite(results["uln_multiple"].to_numpy(dtype="float"))]
    log = _log_labs(shown["uln_multiple"])
    for multiple, label in ((1.0, "1× upper limit"), (3.0, "3× upper limit")):
        fig.add_shape(
            type="line",
            xref=f"x{row} domain",
            yref=f"y{row}",
            x0=0,
            x1=1,
            y0=multiple,
            y1=multiple,
            line={"color": NEUTRAL_COLOR, "width": 1, "dash": "dot" if multiple == 1 else "dash"},
            name=label,
        )
        fig.add_annotation(
            text=label,
            xref=f"x{row}",
            yref=f"y{row}",
            x=at,
            y=np.log10(multiple) if log else multiple,  # plotly places annotations on a log axis by log10
            xanchor="center",
            yanchor="bottom",
            showarrow=False,
            font={"size": 10, "color": NEUTRAL_COLOR},
        )
    if shown.empty:
        _no_data(
            fig, row, "No lab results with an upper limit of normal" if len(record.labs) else "No lab results recorded"
        )
    for index, (test, group) in enumerate(_lab_groups(shown)):
        color = LAB_COLORS.get(test, PALETTE[index % len(PALETTE)])
        grade = pd.Series(group["grade"].to_numpy(dtype="float"))
        grade_text = ("CTCAE grade " + grade.astype("Int64").astype(str)).where(grade.notna(), "not graded")
        fig.add_trace(
            go.Scatter(
                x=group["day"],
                y=group["uln_multiple"],
                mode="lines+markers",
                name=test,
                line={"color": color},
                customdata=np.stack(
                    [group["value"], group["unit"].astype(str), group["upper_limit"], grade_text], axis=1
                ),
                hovertemplate="Day %{x}: " + test + " %{customdata[0]:.4g} %{customdata[1]}, %{y:.2f}× the upper limit "
                "(%{customdata[2]:.4g}), %{customdata[3]}<extra></extra>",
            ),
            row=row,
            col=1,
        )
    _lab_axis(fig, row, shown["uln_multiple"])
    if record.labs_not_drawn and not shown.empty:
        fig.add_annotation(
            text=wrapped(
                "Not drawn (no upper limit, or unit not recognised): " + ", ".join(record.labs_not_drawn), NOTE_CHARS
            ),
            xref=f"x{row} domain",
            yref=f"y{row} domain",
            x=0,
            y=1,
            xanchor="left",
            yanchor="bottom",
            showarrow=False,
            font={"size": 10, "color": NEUTRAL_COLOR},
        )


def _lab_groups(shown: pd.DataFrame):
    rank = {t: i for i, t in enumerate(LAB_ORDER)}
    tests = sorted(shown["test"].astype(str).unique(), key=lambda t: (rank.get(t, len(rank)), t))
    return [(test, shown[shown["test"].astype(str) == test]) for test in tests]


def _log_labs(multiples: pd.Series) -> bool:
    """Whether the labs row takes a log axis (a value above 10 times the upper limit)."""
    return bool(len(multiples)) and float(multiples.max()) > 10


def _lab_axis(fig: go.Figure, row: int, multiples: pd.Series) -> None:
    top = float(multiples.max()) if len(multiples) else 0.0
    if _log_labs(multiples):
        fig.update_yaxes(type="log", row=row, col=1)
    else:
        fig.update_yaxes(range=[0, max(3.5, top * 1.1)], row=row, col=1)


def _draw_milestones(fig: go.Figure, record: CourseRecord) -> None:
    """A line at each milestone, named along it. Milestones closer than a label's width on a phone share one
    label, beside the first line (beside the last, near the left edge), so that no label sits on a line."""
    marks = sorted(milestones(record), key=lambda mark: mark[0])
    low, high = _x_range(record)
    close = (high - low) * MILESTONE_PX / PHONE_PLOT_WIDTH
    groups: list[list] = []
    for mark in marks:
        # a label near the left edge goes right of its last line: the next line must clear it too
        reach = 2 * close if len(groups) == 1 and groups[0][0][0] - low < close else close
        if groups and mark[0] - groups[-1][-1][0] < reach:
            groups[-1].append(mark)
        else:
            groups.append([mark])
    for day, label, color, dash in marks:
        fig.add_shape(
            type="line",
            xref="x",
            yref="paper",
            x0=day,
            x1=day,
            y0=0,
            y1=1,
            name=label,
            line={"color": color, "width": 1.5, "dash": dash},
            layer="below",
        )
    for group in groups:
        at_left_edge = group[0][0] - low < close
        day, _, color, _ = group[-1] if at_left_edge else group[0]
        fig.add_annotation(
            text=" · ".join(f"<span style='color:{c}'>{label} · day {d:.0f}</span>" for d, label, c, _ in group)
            if len(group) > 1
            else f"{group[0][1]} · day {group[0][0]:.0f}",
            x=day,
            xref="x",
            y=1,
            yref="paper",
            yanchor="top",
            xanchor="left" if at_left_edge else "right",
            textangle=-90,
            showarrow=False,
            font={"size": 10, "color": color},
        )


def milestones(record: CourseRecord) -> list[tuple[float, str, str, str]]:
    """(day, label, colour, dash) of the vertical markers that the course's row records."""
    candidates = (
        ("end_day", "Last dose", "#37474f", "solid"),
        ("relapse_day", "Relapse", "#c62828", "solid"),
        ("retreat_day", "Next course starts", "#7d5ba6", "solid"),
        ("followup_end_day", "Follow-up ends", NEUTRAL_COLOR, "dot"),
    )
    marks = [(0.0, "First dose", "#90a4ae", "dot")]
    return marks + [
        (record.day(column), label, color, dash)
        for column, label, color, dash in candidates
        if record.day(column) is not None
    ]


def _lay_out(fig: go.Figure, record: CourseRecord) -> None:
    """Axes, legends and margins in one layout update (plotly validates each update separately)."""
    x_range = list(_x_range(record))
    months, days = _month_ticks(*x_range)
    month_step = label_step([str(m) for m in months])
    day_step = label_step([f"{d:.0f}" for d in days])
    layout: dict = {
        "title": {"yref": "container", "y": 1, "yanchor": "top", "pad": {"t": 16}},
        "barmode": "overlay",
        "hovermode": "closest",
        "showlegend": True,
        # One legend under the chart, an entry a line (beside the rows it would leave a phone no plot; in rows,
        # plotly aligns entries to the widest and a phone takes one a row anyway): as tall at every width.
        "legend": {"entrywidth": 1, "entrywidthmode": "fraction", "font": {"size": 12}},
        "height": fig.layout.height
        + LEGEND_LINE * len({trace.name for trace in fig.data if trace.name})
        - LEGEND_ROW * legend_rows(fig),
        "margin": {"t": fig.layout.margin.t + 45},  # the month numbers above the plot
    }
    for row, name in enumerate(ROWS, start=1):
        suffix = "" if row == 1 else str(row)
        layout[f"xaxis{suffix}"] = {
            "range": x_range,
            "tickvals": days,
            "showgrid": True,
            "gridcolor": "#eceff1",
            "zeroline": False,
        }
        layout[f"yaxis{suffix}"] = {"title": {"text": ROW_TITLES[name], "font": {"size": 12}}}
    layout["xaxis"].update(
        side="top",
        showticklabels=True,
        ticktext=[str(m) if i % month_step == 0 else "" for i, m in enumerate(months)],
        title={"text": "Months from first dose", "font": {"size": 12}},
    )
    layout[f"xaxis{len(ROWS)}"].update(
        ticktext=[f"{d:.0f}" if i % day_step == 0 else "" for i, d in enumerate(days)],
        title={"text": "Days from first dose (day 0)"},
    )
    layout["yaxis"]["rangemode"] = layout["yaxis2"]["rangemode"] = "tozero"
    layout["yaxis3"].update(tickvals=list(range(5)), ticktext=list(IGA_LABELS), range=[-0.4, 4.4])
    fig.update_layout(layout)
    fig.update_traces(selector=lambda trace: trace.name, showlegend=True)
    fig.update_traces(cliponaxis=False, selector={"type": "scatter"})  # a point at the plot's edge drawn whole


def _widest_gap(record: CourseRecord) -> float:
    """The day midway across the widest stretch without a milestone line: a label there crosses none."""
    low, high = _x_range(record)
    edges = sorted({low, high, *(day for day, *_ in milestones(record) if low < day < high)})
    start, end = max(zip(edges, edges[1:]), key=lambda pair: pair[1] - pair[0])
    return (start + end) / 2


def _x_range(record: CourseRecord) -> tuple[float, float]:
    """The days shown: the course's first to last observed day, with 3% to spare on each side."""
    low, high = record.first_day, max(record.last_observed_day, record.day("end_day") or 0.0)
    span = max(high - low, 30.0)
    return low - 0.03 * span, high + 0.03 * span


def _month_ticks(low: float, high: float) -> tuple[list[int], list[float]]:
    """Month boundaries in view, thinned to every 3, 6 or 12 months on long follow-up."""
    first, last = int(np.ceil(low / DAYS_PER_MONTH)), int(np.floor(high / DAYS_PER_MONTH))
    count = last - first + 1
    step = next((s for s in (1, 3, 6, 12) if count / s <= 20), 24)
    months = [m for m in range(first, last + 1) if m % step == 0]
    return months, [m * DAYS_PER_MONTH for m in months]
