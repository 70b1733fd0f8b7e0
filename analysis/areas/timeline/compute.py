"""One course's whole story on one figure: dose, lesions, IGA, side effects, labs and milestones.

Clinicians open a single course when a number surprises them: the outlier on a lab chart, the
patient who relapsed early, the one who stopped for side effects. A single course is the
easiest thing to re-identify, so everything here shows only the pseudonymous id and day offsets
from the first dose, never calendar dates. The page is hidden in presenter mode and must never
be part of a shared report or export (`INCLUDE_IN_REPORTS`).

A course is named by `<patient_id>/<course_number>` (e.g. `P000123/1`); other pages link to it
with `timeline_link(patient_id, course_number)`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple, Union
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.cohort.model import Cohort
from analysis.areas.charts import NEUTRAL_COLOR, PALETTE, styled
from analysis.ingest.lab_units import canonical_test, harmonise
from analysis.areas.labs.compute import ctcae_grade, lab_data
from analysis.schema import DAYS_PER_MONTH

# A single course must never reach the HTML report, chart exports or presenter views.
INCLUDE_IN_REPORTS = False
PAGE_URL_PATH = "timeline"
COURSE_PARAM = "course"

CourseRef = Union[int, str, tuple]

EARLY_RELAPSE_DAYS = round(6 * DAYS_PER_MONTH)  # "within 6 months of the last dose": 183 days
CLEAR_IGA_MAX = 1  # IGA 0 (clear) or 1 (almost clear)
IGA_LABELS = ("0 clear", "1 almost clear", "2 mild", "3 moderate", "4 severe")
IGA_LABEL_OF = dict(enumerate(IGA_LABELS))
IGA_WORD_OF = {grade: label.split(" ", 1)[1] for grade, label in IGA_LABEL_OF.items()}
END_REASON_LABELS = {
    "completed": "completed",
    "adverse_event": "stopped for side effects",
    "lost_to_follow_up": "lost to follow-up",
    "pregnancy": "pregnancy",
    "patient_choice": "patient's choice",
    "other": "other",
}
GRADE_COLORS = {1: "#e8c547", 2: "#f0913a", 3: "#d64541", 4: "#8e1b1b", 5: "#2b2b2b"}
GRADE_NAMES = {1: "mild", 2: "moderate", 3: "severe", 4: "life-threatening", 5: "death"}
LAB_ORDER = ("ALT", "AST", "BILI", "TG", "TC", "LDL", "HDL", "CK", "GLU", "HCG")
# One colour per test on every course, so that two timelines read alike.
LAB_COLORS = dict(zip(LAB_ORDER, (*PALETTE, "#455a64", "#9e9e9e")))

SEVERE_LAB_GRADE = 3  # CTCAE v5, graded by analysis.areas.labs.compute (ALT, AST, CK, triglycerides, cholesterol)
ULN_GRADED_TESTS = ("ALT", "AST", "CK")  # graded by multiples of the upper limit
LEVEL_GRADED_TESTS = ("TG", "TC")  # graded by mg/dL
LAB_RESULT_COLUMNS = ("course_idx", "day", "test", "unit", "value", "upper_limit", "uln_multiple", "grade")

REASONS = {
    "early_relapse": "Relapse within 6 months of the last dose",
    "stopped_for_side_effects": "Stopped for side effects",
    "severe_lab": "Lab value of grade 3 or worse",
    "not_clear_at_end": "Not clear at the end of the course",
}
WORTH_A_LOOK_COLUMNS = ("course", "reason", "detail", "patient_id", "course_number", "course_idx", "reason_key")

ROWS = ("dose", "lesions", "iga", "adverse_events", "labs")
ROW_TITLES = {
    "dose": "Dose<br>(mg/day)",
    "lesions": "Lesions<br>(count)",
    "iga": "IGA",
    "adverse_events": "Side effects",
    "labs": "Labs<br>(× upper limit)",
}


class CourseNotFound(LookupError):
    """The requested course is not in the dataset; the message says so in plain words."""


# --- Course ids and links ----------------------------------------------------------------------

def course_id(patient_id, course_number) -> str:
    """The pseudonymous id shown on the page and carried in the URL: `<patient_id>/<course_number>`."""
    number = 1 if course_number is None or pd.isna(course_number) else int(course_number)
    return f"{patient_id}/{number}"


def course_ids(courses: pd.DataFrame) -> pd.Series:
    """Ids of many courses at once (a missing course number counts as the first course)."""
    numbers = courses["course_number"].astype("Int64").fillna(1).astype("int64").astype(str)
    return courses["patient_id"].astype(str) + "/" + numbers


def parse_course_id(text: str) -> tuple[str, int]:
    """(patient_id, course_number) from `P000123/2`; a bare patient id means the first course."""
    text = str(text).strip()
    patient, separator, number = text.rpartition("/")
    if separator and number.isdigit():
        return patient, int(number)
    return text, 1


def timeline_link(patient_id, course_number) -> str:
    """Relative URL of the timeline page opened on one course, for links from other pages."""
    return f"{PAGE_URL_PATH}?{urlencode({COURSE_PARAM: course_id(patient_id, course_number)})}"


def find_course(cohort: Cohort, course: CourseRef) -> int:
    """The course_idx of a course given as course_idx, `(patient_id, course_number)` or id text."""
    courses = cohort.courses
    if isinstance(course, (int, np.integer)):
        hits = courses.loc[courses["course_idx"] == int(course), "course_idx"]
        label = f"number {int(course)}"
    else:
        patient, number = parse_course_id(course) if isinstance(course, str) else (str(course[0]), int(course[1]))
        numbers = courses["course_number"].astype("Int64").fillna(1)
        same_patient = courses["patient_id"] == patient
        if not same_patient.any():
            same_patient = courses["patient_id"].astype(str) == patient
        hits = courses.loc[same_patient & (numbers == number), "course_idx"]
        label = f"'{course_id(patient, number)}'"
    if hits.empty:
        raise CourseNotFound(
            f"No course {label} in this dataset. A course is named by the patient's pseudonymous id and "
            "the course number, for example P000123/1."
        )
    return int(hits.iloc[0])


# --- One course's rows -------------------------------------------------------------------------

@dataclass(frozen=True)
class CourseRecord:
    """One course's row and its visits, side effects and lab results, each sorted by day."""

    course: pd.Series
    visits: pd.DataFrame
    adverse_events: pd.DataFrame
    labs: pd.DataFrame  # as recorded
    lab_results: pd.DataFrame  # harmonised, graded (analysis.areas.labs.compute): test, day, value, unit, uln_multiple, grade
    labs_not_drawn: tuple[str, ...]  # tests without an upper limit, or whose unit could not be converted

    @property
    def id(self) -> str:
        return course_id(self.course["patient_id"], self.course["course_number"])

    def day(self, column: str) -> float | None:
        value = self.course.get(column)
        return None if value is None or pd.isna(value) else float(value)

    @property
    def last_observed_day(self) -> float:
        """End of follow-up where recorded, else the latest day anything was seen."""
        followup = self.day("followup_end_day")
        if followup is not None:
            return followup
        return max(self._observed_days(), default=0.0)

    def _observed_days(self) -> list[float]:
        days = [self.day(c) for c in ("end_day", "relapse_day", "retreat_day")]
        for table, columns in ((self.visits, ("day",)), (self.labs, ("day",)), (self.adverse_events, ("onset_day", "resolved_day"))):
            days += [table[c].astype("float").max() for c in columns if c in table and table[c].notna().any()]
        return [d for d in days if d is not None and not pd.isna(d)]

    @property
    def first_day(self) -> float:
        earliest = [self.visits["day"].min(), self.labs["day"].min(), self.adverse_events["onset_day"].min()]
        return min([0.0] + [float(d) for d in earliest if not pd.isna(d)])


def course_record(cohort: Cohort, course: CourseRef | CourseRecord) -> CourseRecord:
    """The course's row and rows of every table (a record passes through, so a page builds it once)."""
    if isinstance(course, CourseRecord):
        return course
    idx = find_course(cohort, course)
    row = cohort.courses.loc[cohort.courses["course_idx"] == idx]
    visits, events, labs = (_rows_of(cohort.visits, idx, "day"), _rows_of(cohort.adverse_events, idx, "onset_day"),
                            _rows_of(cohort.labs, idx, "day"))
    results, not_drawn = _graded_labs(replace(cohort, courses=row, visits=visits, adverse_events=events, labs=labs))
    return CourseRecord(course=row.iloc[0], visits=visits, adverse_events=events, labs=labs, lab_results=results,
                        labs_not_drawn=not_drawn)


def _graded_labs(course: Cohort) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """One course's lab results harmonised and graded as on the Labs page, and the tests not drawn."""
    if course.labs.empty:
        return pd.DataFrame(columns=LAB_RESULT_COLUMNS), ()
    graded = lab_data(course)
    results = with_uln_multiple(graded.labs).sort_values("day", kind="stable").reset_index(drop=True)
    no_limit = results.loc[~np.isfinite(results["uln_multiple"].to_numpy(dtype="float")), "test"].astype(str)
    return results, tuple(dict.fromkeys([*no_limit, *graded.excluded["test"].astype(str)]))


def with_uln_multiple(results: pd.DataFrame) -> pd.DataFrame:
    """Lab rows with `uln_multiple`: the value as a multiple of its upper limit (NaN where none is known)."""
    value, upper = results["value"].to_numpy(dtype="float"), results["upper_limit"].to_numpy(dtype="float")
    with np.errstate(divide="ignore", invalid="ignore"):
        return results.assign(uln_multiple=np.where(upper > 0, value / upper, np.nan))


def _rows_of(table: pd.DataFrame, idx: int, day_column: str) -> pd.DataFrame:
    mask = table["course_idx"].eq(idx).fillna(False).astype(bool)
    return table.loc[mask].sort_values(day_column, kind="stable").reset_index(drop=True)


# --- Header facts ------------------------------------------------------------------------------

def course_facts(cohort: Cohort, course: CourseRef | CourseRecord) -> dict[str, str]:
    """The short header above the figure; pseudonymous id and day offsets only, never dates."""
    record = course_record(cohort, course)
    row = record.course
    return {
        "Course": record.id,
        "Sex": _text(row.get("sex")),
        "Age band": _text(row.get("age_band")),
        "Weight": _number(row.get("weight_kg"), "{:.0f} kg"),
        "Course length": _number(row.get("duration_days"), "{:.0f} days"),
        "Cumulative dose": _cumulative_dose(row),
        "Daily dose": _number(row.get("daily_dose_mg_per_kg"), "{:.2f} mg/kg/day"),
        "End reason": END_REASON_LABELS.get(row.get("end_reason"), _text(row.get("end_reason"))),
        "Site": _text(row.get("site")),
        "Follow-up": _number(row.get("followup_end_day"), "to day {:.0f}"),
    }


def _text(value) -> str:
    return "not recorded" if value is None or pd.isna(value) or str(value) == "" else str(value)


def _number(value, pattern: str) -> str:
    return "not recorded" if value is None or pd.isna(value) else pattern.format(float(value))


def _cumulative_dose(row: pd.Series) -> str:
    per_kg = row.get("cumulative_dose_mg_per_kg")
    if per_kg is not None and not pd.isna(per_kg):
        return f"{float(per_kg):.0f} mg/kg"
    mg = row.get("cumulative_dose_mg")
    return _number(mg, "{:,.0f} mg (weight unknown)")


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
    styled(fig, f"Course {record.id}: dose, response, side effects and lab values over time", _subtitle(record),
           height=int(110 * sum(units) + 200))
    _lay_out(fig, record)
    return fig


def _row_units(record: CourseRecord) -> list[float]:
    terms = record.adverse_events["term"].nunique() if len(record.adverse_events) else 0
    return [1.0, 1.4, 1.0, max(1.0, 0.32 * terms), 1.5]


def _subtitle(record: CourseRecord) -> str:
    counts = f"{len(record.visits)} visits, {len(record.adverse_events)} side effects, {len(record.labs)} lab results"
    return (f"Days from the first dose (day 0), month numbers on top · {counts}.<br>"
            "Dose holds from each visit until the next · side-effect bars run from onset to resolution, "
            "hatched with an arrow when not resolved · labs as multiples of the upper limit of normal.")


def _no_data(fig: go.Figure, row: int, text: str) -> None:
    """A note in an empty row; an empty trace keeps the row's axes drawn."""
    axis = "" if row == 1 else str(row)
    fig.add_trace(go.Scatter(x=[], y=[], showlegend=False, hoverinfo="skip"), row=row, col=1)
    fig.add_annotation(text=text, xref=f"x{axis} domain", yref=f"y{axis} domain", x=0.5, y=0.5, showarrow=False,
                       font={"color": NEUTRAL_COLOR, "size": 12}, name=f"no data: {ROWS[row - 1]}")


def _legend(row: int) -> str:
    return "legend" if row == 1 else f"legend{row}"


def _draw_dose(fig: go.Figure, record: CourseRecord, row: int) -> None:
    steps = _dose_steps(record)
    weight = record.day("weight_kg")
    if not steps.empty:
        fig.add_trace(_dose_trace(steps, weight, "Daily dose at visits", "solid"), row=row, col=1)
        return
    average = _average_dose(record)
    if average is not None:
        fig.add_trace(_dose_trace(average, weight, "Average daily dose (total dose / course length)", "dash"), row=row, col=1)
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
    return go.Scatter(x=steps["day"], y=steps["dose_mg_per_day"], customdata=per_kg, mode="lines+markers",
                      line={"shape": "hv", "color": PALETTE[0], "dash": dash}, marker={"size": 5},
                      name=name, legend="legend", hovertemplate=hover)


def _draw_lesions(fig: go.Figure, record: CourseRecord, row: int) -> None:
    visits = record.visits
    drawn = False
    for column, name, color in (("total_lesions", "Total lesions", PALETTE[0]), ("inflammatory_lesions", "Inflammatory lesions", PALETTE[1])):
        seen = visits[visits[column].notna()] if column in visits else visits.iloc[0:0]
        if seen.empty:
            continue
        change = seen.get(f"pct_change_{column}", pd.Series(np.nan, index=seen.index)).astype("float")
        change_text = change.map("{:+.0f}% from baseline".format).where(change.notna(), "no baseline count")
        fig.add_trace(go.Scatter(
            x=seen["day"].astype("float"), y=seen[column].astype("float"), mode="lines+markers", name=name,
            line={"color": color}, customdata=np.stack([seen["month"].astype("float"), change_text], axis=1),
            hovertemplate="Day %{x} (month %{customdata[0]}): %{y:.0f} lesions, %{customdata[1]}<extra>" + name + "</extra>",
            legend=_legend(row),
        ), row=row, col=1)
        drawn = True
    if not drawn:
        _no_data(fig, row, "No lesion counts recorded")


def _draw_iga(fig: go.Figure, record: CourseRecord, row: int) -> None:
    seen = record.visits[record.visits["iga"].notna()]
    fig.add_hrect(y0=-0.4, y1=CLEAR_IGA_MAX + 0.5, row=row, col=1, fillcolor="#3a9a5b", opacity=0.08, line_width=0,
                  name="IGA 0/1 zone", exclude_empty_subplots=False)
    if seen.empty:
        _no_data(fig, row, "No IGA recorded")
        return
    iga = seen["iga"].astype("int64")
    fig.add_trace(go.Scatter(
        x=seen["day"].astype("float"), y=iga.astype("float"), mode="lines+markers", name="IGA (0 clear to 4 severe)",
        line={"color": PALETTE[2], "shape": "hv"}, marker={"size": 7},
        customdata=iga.map(IGA_LABEL_OF).fillna(iga.astype(str)),
        hovertemplate="Day %{x}: IGA %{customdata}<extra></extra>", legend=_legend(row),
    ), row=row, col=1)


def _draw_adverse_events(fig: go.Figure, record: CourseRecord, row: int) -> None:
    events = adverse_event_bars(record)
    if events.empty:
        _no_data(fig, row, "No side effects recorded")
        return
    for grade, group in events.groupby("grade_key", sort=True):
        fig.add_trace(go.Bar(
            orientation="h", y=group["term"], base=group["start"], x=group["length"], name=_grade_name(grade),
            marker={"color": GRADE_COLORS.get(grade, NEUTRAL_COLOR), "pattern": {"shape": np.where(group["resolved"], "", "/")},
                    "line": {"width": 0}},
            customdata=group["hover"], hovertemplate="%{customdata}<extra></extra>", legend=_legend(row),
        ), row=row, col=1)
    open_ended = events[~events["resolved"]]
    if not open_ended.empty:
        fig.add_trace(go.Scatter(
            x=open_ended["end"], y=open_ended["term"], mode="markers", name="Not resolved by end of follow-up",
            marker={"symbol": "triangle-right", "size": 11, "color": NEUTRAL_COLOR},
            customdata=open_ended["hover"], hovertemplate="%{customdata}<extra></extra>", legend=_legend(row),
        ), row=row, col=1)
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
    bars = pd.DataFrame({"term": term.astype(str), "start": start, "end": start + length, "length": length,
                         "resolved": resolved.to_numpy(), "grade_key": grade})
    bars["hover"] = _event_hover(events, bars)
    return bars.reset_index(drop=True)


def _event_hover(events: pd.DataFrame, bars: pd.DataFrame) -> pd.Series:
    grade = bars["grade_key"].map({g: _grade_name(g) for g in bars["grade_key"].unique()})
    start = bars["start"].map("{:.0f}".format)
    until = ("resolved on day " + events["resolved_day"].astype("Int64").astype(str)).where(
        bars["resolved"], "unresolved: still present at the end of follow-up (day " + bars["end"].map("{:.0f}".format) + ")")
    serious = events["serious"].fillna("not recorded").astype(str) if "serious" in events else "not recorded"
    action = events["action"].fillna("not recorded").astype(str).str.replace("_", " ") if "action" in events else "not recorded"
    return ("<b>" + bars["term"] + "</b> · " + grade + "<br>onset day " + start + ", " + until
            + "<br>serious: " + serious + " · action with the drug: " + action)


def _draw_labs(fig: go.Figure, record: CourseRecord, row: int) -> None:
    for multiple, label in ((1.0, "1× upper limit"), (3.0, "3× upper limit")):
        fig.add_shape(type="line", xref=f"x{row} domain", yref=f"y{row}", x0=0, x1=1, y0=multiple, y1=multiple,
                      line={"color": NEUTRAL_COLOR, "width": 1, "dash": "dot" if multiple == 1 else "dash"}, name=label)
        fig.add_annotation(text=label, xref=f"x{row} domain", yref=f"y{row}", x=1, y=multiple, xanchor="right",
                           yanchor="bottom", showarrow=False, font={"size": 10, "color": NEUTRAL_COLOR})
    results = record.lab_results
    shown = results[np.isfinite(results["uln_multiple"].to_numpy(dtype="float"))]
    if shown.empty:
        _no_data(fig, row, "No lab results with an upper limit of normal" if len(record.labs) else "No lab results recorded")
    for index, (test, group) in enumerate(_lab_groups(shown)):
        color = LAB_COLORS.get(test, PALETTE[index % len(PALETTE)])
        grade = pd.Series(group["grade"].to_numpy(dtype="float"))
        grade_text = ("CTCAE grade " + grade.astype("Int64").astype(str)).where(grade.notna(), "not graded")
        fig.add_trace(go.Scatter(
            x=group["day"], y=group["uln_multiple"], mode="lines+markers", name=test,
            line={"color": color}, legend=_legend(row),
            customdata=np.stack([group["value"], group["unit"].astype(str), group["upper_limit"], grade_text], axis=1),
            hovertemplate="Day %{x}: " + test + " %{customdata[0]:.4g} %{customdata[1]}, %{y:.2f}× the upper limit "
                          "(%{customdata[2]:.4g}), %{customdata[3]}<extra></extra>",
        ), row=row, col=1)
    _lab_axis(fig, row, shown["uln_multiple"])
    if record.labs_not_drawn and not shown.empty:
        fig.add_annotation(text="Not drawn (no upper limit, or unit not recognised): " + ", ".join(record.labs_not_drawn),
                           xref=f"x{row} domain", yref=f"y{row} domain", x=0, y=1, xanchor="left", yanchor="bottom",
                           showarrow=False, font={"size": 10, "color": NEUTRAL_COLOR})


def _lab_groups(shown: pd.DataFrame):
    rank = {t: i for i, t in enumerate(LAB_ORDER)}
    tests = sorted(shown["test"].astype(str).unique(), key=lambda t: (rank.get(t, len(rank)), t))
    return [(test, shown[shown["test"].astype(str) == test]) for test in tests]


def _lab_axis(fig: go.Figure, row: int, multiples: pd.Series) -> None:
    top = float(multiples.max()) if len(multiples) else 0.0
    if top > 10:
        fig.update_yaxes(type="log", row=row, col=1)
    else:
        fig.update_yaxes(range=[0, max(3.5, top * 1.1)], row=row, col=1)


def _draw_milestones(fig: go.Figure, record: CourseRecord) -> None:
    for day, label, color, dash in milestones(record):
        fig.add_shape(type="line", xref="x", yref="paper", x0=day, x1=day, y0=0, y1=1, name=label,
                      line={"color": color, "width": 1.5, "dash": dash}, layer="below")
        fig.add_annotation(text=f"{label} · day {day:.0f}", x=day, xref="x", y=1, yref="paper", yanchor="top",
                           xanchor="right", textangle=-90, showarrow=False, font={"size": 10, "color": color})


def milestones(record: CourseRecord) -> list[tuple[float, str, str, str]]:
    """(day, label, colour, dash) of the vertical markers that the course's row records."""
    candidates = (
        ("end_day", "Last dose", "#37474f", "solid"),
        ("relapse_day", "Relapse", "#c62828", "solid"),
        ("retreat_day", "Next course starts", "#7d5ba6", "solid"),
        ("followup_end_day", "Follow-up ends", NEUTRAL_COLOR, "dot"),
    )
    marks = [(0.0, "First dose", "#90a4ae", "dot")]
    return marks + [(record.day(column), label, color, dash) for column, label, color, dash in candidates
                    if record.day(column) is not None]


def _lay_out(fig: go.Figure, record: CourseRecord) -> None:
    """Axes, legends and margins in one layout update (plotly validates each update separately)."""
    low, high = record.first_day, max(record.last_observed_day, record.day("end_day") or 0.0)
    span = max(high - low, 30.0)
    x_range = [low - 0.03 * span, high + 0.03 * span]
    months, days = _month_ticks(*x_range)
    layout: dict = {
        "title": {"yref": "container", "y": 1, "yanchor": "top", "pad": {"t": 16}},
        "barmode": "overlay", "hovermode": "closest", "showlegend": True,
        "margin": {"t": 125, "r": 230, "l": 110},
    }
    for row, name in enumerate(ROWS, start=1):
        suffix = "" if row == 1 else str(row)
        layout[f"xaxis{suffix}"] = {"range": x_range, "tickvals": days, "showgrid": True, "gridcolor": "#eceff1", "zeroline": False}
        layout[f"yaxis{suffix}"] = {"title": {"text": ROW_TITLES[name], "font": {"size": 12}}}
        layout[_legend(row)] = {"x": 1.01, "xanchor": "left", "y": fig.layout[f"yaxis{suffix}"].domain[1], "yanchor": "top",
                                "orientation": "v", "font": {"size": 11}, "bgcolor": "rgba(0,0,0,0)"}
    layout["xaxis"].update(side="top", showticklabels=True, ticktext=[str(m) for m in months],
                           title={"text": "Months from first dose", "font": {"size": 12}})
    layout[f"xaxis{len(ROWS)}"].update(ticktext=[f"{d:.0f}" for d in days], title={"text": "Days from first dose (day 0)"})
    layout["yaxis"]["rangemode"] = layout["yaxis2"]["rangemode"] = "tozero"
    layout["yaxis3"].update(tickvals=list(range(5)), ticktext=list(IGA_LABELS), range=[-0.4, 4.4])
    fig.update_layout(layout)
    fig.update_traces(selector=lambda trace: trace.name, showlegend=True)


def _month_ticks(low: float, high: float) -> tuple[list[int], list[float]]:
    """Month boundaries in view, thinned to every 3, 6 or 12 months on long follow-up."""
    first, last = int(np.ceil(low / DAYS_PER_MONTH)), int(np.floor(high / DAYS_PER_MONTH))
    count = last - first + 1
    step = next((s for s in (1, 3, 6, 12) if count / s <= 20), 24)
    months = [m for m in range(first, last + 1) if m % step == 0]
    return months, [m * DAYS_PER_MONTH for m in months]


# --- Navigation --------------------------------------------------------------------------------

class Neighbours(NamedTuple):
    previous: str | None
    next: str | None
    position: int | None  # 1-based place of the course among the cohort's courses; None if outside
    total: int


def neighbours(cohort: Cohort, course: CourseRef, full: Cohort | None = None) -> Neighbours:
    """Previous and next course ids among `cohort`'s courses (e.g. those matching the filters).

    The course itself may lie outside `cohort` (opened by a link): give the cohort it belongs to
    as `full`, or pass its course_idx, and its neighbours are the filtered courses around it.
    """
    if isinstance(course, (int, np.integer)):
        idx = int(course)
    else:
        idx = find_course(full if full is not None else cohort, course)
    order = cohort.courses["course_idx"].to_numpy(dtype="int64")
    sorter = np.argsort(order, kind="stable")
    ordered = order[sorter]
    left, right = np.searchsorted(ordered, idx, "left"), np.searchsorted(ordered, idx, "right")
    ids = cohort.courses[["patient_id", "course_number"]]

    def id_at(position: int) -> str | None:
        if 0 <= position < len(ordered):
            row = ids.iloc[sorter[position]]
            return course_id(row["patient_id"], row["course_number"])
        return None

    inside = right > left
    return Neighbours(id_at(left - 1), id_at(right), int(left) + 1 if inside else None, len(ordered))


# --- Courses worth a look ----------------------------------------------------------------------

def courses_worth_a_look(cohort: Cohort) -> pd.DataFrame:
    """Courses a clinician may want to open, one row per course and reason, with a detail line.

    Reasons: relapse within 6 months of the last dose; stopped for side effects (end reason or a
    side effect that led to discontinuation); a lab value of CTCAE grade 3 or worse; not clear
    at the end (last IGA on treatment, after day 0, of 2 or more; courses without a recorded
    last dose are not judged).
    """
    found = [_early_relapse(cohort), _stopped_for_side_effects(cohort), _severe_labs(cohort), _not_clear_at_end(cohort)]
    flagged = pd.concat([f for f in found if not f.empty], ignore_index=True) if any(not f.empty for f in found) else None
    if flagged is None:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in WORTH_A_LOOK_COLUMNS})
    courses = cohort.courses.set_index("course_idx")[["patient_id", "course_number"]]
    flagged = flagged.join(courses, on="course_idx")
    flagged["course"] = course_ids(flagged)
    flagged["reason"] = flagged["reason_key"].map(REASONS)
    rank = {key: i for i, key in enumerate(REASONS)}
    flagged = flagged.sort_values(["reason_key", "course_idx"], key=lambda s: s.map(rank) if s.name == "reason_key" else s)
    return flagged[list(WORTH_A_LOOK_COLUMNS)].reset_index(drop=True)


def _course_values(courses: pd.DataFrame, column: str, course_idx: np.ndarray) -> np.ndarray:
    """A course attribute for each row of another table, by array lookup (NaN for unknown courses)."""
    keys = courses["course_idx"].to_numpy(dtype="int64")
    size = int(max(np.nanmax(course_idx, initial=-1), keys.max(initial=-1))) + 1
    dense = np.full(size, np.nan)
    dense[keys] = courses[column].to_numpy(dtype="float", na_value=np.nan)
    known = np.isfinite(course_idx)
    values = np.full(course_idx.shape, np.nan)
    values[known] = dense[course_idx[known].astype("int64")]
    return values


def _flags(course_idx: pd.Series, reason: str, detail: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"course_idx": course_idx.astype("int64").to_numpy(), "reason_key": reason,
                         "detail": detail.astype(str).to_numpy()})


def _early_relapse(cohort: Cohort) -> pd.DataFrame:
    courses = cohort.courses
    gap = courses["relapse_day"].astype("Float64") - courses["end_day"].astype("Float64")
    early = courses[gap.between(0, EARLY_RELAPSE_DAYS).fillna(False).astype(bool)]
    days = gap[early.index].astype("int64").astype(str)
    return _flags(early["course_idx"], "early_relapse", "relapse " + days + " days after the last dose")


def _stopped_for_side_effects(cohort: Cohort) -> pd.DataFrame:
    courses, events = cohort.courses, cohort.adverse_events
    stopping = events[(events["action"] == "discontinued") & events["course_idx"].notna()]
    stopping = stopping.sort_values(["course_idx", "onset_day"]).drop_duplicates("course_idx")
    grade = stopping["grade"].astype("Int64").astype(str).str.replace("<NA>", "not recorded")
    event_detail = ("stopped for " + stopping["term"].astype(str) + " (grade " + grade + ") starting day "
                    + stopping["onset_day"].astype("Int64").astype(str))
    detail = pd.Series(event_detail.to_numpy(), index=stopping["course_idx"].astype("int64").to_numpy())
    by_reason = courses.loc[courses["end_reason"] == "adverse_event", "course_idx"].astype("int64")
    idx = pd.Index(by_reason).union(detail.index)
    texts = pd.Series("course ended for side effects", index=idx)
    texts.update(detail)
    return _flags(pd.Series(idx), "stopped_for_side_effects", texts)


def _severe_labs(cohort: Cohort) -> pd.DataFrame:
    """Each course's worst lab result of CTCAE grade 3 or more (grades from analysis.areas.labs.compute)."""
    candidates = _courses_possibly_severe(cohort)
    if candidates.labs.empty:
        return pd.DataFrame(columns=["course_idx", "reason_key", "detail"])
    results = lab_data(candidates).labs
    severe = with_uln_multiple(results[results["grade"].to_numpy(dtype="float") >= SEVERE_LAB_GRADE])
    if severe.empty:
        return pd.DataFrame(columns=["course_idx", "reason_key", "detail"])
    worst = severe.sort_values(["course_idx", "grade", "uln_multiple", "value"], ascending=[True, False, False, False])
    worst = worst.drop_duplicates("course_idx")
    test = worst["test"].astype(str)
    by_multiple = worst["uln_multiple"].round(1).astype(str) + "× upper limit"
    by_level = worst["value"].round(0).astype("int64").astype(str) + " " + worst["unit"].astype(str)
    shown = by_multiple.where(test.isin(ULN_GRADED_TESTS), by_level)
    detail = (test + " " + shown + " on day " + worst["day"].astype("int64").astype(str)
              + " (grade " + worst["grade"].astype("int64").astype(str) + ")")
    return _flags(worst["course_idx"], "severe_lab", detail)


def _courses_possibly_severe(cohort: Cohort) -> Cohort:
    """The courses that may hold a grade >= 3 result, with all their rows, so that grading stays exact.

    Grading every result of a large cohort is slow, and few courses reach grade 3. A grade >= 3
    value lies above its upper limit (5x for ALT, AST and CK, also when graded against an
    abnormal baseline, which itself lies above the limit; plausible triglyceride and cholesterol
    limits lie below 500 and 400 mg/dL), so only rows above their limit, or without one, are
    harmonised and graded on the limit; the courses they belong to are then graded in full.
    """
    labs = cohort.labs
    codes = {name: canonical_test(name) for name in labs["test"].dropna().unique()}
    by_multiple = labs["test"].isin([n for n, c in codes.items() if c in ULN_GRADED_TESTS]).to_numpy()
    by_level = labs["test"].isin([n for n, c in codes.items() if c in LEVEL_GRADED_TESTS]).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = labs["value"].to_numpy(dtype="float", na_value=np.nan) / labs["upper_limit"].to_numpy(dtype="float", na_value=np.nan)
    no_limit = ~np.isfinite(ratio)
    above = (by_multiple & ((ratio > 5) | no_limit)) | (by_level & ((ratio > 1) | no_limit))
    rows = labs[above & labs["course_idx"].notna().to_numpy()]
    if rows.empty:
        return replace(cohort, labs=labs.iloc[0:0])
    converted = rows if "harmonised" in rows else harmonise(rows)[0]
    test = converted["test"].astype(str).to_numpy()
    value, upper = converted["value"].to_numpy(dtype="float"), converted["upper_limit"].to_numpy(dtype="float")
    graded = np.full(len(converted), np.nan)
    for code in (*ULN_GRADED_TESTS, *LEVEL_GRADED_TESTS):
        mask = test == code
        graded[mask] = ctcae_grade(code, value[mask], upper[mask])
    keep = pd.Index(converted.loc[graded >= SEVERE_LAB_GRADE, "course_idx"].astype("int64").unique())
    return replace(cohort, courses=cohort.courses[cohort.courses["course_idx"].isin(keep)],
                   labs=labs[labs["course_idx"].isin(keep).fillna(False).to_numpy(dtype=bool)])


def _not_clear_at_end(cohort: Cohort) -> pd.DataFrame:
    visits = cohort.visits
    course_idx = visits["course_idx"].to_numpy(dtype="float", na_value=np.nan)
    day = visits["day"].to_numpy(dtype="float", na_value=np.nan)
    end = _course_values(cohort.courses, "end_day", course_idx)
    with np.errstate(invalid="ignore"):
        on_treatment = visits["iga"].notna().to_numpy() & (day > 0) & (day <= end)
    assessed = visits[on_treatment]
    last = assessed.loc[assessed["day"].astype("int64").groupby(assessed["course_idx"].astype("int64")).idxmax()]
    not_clear = last[last["iga"] > CLEAR_IGA_MAX]
    iga = not_clear["iga"].astype("int64")
    label = iga.astype(str) + iga.map(IGA_WORD_OF).map(" ({})".format, na_action="ignore").fillna("")
    detail = "last IGA on treatment " + label + " on day " + not_clear["day"].astype("Int64").astype(str)
    return _flags(not_clear["course_idx"], "not_clear_at_end", detail)
