"""The course timeline: every element of a hand-made course at the right day, and the
"courses worth a look" rules on a hand-made cohort."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.areas.timeline import compute as timeline
from analysis.areas.timeline.compute import (
    CourseNotFound,
    course_facts,
    courses_worth_a_look,
    neighbours,
    parse_course_id,
    timeline_link,
)
from analysis.areas.timeline.figures import course_timeline_figure
from analysis.cohort.model import build_cohort as _build_cohort
from analysis.cohort.model import empty_table


def build_cohort(tables: dict[str, pd.DataFrame], source: str):
    """A cohort from partial hand-made tables: absent canonical columns are added empty, as the loader does."""
    full = {}
    for name, table in tables.items():
        empty = empty_table(name)
        missing = [c for c in empty.columns if c not in table]
        full[name] = table.assign(**{c: pd.Series(pd.NA, index=table.index, dtype=empty[c].dtype) for c in missing})
    return _build_cohort(full, source=source)


def _courses(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    for column in ("course_number", "end_day", "followup_end_day", "relapse_day", "retreat_day"):
        if column in table:
            table[column] = table[column].astype("Int64")
    for column in ("weight_kg", "age", "cumulative_dose_mg"):
        if column in table:
            table[column] = table[column].astype("Float64")
    return table


def story_cohort():
    """P1/1 has a full story; P1/2 has nothing but its row; P2/1 has visits only."""
    courses = _courses(
        [
            {
                "patient_id": "P1",
                "course_number": 1,
                "sex": "F",
                "age": 19.0,
                "weight_kg": 50.0,
                "site": "North",
                "start_date": pd.Timestamp("2020-02-03"),
                "end_day": 149,
                "end_reason": "completed",
                "followup_end_day": 400,
                "relapse_day": 250,
                "retreat_day": 330,
            },
            {
                "patient_id": "P1",
                "course_number": 2,
                "sex": "F",
                "age": 20.0,
                "weight_kg": None,
                "site": "North",
                "end_day": 99,
                "end_reason": "patient_choice",
            },
            {
                "patient_id": "P2",
                "course_number": 1,
                "sex": "M",
                "age": 16.0,
                "weight_kg": 70.0,
                "site": "South",
                "end_day": 120,
                "end_reason": "completed",
            },
        ]
    )
    visits = pd.DataFrame(
        {
            "patient_id": ["P1"] * 6 + ["P2"] * 2,
            "course_number": [1] * 6 + [1, 1],
            "day": [-7, 0, 28, 90, 149, 250, 0, 60],
            "iga": [4, 4, 3, 2, 1, 3, 3, 2],
            "inflammatory_lesions": [30, None, 36, 10, 2, 20, 12, 6],
            "noninflammatory_lesions": [20, None, 20, 10, 3, 10, 8, 4],
            "dose_mg_per_day": [None, 20.0, 40.0, 40.0, None, None, None, None],
        }
    )
    adverse_events = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P1"],
            "course_number": [1, 1, 1],
            "term": ["Cheilitis", "Epistaxis", "Myalgia"],
            "onset_day": [5, 40, 100],
            "resolved_day": [160, 40, None],
            "grade": [1, 2, 3],
            "serious": ["no", "no", "no"],
            "action": ["none", "none", "dose_reduced"],
        }
    )
    labs = pd.DataFrame(
        {
            "patient_id": ["P1"] * 4,
            "course_number": [1] * 4,
            "day": [-7, 30, 30, 30],
            "test": ["ALT", "SGPT", "TG", "Vitamin A"],
            "value": [20.0, 140.0, 3.387, 50.0],
            "unit": ["U/L", "U/L", "mmol/L", "ug/dL"],
            "upper_limit": [40.0, 40.0, None, None],  # TG: the default limit, 150 mg/dL
        }
    )
    tables = {
        "courses": courses,
        "visits": _typed(visits),
        "adverse_events": _typed(adverse_events),
        "labs": _typed(labs),
    }
    return build_cohort(tables, source="hand-made")


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    for column in (
        "course_number",
        "day",
        "iga",
        "inflammatory_lesions",
        "noninflammatory_lesions",
        "onset_day",
        "resolved_day",
        "grade",
    ):
        if column in table:
            table[column] = table[column].astype("Int64")
    for column in ("dose_mg_per_day", "value", "upper_limit"):
        if column in table:
            table[column] = table[column].astype("Float64")
    return table


@pytest.fixture(scope="module")
def cohort():
    return story_cohort()


@pytest.fixture(scope="module")
def figure(cohort):
    return course_timeline_figure(cohort, "P1/1")


def _trace(fig, name):
    matches = [t for t in fig.data if t.name == name]
    assert matches, f"no trace named {name!r}: {[t.name for t in fig.data]}"
    return matches[0]


def _shape(fig, name):
    matches = [s for s in fig.layout.shapes if s.name == name]
    assert matches, f"no shape named {name!r}"
    return matches[0]


# --- ids and links ---------------------------------------------------------------------------------


def test_course_id_round_trip_and_link():
    assert parse_course_id("P000123/2") == ("P000123", 2)
    assert parse_course_id(" P000123 ") == ("P000123", 1)
    assert parse_course_id("site/A/3") == ("site/A", 3)
    assert timeline_link("P000123", 1) == "timeline?course=P000123%2F1"


def test_course_found_by_id_tuple_or_index(cohort):
    assert timeline.find_course(cohort, "P1/2") == 1
    assert timeline.find_course(cohort, ("P2", 1)) == 2
    assert timeline.find_course(cohort, 0) == 0


def test_unknown_course_gives_a_plain_message(cohort):
    with pytest.raises(CourseNotFound, match=r"No course 'P9/1' in this dataset.*P000123/1"):
        course_timeline_figure(cohort, "P9/1")
    with pytest.raises(CourseNotFound):
        course_timeline_figure(cohort, "P1/7")


# --- the figure ------------------------------------------------------------------------------------


def test_dose_steps_from_day_zero_to_the_last_dose_with_mg_per_kg(figure):
    dose = _trace(figure, "Daily dose at visits")
    assert list(dose.x) == [0, 28, 90, 149]
    assert list(dose.y) == [20, 40, 40, 40]
    assert dose.line.shape == "hv"
    assert list(dose.customdata) == pytest.approx([0.4, 0.8, 0.8, 0.8])  # 50 kg
    assert "mg/kg/day" in dose.hovertemplate


def test_lesion_counts_and_iga_at_each_visit(figure):
    total = _trace(figure, "Total lesions")
    assert list(total.x) == [-7, 28, 90, 149, 250]  # day 0 had no count
    assert list(total.y) == [50, 56, 20, 5, 30]
    assert total.customdata[1][1] == "+12% from baseline"
    inflammatory = _trace(figure, "Inflammatory lesions")
    assert list(inflammatory.y) == [30, 36, 10, 2, 20]
    iga = _trace(figure, "IGA (0 clear to 4 severe)")
    assert list(iga.x) == [-7, 0, 28, 90, 149, 250]
    assert list(iga.y) == [4, 4, 3, 2, 1, 3]
    assert iga.customdata[4] == "1 almost clear"


def test_side_effects_run_from_onset_to_resolution_coloured_by_grade(figure):
    grade1 = _trace(figure, "Grade 1 (mild)")
    assert list(grade1.y) == ["Cheilitis"]
    assert grade1.base[0] == 5 and grade1.base[0] + grade1.x[0] == 160
    assert grade1.marker.color == timeline.GRADE_COLORS[1]
    grade2 = _trace(figure, "Grade 2 (moderate)")
    assert grade2.base[0] == 40 and grade2.x[0] == 1  # resolved on its day of onset: one day wide
    assert grade2.orientation == "h"


def test_unresolved_side_effect_is_open_to_the_end_of_follow_up(figure):
    grade3 = _trace(figure, "Grade 3 (severe)")
    assert grade3.base[0] == 100 and grade3.base[0] + grade3.x[0] == 400
    assert list(grade3.marker.pattern.shape) == ["/"]
    assert "unresolved" in grade3.customdata[0] and "day 400" in grade3.customdata[0]
    arrow = _trace(figure, "Not resolved by end of follow-up")
    assert list(arrow.x) == [400] and list(arrow.y) == ["Myalgia"]
    assert list(_trace(figure, "Grade 1 (mild)").marker.pattern.shape) == [""]


def test_labs_as_multiples_of_the_upper_limit_with_1x_and_3x_lines(figure):
    alt = _trace(figure, "ALT")
    assert list(alt.x) == [-7, 30]
    assert list(alt.y) == pytest.approx([0.5, 3.5])
    assert alt.customdata[1][3] == "CTCAE grade 2" and alt.customdata[0][3] == "CTCAE grade 0"
    tg = _trace(figure, "TG")  # 3.387 mmol/L = 300 mg/dL, 2x its 150 mg/dL limit
    assert list(tg.y) == pytest.approx([2.0], abs=1e-3)
    assert "Vitamin A" not in [t.name for t in figure.data]  # no upper limit: named in a note instead
    assert any("Vitamin A" in (a.text or "") for a in figure.layout.annotations)
    assert _shape(figure, "1× upper limit").y0 == 1
    assert _shape(figure, "3× upper limit").y0 == 3


def test_milestones_at_their_days(figure):
    assert _shape(figure, "First dose").x0 == 0
    assert _shape(figure, "Last dose").x0 == 149
    assert _shape(figure, "Relapse").x0 == 250
    assert _shape(figure, "Next course starts").x0 == 330
    assert _shape(figure, "Follow-up ends").x0 == 400
    texts = [a.text for a in figure.layout.annotations]
    assert "Relapse · day 250" in texts


def test_shared_axis_in_days_with_months_on_top(figure):
    layout = figure.layout
    assert layout.xaxis.side == "top"
    assert list(layout.xaxis.ticktext)[:3] == ["0", "", "2"]  # a tick each month, labelled so as to fit a phone
    assert layout.xaxis.tickvals[1] == pytest.approx(30.4375)
    assert layout.xaxis5.title.text.startswith("Days from first dose")
    assert layout.xaxis.matches == "x5"
    assert layout.xaxis5.range[0] < -7 and layout.xaxis5.range[1] > 400


def test_no_calendar_dates_anywhere(figure):
    text = figure.to_json()
    assert "2020" not in text and "start_date" not in text


def test_course_without_visits_labs_or_side_effects_still_draws(cohort):
    fig = course_timeline_figure(cohort, "P1/2")
    notes = {a.name for a in fig.layout.annotations if a.name}
    assert {"no data: dose", "no data: lesions", "no data: iga", "no data: adverse_events", "no data: labs"} <= notes
    assert _shape(fig, "Last dose").x0 == 99
    assert "Follow-up ends" not in [s.name for s in fig.layout.shapes]


def test_course_with_visits_only(cohort):
    fig = course_timeline_figure(cohort, "P2/1")
    assert list(_trace(fig, "IGA (0 clear to 4 severe)").x) == [0, 60]
    notes = {a.name for a in fig.layout.annotations if a.name}
    assert "no data: adverse_events" in notes and "no data: labs" in notes and "no data: dose" in notes


def test_average_dose_drawn_when_only_the_cumulative_dose_is_known():
    courses = _courses(
        [
            {
                "patient_id": "Q",
                "course_number": 1,
                "sex": "F",
                "age": 22.0,
                "weight_kg": 60.0,
                "end_day": 99,
                "cumulative_dose_mg": 6000.0,
            }
        ]
    )
    fig = course_timeline_figure(build_cohort({"courses": courses}, source="x"), "Q/1")
    average = _trace(fig, "Average daily dose (total dose / course length)")
    assert list(average.x) == [0, 99] and list(average.y) == [60, 60]
    assert list(average.customdata) == pytest.approx([1.0, 1.0])


def test_unresolved_event_without_follow_up_ends_at_the_last_day_seen():
    courses = _courses([{"patient_id": "Q", "course_number": 1, "sex": "F", "age": 22.0, "end_day": 120}])
    events = _typed(
        pd.DataFrame(
            {
                "patient_id": ["Q"],
                "course_number": [1],
                "term": ["Xerosis"],
                "onset_day": [10],
                "resolved_day": [None],
                "grade": [None],
            }
        )
    )
    visits = _typed(pd.DataFrame({"patient_id": ["Q"], "course_number": [1], "day": [180], "iga": [0]}))
    fig = course_timeline_figure(
        build_cohort({"courses": courses, "adverse_events": events, "visits": visits}, source="x"), "Q/1"
    )
    bar = _trace(fig, "Grade not recorded")
    assert bar.base[0] + bar.x[0] == 180


# --- header ----------------------------------------------------------------------------------------


def test_header_facts(cohort):
    facts = course_facts(cohort, "P1/1")
    # dose: 20 mg x 28 days + 40 mg x 122 days = 5,440 mg over 150 days at 50 kg
    assert facts["Course"] == "P1/1"
    assert facts["Sex"] == "F" and facts["Age band"] == "18-24" and facts["Weight"] == "50 kg"
    assert facts["Cumulative dose"] == "109 mg/kg"
    assert facts["Daily dose"] == "0.73 mg/kg/day"
    assert facts["End reason"] == "completed" and facts["Site"] == "North"
    assert not any("2020" in value for value in facts.values())
    assert course_facts(cohort, "P1/2")["Weight"] == "not recorded"


# --- neighbours ------------------------------------------------------------------------------------


def test_neighbours_among_the_filtered_courses(cohort):
    assert neighbours(cohort, "P1/2") == ("P1/1", "P2/1", 2, 3)
    assert neighbours(cohort, "P1/1").previous is None
    assert neighbours(cohort, "P2/1").next is None
    filtered = cohort.subset([0, 2])
    outside = neighbours(filtered, "P1/2", full=cohort)
    assert (outside.previous, outside.next, outside.position, outside.total) == ("P1/1", "P2/1", None, 2)
    assert neighbours(filtered, 1) == outside


# --- courses worth a look --------------------------------------------------------------------------


def worth_a_look_cohort():
    ids = list("ABCDEFGHIJK")
    courses = _courses(
        [
            {"patient_id": i, "course_number": 1, "sex": "F", "age": 20.0, "end_day": 150, "end_reason": "completed"}
            for i in ids
        ]
    )
    courses.loc[courses["patient_id"] == "A", "relapse_day"] = 150 + 183  # exactly 6 months: early
    courses.loc[courses["patient_id"] == "B", "relapse_day"] = 150 + 184  # just past 6 months
    courses.loc[courses["patient_id"] == "C", "end_reason"] = "adverse_event"
    courses["relapse_day"] = courses["relapse_day"].astype("Int64")
    events = _typed(
        pd.DataFrame(
            {
                "patient_id": ["D", "D", "K"],
                "course_number": [1, 1, 1],
                "term": ["Headache", "Depression", "Cheilitis"],
                "onset_day": [20, 60, 10],
                "resolved_day": [30, None, 50],
                "grade": [1, 3, 1],
                "action": ["none", "discontinued", "dose_reduced"],
            }
        )
    )
    labs = _typed(
        pd.DataFrame(
            {
                "patient_id": ["E", "E", "F", "G", "H"],
                "course_number": [1] * 5,
                "day": [30, 60, 30, 30, 30],
                "test": ["ALT", "ALT", "TG", "TG", "AST"],
                "value": [240.0, 100.0, 6.0, 450.0, 200.0],
                "unit": ["U/L", "U/L", "mmol/L", "mg/dL", "U/L"],
                "upper_limit": [40.0, 40.0, 1.7, 150.0, 40.0],
            }
        )
    )
    visits = _typed(
        pd.DataFrame(
            {
                "patient_id": ["H", "H", "I", "I", "I", "J"],
                "course_number": [1] * 6,
                "day": [0, 140, 0, 150, 300, 0],
                "iga": [4, 2, 4, 1, 3, 3],
            }
        )
    )
    return build_cohort({"courses": courses, "adverse_events": events, "labs": labs, "visits": visits}, source="x")


def test_courses_worth_a_look_rules():
    table = courses_worth_a_look(worth_a_look_cohort())
    by_reason = table.groupby("reason_key")["course"].apply(list).to_dict()
    assert by_reason == {
        "early_relapse": ["A/1"],
        "stopped_for_side_effects": ["C/1", "D/1"],
        "severe_lab": ["E/1", "F/1"],  # F: 6 mmol/L = 531 mg/dL; G's 450 mg/dL is grade 2; H's AST is exactly 5x
        "not_clear_at_end": ["H/1"],  # I cleared by the end (IGA 3 came in follow-up); J has only a baseline
    }
    assert list(table["reason_key"].unique()) == list(timeline.REASONS)
    details = table.set_index("course")["detail"].to_dict()
    assert details["A/1"] == "relapse 183 days after the last dose"
    assert details["C/1"] == "course ended for side effects"
    assert details["D/1"] == "stopped for Depression (grade 3) starting day 60"
    assert details["E/1"] == "ALT 6.0× upper limit on day 30 (grade 3)"
    assert details["F/1"] == "TG 531 mg/dL on day 30 (grade 3)"
    assert details["H/1"] == "last IGA on treatment 2 (mild) on day 140"
    assert table.columns.tolist() == list(timeline.WORTH_A_LOOK_COLUMNS)


def test_courses_worth_a_look_on_a_quiet_cohort_is_empty(cohort):
    quiet = cohort.subset([1])
    table = courses_worth_a_look(quiet)
    assert table.empty and table.columns.tolist() == list(timeline.WORTH_A_LOOK_COLUMNS)


def test_courses_worth_a_look_on_the_story_cohort(cohort):
    table = courses_worth_a_look(cohort)
    # P1/1 relapsed 101 days after its last dose; its ALT reached 3.5x only (grade 2)
    assert table[["course", "reason_key"]].values.tolist() == [["P1/1", "early_relapse"], ["P2/1", "not_clear_at_end"]]


def test_severe_labs_match_grading_every_result_of_the_generated_cohort():
    from analysis.areas.labs.compute import lab_data
    from analysis.demo import generate_cohort

    cohort = _build_cohort(generate_cohort(1500, seed=7), source="generated")
    graded = lab_data(cohort).labs
    every = set(graded.loc[graded["grade"].to_numpy(dtype="float") >= 3, "course_idx"].astype(int))
    flagged = courses_worth_a_look(cohort)
    assert every and set(flagged.loc[flagged["reason_key"] == "severe_lab", "course_idx"]) == every


def test_alt_graded_against_an_abnormal_baseline_is_not_severe():
    courses = _courses(
        [{"patient_id": p, "course_number": 1, "sex": "M", "age": 20.0, "end_day": 150} for p in ("R", "S")]
    )
    labs = _typed(
        pd.DataFrame(
            {
                "patient_id": ["R", "R", "S"],
                "course_number": [1, 1, 1],
                "day": [0, 60, 60],
                "test": ["ALT", "ALT", "ALT"],
                "value": [100.0, 240.0, 240.0],
                "unit": ["U/L"] * 3,
                "upper_limit": [40.0] * 3,
            }
        )
    )
    table = courses_worth_a_look(build_cohort({"courses": courses, "labs": labs}, source="x"))
    # R: 6x the limit but 2.4x its raised baseline (CTCAE grade 1); S: 6x the limit, grade 3
    assert table.loc[table["reason_key"] == "severe_lab", "course"].tolist() == ["S/1"]
