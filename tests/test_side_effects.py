"""Side effects: term normalisation, incidence per course, CIOMS bands, timing windows, resolution,
discontinuations, mood and the JSON section, against hand counts and reference libraries."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analysis.areas.base import Audience, SummaryOptions
from analysis.areas.side_effects import compute as se
from analysis.areas.side_effects.declaration import AREA
from analysis.cohort.model import build_cohort, empty_table
from analysis.stats.intervals import proportion


def canonical(name: str, rows: dict) -> pd.DataFrame:
    """A canonical table from the given columns, every other canonical column empty."""
    empty = empty_table(name)
    n = len(next(iter(rows.values())))
    frame = pd.DataFrame({c: pd.Series([pd.NA] * n, dtype=empty[c].dtype) for c in empty.columns})
    for column, values in rows.items():
        dtype = empty[column].dtype if column in empty else "object"
        frame[column] = pd.Series(values, dtype=dtype)
    return frame


def make_cohort(n_courses: int, events: list[tuple], courses: dict | None = None, visits: dict | None = None):
    """Courses P0..Pn-1 (course 1, last dose day 149) and events (patient, term, onset[, resolved, grade, action])."""
    base = {
        "patient_id": [f"P{i}" for i in range(n_courses)],
        "course_number": [1] * n_courses,
        "sex": ["F" if i % 2 else "M" for i in range(n_courses)],
        "age": [20.0] * n_courses,
        "end_day": [149] * n_courses,
    }
    base.update(courses or {})
    columns = ("patient_id", "term", "onset_day", "resolved_day", "grade", "action")
    padded = [tuple(e) + (None,) * (len(columns) - len(e)) for e in events]
    ae = {c: [e[i] for e in padded] for i, c in enumerate(columns)}
    ae["course_number"] = [1] * len(events)
    tables = {"courses": canonical("courses", base), "adverse_events": canonical("adverse_events", ae)}
    if visits:
        tables["visits"] = canonical("visits", visits)
    return build_cohort(tables, source="test")


# ---- Normalisation ---------------------------------------------------------------------------

ISSUE_SYNONYMS = {
    "dry lips": "Cheilitis",
    "chapped lips": "Cheilitis",
    "lip dryness": "Cheilitis",
    "dry skin": "Xerosis",
    "nose bleed": "Epistaxis",
    "joint pain": "Arthralgia",
    "hair loss": "Alopecia",
    "low mood": "Depression / mood change",
    "blurred vision": "Vision disorder",
    "night blindness": "Vision disorder",
}


@pytest.mark.parametrize("written, preferred", sorted(ISSUE_SYNONYMS.items()))
def test_issue_synonyms_map_to_their_preferred_term(written, preferred):
    assert se.normalise_terms(pd.Series([written]))["preferred_term"].iloc[0] == preferred


def test_every_dictionary_synonym_maps_to_its_preferred_term():
    table = pd.read_csv(se.DICTIONARY_FILE, dtype=str, keep_default_na=False)
    result = se.normalise_terms(table["synonym"])
    assert (result["preferred_term"].to_numpy() == table["preferred_term"].to_numpy()).all()
    assert (result["body_system"].to_numpy() == table["body_system"].to_numpy()).all()
    assert result["recognised"].all()


def test_dictionary_is_unambiguous_and_complete():
    dictionary = se.term_dictionary()
    assert not dictionary["key"].duplicated().any(), "two synonyms share one matching key"
    assert (dictionary["body_system"].str.len() > 0).all()
    for effect in se.NAMED_EFFECTS:
        assert set(effect.terms) <= set(se.preferred_terms())


@pytest.mark.parametrize(
    "written, preferred",
    [
        ("  Dry   LIPS ", "Cheilitis"),
        ("chapped lip", "Cheilitis"),
        ("Nose-bleeds", "Epistaxis"),
        ("nosebleeds!", "Epistaxis"),
        ("Hair loss.", "Alopecia"),
        ("JOINT PAINS", "Arthralgia"),
        ("blurred-vision", "Vision disorder"),
        ("CHEILITIS", "Cheilitis"),
    ],
)
def test_spelling_variants_are_tolerated(written, preferred):
    assert se.normalise_terms(pd.Series([written]))["preferred_term"].iloc[0] == preferred


def test_unrecognised_terms_stay_as_written_and_missing_terms_are_named():
    result = se.normalise_terms(pd.Series(["  Sparkly   toes ", "sparkly toes", None, "dry skin"]))
    assert result["preferred_term"].tolist() == ["Sparkly toes", "Sparkly toes", se.MISSING_TERM, "Xerosis"]
    assert result["recognised"].tolist() == [False, False, False, True]
    assert result["term_written"].tolist()[:2] == ["Sparkly toes", "sparkly toes"]
    assert result["body_system"].isna().tolist() == [True, True, True, False]


def test_unrecognised_terms_are_listed_with_counts():
    cohort = make_cohort(
        3, [("P0", "itchy scalp", 5), ("P1", "Itchy scalp", 6), ("P1", "itchy scalp", 9), ("P2", "dry lips", 3)]
    )
    table = se.unrecognised_terms(se.event_data(cohort)).set_index("term as written")
    assert table.loc["itchy scalp"].tolist() == [2, 2]
    assert table.loc["Itchy scalp"].tolist() == [1, 1]
    terms = se.incidence_table(se.event_data(cohort)).set_index("term")
    assert terms.loc["itchy scalp", "courses"] == 2 and not terms.loc["itchy scalp", "recognised"]
    assert terms.loc["itchy scalp", "body_system"] == se.NOT_CLASSIFIED


# ---- CIOMS bands -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rate, band",
    [
        (1 / 10, "very common"),
        (1.0, "very common"),
        (0.0999999, "common"),
        (1 / 100, "common"),
        (0.0099999, "uncommon"),
        (1 / 1_000, "uncommon"),
        (0.000999, "rare"),
        (1 / 10_000, "rare"),
        (0.0000999, "very rare"),
        (0.0, "very rare"),
    ],
)
def test_cioms_band_edges(rate, band):
    assert se.cioms_band(rate) == band


@pytest.mark.parametrize(
    "k, n, band",
    [
        (10, 100, "very common"),
        (9, 100, "common"),
        (3, 300, "common"),
        (1, 1_000, "uncommon"),
        (7, 70_000, "rare"),
        (1, 10_000, "rare"),
        (1, 10_001, "very rare"),
    ],
)
def test_cioms_band_of_exact_count_ratios(k, n, band):
    assert se.cioms_band(proportion(k, n).estimate) == band


def test_band_span_and_missing_rates():
    assert se.band_span("common", "common") == "common"
    assert se.band_span("uncommon", "very common") == "uncommon to very common"
    assert se.cioms_band(None) is None
    assert list(se.cioms_bands([np.nan, 0.5])) == [None, "very common"]


def test_vectorised_intervals_equal_stats_proportion():
    k = np.array([0, 1, 5, 29, 30, 12, 40, 0, 7])
    n = np.array([10, 10, 29, 29, 100, 200, 40, 0, 5000])
    table = se.proportion_intervals(k, n)
    for i in range(len(k)):
        expected = proportion(k[i], n[i])
        if n[i] == 0:
            assert np.isnan(table["rate"][i])
            continue
        assert table["rate"][i] == pytest.approx(expected.estimate)
        assert table["ci_low"][i] == pytest.approx(expected.ci_low, abs=1e-12)
        assert table["ci_high"][i] == pytest.approx(expected.ci_high, abs=1e-12)
        assert table["method"][i] == expected.method


# ---- Incidence -------------------------------------------------------------------------------


@pytest.fixture
def forty():
    """40 courses: 8 with cheilitis (one of them twice), 3 with dry skin, 1 with blurred vision."""
    events = [(f"P{i}", "dry lips", 10) for i in range(8)] + [("P0", "chapped lips", 50)]
    events += [(f"P{i}", "dry skin", 20) for i in (3, 20, 21)] + [("P30", "blurred vision", 60)]
    return make_cohort(40, events)


def test_incidence_against_hand_counts_and_statsmodels(forty):
    estimate = se.incidence(forty, "Cheilitis")
    assert (estimate.numerator, estimate.n) == (8, 40)
    low, high = proportion_confint(8, 40, method="wilson")
    assert (estimate.ci_low, estimate.ci_high) == (pytest.approx(low), pytest.approx(high))
    table = se.incidence_table(se.event_data(forty)).set_index("term")
    assert table.loc["Cheilitis", ["courses", "events", "at_risk"]].tolist() == [8, 9, 40]
    assert table.loc["Cheilitis", "band"] == "very common"
    assert table.loc["Cheilitis", "body_system"] == "Gastrointestinal disorders"


def test_a_group_of_terms_counts_each_course_once(forty):
    estimate = se.incidence(forty, ("Cheilitis", "Xerosis"))
    assert estimate.numerator == 10  # courses 0-7, 20, 21 (course 3 has both)
    assert se.named_incidence(forty, "Dry lips and skin").numerator == 10


def test_same_event_twice_counted_once_but_each_course_counts():
    courses = canonical(
        "courses",
        {
            "patient_id": ["P0", "P0", "P1"],
            "course_number": [1, 2, 1],
            "sex": ["F", "F", "M"],
            "age": [20.0, 21.0, 30.0],
            "end_day": [149, 149, 149],
        },
    )
    once = canonical(
        "adverse_events",
        {
            "patient_id": ["P0", "P0", "P0"],
            "course_number": [1, 1, 1],
            "term": ["dry lips", "dry lips", "Chapped lips"],
            "onset_day": [5, 40, 90],
        },
    )
    table = se.incidence_table(
        se.event_data(build_cohort({"courses": courses, "adverse_events": once}, source="t"))
    ).set_index("term")
    assert table.loc["Cheilitis", ["courses", "events", "at_risk"]].tolist() == [1, 3, 3]
    # The same patient again in the second course: a second course at risk, so it counts again.
    twice = canonical(
        "adverse_events",
        {"patient_id": ["P0", "P0"], "course_number": [1, 2], "term": ["dry lips", "dry lips"], "onset_day": [5, 5]},
    )
    assert (
        se.incidence(build_cohort({"courses": courses, "adverse_events": twice}, source="t"), "Cheilitis").numerator
        == 2
    )


def test_vision_incidence(forty):
    estimate = se.vision_incidence(forty)
    assert (estimate.numerator, estimate.n) == (1, 40)
    assert estimate.method.startswith("Wilson")


def test_body_system_incidence(forty):
    table = se.incidence_table(se.event_data(forty), level="body_system").set_index("body_system")
    assert table.loc["Skin and subcutaneous tissue disorders", "courses"] == 3
    assert table.loc["Eye disorders", "courses"] == 1


def test_grouped_incidence_fills_zero_groups(forty):
    table = se.incidence_table(se.event_data(forty), group_by="sex")
    vision = table[table["term"] == "Vision disorder"].set_index("group")
    assert vision.loc["M", ["courses", "at_risk"]].tolist() == [1, 20]  # course 30 (even numbers are men)
    assert vision.loc["F", ["courses", "at_risk"]].tolist() == [0, 20]


def test_no_event_rows_is_not_testable():
    cohort = make_cohort(5, [])
    assert se.incidence(cohort, "Cheilitis").n == 0
    assert "not testable" in se.vision_incidence(cohort).method
    assert se.resolved_within(cohort).estimate is None


# ---- Treatment-emergent window ---------------------------------------------------------------


def test_treatment_emergent_window_edges():
    # Last dose day 149, window 30: day -1 out, 0 in, 179 in, 180 out; unknown onset counted.
    cohort = make_cohort(
        5,
        [
            ("P0", "dry lips", -1),
            ("P1", "dry lips", 0),
            ("P2", "dry lips", 179),
            ("P3", "dry lips", 180),
            ("P4", "dry lips", None),
        ],
    )
    data = se.event_data(cohort)
    assert sorted(data.events["course_idx"]) == [1, 2, 4]
    assert (data.outside_window, data.unknown_onset) == (2, 1)
    narrow = se.event_data(cohort, se.SideEffectSettings(window_days_after_end=0))
    assert sorted(narrow.events["course_idx"]) == [1, 4]
    everything = se.event_data(cohort, se.SideEffectSettings(treatment_emergent=False))
    assert len(everything.events) == 5


def test_ongoing_course_has_no_upper_limit():
    cohort = make_cohort(2, [("P0", "dry lips", 400), ("P1", "dry lips", 400)], courses={"end_day": [None, 149]})
    assert se.event_data(cohort).events["course_idx"].tolist() == [0]


# ---- Resolution ------------------------------------------------------------------------------


def test_resolution_with_missing_end_and_resolution_days():
    events = [
        ("P0", "dry lips", 10, 100),
        ("P1", "dry lips", 10, 239),
        ("P2", "dry lips", 10, 240),
        ("P3", "dry lips", 10, None),
        ("P4", "dry lips", 10, 50),
    ]
    cohort = make_cohort(5, events, courses={"end_day": [149, 149, 149, 149, None]})
    data = se.event_data(cohort)
    labels = se.resolution_labels(90)
    categories = se.resolution_category(data.events, 90).tolist()
    assert categories == [labels[0], labels[1], labels[2], labels[3], labels[4]]
    estimate = se.resolved_within(cohort, days=90)
    assert (estimate.numerator, estimate.n) == (2, 4)  # the course with no last dose is left out
    assert "1 events of courses with no known last dose left out" in estimate.method
    assert "1 without a resolution day counted as not resolved" in estimate.method
    assert se.resolved_within(cohort, days=91).numerator == 3
    table = se.resolution_table(data, ["Cheilitis"]).set_index("term")
    assert table.loc[se.ANY_EFFECT, "events"] == 5
    assert table.loc["Cheilitis", labels[3]] == 1
    assert table.loc["Cheilitis", "median_days_onset_to_resolution"] == pytest.approx(np.median([90, 229, 230, 40]))


# ---- Discontinuation and actions -------------------------------------------------------------


def test_discontinuation_counts_end_reason_or_action_once():
    events = [
        ("P0", "dry lips", 10, None, 2, "discontinued"),
        ("P1", "joint pain", 10, None, 3, "discontinued"),
        ("P2", "dry skin", 10, None, 1, "dose_reduced"),
    ]
    cohort = make_cohort(
        10, events, courses={"end_reason": ["adverse_event", None, None, "adverse_event"] + ["completed"] * 6}
    )
    estimate = se.discontinuation_share(cohort)
    assert (estimate.numerator, estimate.n) == (3, 10)  # P0 (both), P1 (action), P3 (end reason)
    actions = se.action_table(se.event_data(cohort)).set_index("what")
    assert actions.loc["Dose reduced because of a side effect", "courses"] == 1
    assert actions.loc["Course ended because of a side effect", "courses"] == 2


def test_discontinuation_not_testable_without_reason_or_action():
    cohort = make_cohort(3, [("P0", "dry lips", 10)])
    assert se.discontinuation_share(cohort).n == 0


def test_worst_grade_per_course():
    cohort = make_cohort(
        3,
        [
            ("P0", "dry lips", 5, None, 1),
            ("P0", "dry lips", 50, None, 3),
            ("P1", "dry lips", 5),
            ("P2", "dry lips", 5, None, 2),
        ],
    )
    table = se.worst_grade_table(se.event_data(cohort), ["Cheilitis"]).set_index("worst_grade")["courses"]
    assert table.to_dict() == {"Grade 3": 1, "Grade 2": 1, "Not graded": 1}


def test_onset_by_month_counts_first_episode():
    cohort = make_cohort(
        3, [("P0", "dry lips", 5), ("P0", "dry lips", 70), ("P1", "dry lips", 31), ("P2", "dry lips", 61)]
    )
    table = se.onset_table(se.event_data(cohort), ["Cheilitis"]).set_index("onset_month")["courses"]
    assert table.to_dict() == {0: 1, 1: 1, 2: 1}


def test_events_per_course():
    cohort = make_cohort(4, [("P0", "dry lips", 5), ("P0", "dry skin", 5), ("P1", "dry lips", 5)])
    table = se.events_per_course(se.event_data(cohort)).set_index("side_effects")["courses"]
    assert table[["0", "1", "2"]].tolist() == [2, 1, 1]


# ---- Mood (claim C12) ------------------------------------------------------------------------


def test_mood_counts_adverse_events_or_phq9_rise_once():
    visits = {
        "patient_id": ["P0", "P0", "P1", "P1", "P2", "P2", "P3", "P3"],
        "course_number": [1] * 8,
        "day": [0, 60, 0, 60, -5, 90, 0, 60],
        "phq9": [4, 12, 12, 20, 3, 9, 2, 14],
    }
    cohort = make_cohort(6, [("P0", "low mood", 30), ("P4", "depression", 30)], visits=visits)
    estimate = se.mood_incidence(cohort)
    # P0 (both), P3 (PHQ-9 2 -> 14), P4 (event); P1's baseline was already >= 10, P2 stayed below.
    assert (estimate.numerator, estimate.n) == (3, 6)
    assert "adverse events and PHQ-9 scores" in estimate.method
    assert "3 courses with both scores" in estimate.method


def test_mood_from_phq9_only_says_so():
    visits = {"patient_id": ["P0", "P0"], "course_number": [1, 1], "day": [0, 60], "phq9": [4, 12]}
    estimate = se.mood_incidence(make_cohort(3, [], visits=visits))
    assert estimate.numerator == 1
    assert "adverse events not recorded" in estimate.method


# ---- The document's wording ------------------------------------------------------------------


@pytest.mark.parametrize(
    "word, low, high, verdict",
    [
        ("common", "very common", "very common", "More frequent than the document says"),
        ("common", "common", "common", "Agrees with the document"),
        ("very rare", "very rare", "rare", "Not sure: the interval spans more than one band"),
        ("rare", "very rare", "very rare", "Less frequent than the document says"),
        ("rare", None, None, "Not measurable in these data"),
    ],
)
def test_comparison_with_the_documents_word(word, low, high, verdict):
    assert se.compare_with_document(word, low, high) == verdict


def test_named_effects_table(forty):
    table = se.named_effects_table(se.event_data(forty)).set_index("effect")
    assert list(table.index) == list(se.NAMED_EFFECT_LABELS)
    assert table.loc["Chapped lips", "courses"] == 8
    assert table.loc["Chapped lips", "document_says"] == "common"
    assert table.loc["Chapped lips", "literature_rate"] == pytest.approx(0.78)
    assert "Rademaker" in table.loc["Chapped lips", "literature"]
    assert table.loc["Vision changes", "document_says"] == "rare"
    assert table.loc["Mood swings or depression", "document_says"] == "very rare"


# ---- Subgroup comparison ---------------------------------------------------------------------


def test_comparison_against_reference_libraries():
    events = [(f"P{i}", "dry lips", 5) for i in range(0, 40, 2)][:12] + [
        (f"P{i}", "dry lips", 5) for i in range(1, 40, 2)
    ][:4]
    cohort = make_cohort(40, events)  # M: even courses (12 of 20), F: odd courses (4 of 20)
    table = se.comparison_table(se.event_data(cohort), "sex", ("Cheilitis",)).set_index("group")
    assert table.loc["F", "reference"] == "F"
    row = table.loc["M"]
    assert row["risk_difference"] == pytest.approx(12 / 20 - 4 / 20)
    low, high = confint_proportions_2indep(12, 20, 4, 20, method="newcomb", compare="diff")
    assert (row["rd_ci_low"], row["rd_ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert row["risk_ratio"] == pytest.approx(3.0)
    assert row["fisher_p"] == pytest.approx(fisher_exact([[12, 8], [4, 16]]).pvalue)


def test_comparison_orders_dose_bands_low_to_high():
    labels = pd.Series([">1.0", "<0.5", "0.5-1.0", se.MISSING_LABEL])
    assert se.ordered_groups(labels, "daily_dose_band") == ["<0.5", "0.5-1.0", ">1.0", se.MISSING_LABEL]


# ---- Settings and the JSON summary -----------------------------------------------------------


def test_settings_from_cli_strings():
    settings = se.SideEffectSettings.from_settings(
        {
            "adverse_events.treatment_emergent": "false",
            "adverse_events.window_days_after_end": "14",
            "adverse_events.term_column": "term",
            "clearance.definition": "iga01",
        }
    )
    assert settings == se.SideEffectSettings(treatment_emergent=False, window_days_after_end=14, term_column="term")
    with pytest.raises(ValueError):
        se.SideEffectSettings.from_settings({"adverse_events.treatment_emergent": "perhaps"})
    with pytest.raises(ValueError):
        se.SideEffectSettings.from_settings({"adverse_events.term_column": "meddra"})


def test_summary_section_shape(forty):
    assert AREA.key == "adverse_events"
    section = AREA.summary(forty, SummaryOptions(group_by="sex"))
    json.dumps(section)
    assert section["at_risk"] == 40 and section["counted_per"] == "course"
    cheilitis = next(t for t in section["terms"] if t["term"] == "Cheilitis")
    assert {k: cheilitis[k] for k in ("body_system", "patients", "events", "band")} == {
        "body_system": "Gastrointestinal disorders",
        "patients": 8,
        "events": 9,
        "band": "very common",
    }
    assert {"rate", "ci_low", "ci_high"} <= set(cheilitis)
    groups = {g["group"]: g for g in section["groups"]}
    assert set(groups) == {"F", "M"} and groups["M"]["at_risk"] == 20
    assert sum(next(t for t in g["terms"] if t["term"] == "Cheilitis")["patients"] for g in groups.values()) == 8


def test_as_written_mode_uses_the_datas_body_system():
    tables = {
        "courses": canonical(
            "courses", {"patient_id": ["A", "B"], "course_number": [1, 1], "sex": ["F", "M"], "age": [20.0, 30.0]}
        ),
        "adverse_events": canonical(
            "adverse_events",
            {"patient_id": ["A", "B"], "course_number": [1, 1], "term": ["HEADACHE", "Headache"], "onset_day": [1, 2]},
        ),
    }
    tables["adverse_events"]["body_system"] = ["NERVOUS SYSTEM DISORDERS", None]
    cohort = build_cohort(tables, source="written")
    written = se.incidence_table(se.event_data(cohort, se.SideEffectSettings(term_column="term"))).set_index("term")
    assert written.loc["HEADACHE", "body_system"] == "NERVOUS SYSTEM DISORDERS"
    assert written.loc["Headache", "body_system"] == "Nervous system disorders"
    merged = se.incidence_table(se.event_data(cohort)).set_index("term")
    assert merged.loc["Headache", "courses"] == 2
    assert merged.loc["Headache", "body_system"] == "Nervous system disorders"


def test_a_chart_of_a_column_with_no_value_says_so_instead_of_drawing(forty):
    result = AREA.analyse(forty, {})
    drawn = {section.key: section.draw(forty, result, Audience()) for section in AREA.sections}
    assert drawn["grade"].missing == (
        "No severity grade is recorded (column grade of the adverse events is empty), so the grade chart is not shown."
    )
    assert drawn["resolution"].missing == (
        "No resolution day is recorded (column resolved_day of the adverse events is empty), "
        "so resolution cannot be shown."
    )
    graded = make_cohort(2, [("P0", "dry lips", 10, 30, 2)])
    drawn = {section.key: section.draw(graded, AREA.analyse(graded, {}), Audience()) for section in AREA.sections}
    assert drawn["grade"].missing == "" and drawn["resolution"].missing == ""
