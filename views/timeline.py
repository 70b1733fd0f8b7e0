"""Course timeline: one pseudonymous course's whole story on one screen.

Hidden in presenter mode and never part of a shared report: a single course is the easiest
thing to re-identify. Only the pseudonymous id and days from the first dose are shown.
"""

from functools import partial

import pandas as pd
import streamlit as st

from analysis.areas.timeline import compute as timeline
from analysis.areas.timeline import figures as timeline_figures
from ui.charts import show_chart
from ui.kept import kept
from ui.page import csv_download, page_header, show_table

COURSE = timeline.COURSE_PARAM  # the URL parameter other pages link with: ?course=P000123%2F1
MAX_OPTIONS = 5_000  # courses listed in the picker; any other id can still be typed
LIST_LIMIT = 200  # rows of "courses worth a look" shown; the CSV holds them all


def _worth_a_look_table(view) -> pd.DataFrame:
    """Kept with the (filtered) cohort (`ui.kept`), never keyed on the (sampled) frames."""
    return kept(
        view.filtered,
        "timeline.worth_a_look",
        (view.cohort.fingerprint, repr(view.filters)),
        lambda: timeline.courses_worth_a_look(view.filtered),
        spinner="Finding courses worth a look ...",
    )


def drawn_course(cohort, chosen: str):
    """The course's record and its timeline figure (kept with the cohort by the caller)."""
    record = timeline.course_record(cohort, chosen)
    return record, timeline_figures.course_timeline_figure(cohort, record)


def _open(course_id: str | None) -> None:
    if course_id:
        st.session_state[COURSE] = course_id


def _open_selected(shown_ids: list[str]) -> None:
    rows = st.session_state["timeline_pick"].selection.rows
    if rows:
        _open(shown_ids[rows[0]])


def _course_picker(cohort, filtered) -> str | None:
    """Previous / id / next; the id lives in the URL so a link opens the same course."""
    ids = timeline.course_ids(filtered.courses.head(MAX_OPTIONS)).tolist()
    fallback = ids[0] if ids else timeline.course_ids(cohort.courses.head(1)).iloc[0]
    if st.session_state.get(COURSE) is None and COURSE not in st.query_params:
        st.session_state[COURSE] = fallback
    current = st.session_state.get(COURSE) or st.query_params.get(COURSE) or fallback
    nav = _neighbours(cohort, filtered, current)
    back, pick, forward = st.columns([1, 4, 1], vertical_alignment="bottom")
    back.button(
        "Previous",
        icon=":material/arrow_back:",
        on_click=_open,
        args=(nav.previous if nav else None,),
        disabled=not (nav and nav.previous),
        key="timeline_previous",
        width="stretch",
    )
    options = ids if current in ids else [current, *ids]
    chosen = pick.selectbox(
        "Course (pseudonymous patient id / course number)",
        options,
        index=None,
        key=COURSE,
        bind="query-params",
        accept_new_options=True,
        placeholder="Type or choose an id, e.g. P000123/1",
    )
    forward.button(
        "Next",
        icon=":material/arrow_forward:",
        on_click=_open,
        args=(nav.next if nav else None,),
        disabled=not (nav and nav.next),
        key="timeline_next",
        width="stretch",
    )
    if nav:
        where = (
            f"course {nav.position:,} of {nav.total:,}"
            if nav.position
            else f"this course is outside the current filters; previous and next step through the {nav.total:,}"
        )
        st.caption(f"Previous and next follow the courses matching the sidebar filters: {where}.")
    return chosen


def _neighbours(cohort, filtered, current):
    try:
        return timeline.neighbours(filtered, current, full=cohort)
    except timeline.CourseNotFound:
        return None


def _header(cohort, record) -> None:
    facts = timeline.course_facts(cohort, record)
    items = list(facts.items())
    for start in range(0, len(items), 5):
        for column, (label, value) in zip(st.columns(5), items[start : start + 5]):
            column.markdown(f"**{label}**  \n{value}")


def _worth_a_look(view) -> None:
    st.subheader("Courses worth a look")
    st.caption(
        "Among the courses matching the sidebar filters: relapse within 6 months of the last dose; stopped for "
        "side effects (end reason, or a side effect that led to stopping the drug); a lab value of CTCAE v5 grade 3 "
        "or worse, graded as on the Labs page (for example ALT or AST above 5× the upper limit, triglycerides "
        "above 500 mg/dL); not clear at the end (last IGA on treatment 2 or more; courses without a recorded last dose "
        "are not judged). Select a row to open the course."
    )
    table = _worth_a_look_table(view)
    if table.empty:
        st.info(
            "None of the filtered courses meets these rules, or the data lacks the columns they need "
            "(relapse_day, end_reason, adverse event action, labs, IGA at visits)."
        )
        return
    counts = table["reason"].value_counts()
    st.markdown(" · ".join(f"{reason}: **{counts.get(reason, 0):,}**" for reason in timeline.REASONS.values()))
    reason = st.selectbox(
        "Show",
        ["all", *timeline.REASONS],
        key="timeline_reason",
        bind="query-params",
        format_func=lambda key: "All reasons" if key == "all" else timeline.REASONS[key],
    )
    chosen = table if reason == "all" else table[table["reason_key"] == reason]
    shown = chosen.head(LIST_LIMIT)[["course", "reason", "detail"]]
    show_table(
        shown,
        hide_index=True,
        width="stretch",
        on_select=partial(_open_selected, shown["course"].tolist()),
        selection_mode="single-row",
        key="timeline_pick",
    )
    if len(chosen) > LIST_LIMIT:
        st.caption(f"Showing the first {LIST_LIMIT:,} of {len(chosen):,}; the CSV holds them all.")
    csv_download(chosen[["course", "reason", "detail"]], "courses_worth_a_look.csv")


if st.query_params.get("presenter") == "1":
    st.title("Course timeline")
    st.info(
        "This page is hidden in presenter mode: a single patient's course is never shown to an audience "
        "or included in shared reports. Leave presenter mode to open it."
    )
    st.stop()

view = page_header(
    "Course timeline",
    "One course's whole story on one screen: dose, lesion counts and IGA at each visit, "
    "side effects, lab values, and when the course ended, relapse came and a next course "
    "began. Days are counted from the first dose; no calendar dates are shown.",
)
if view.cohort is None or view.cohort.n_courses == 0:
    st.error("No dataset is loaded: the files could not be read. Open the **Data** page for the validation report.")
    st.stop()

chosen = _course_picker(view.cohort, view.filtered)
if chosen:
    try:
        record, figure = kept(view.cohort, "timeline.course", chosen, lambda: drawn_course(view.cohort, chosen))
        _header(view.cohort, record)
        show_chart(figure, "Course timeline", key="timeline_figure")
    except timeline.CourseNotFound as missing:
        st.warning(str(missing))
_worth_a_look(view)
