"""Derived fields of the cohort, checked against values computed by hand."""

import pandas as pd
import pytest
from engine_values import values_of

from analysis.engine.derivations import age_band, band, month


def test_month_is_round_of_day_over_30_4375():
    days = [0, 15, 16, 45, 46, 183, -15, -16, None]
    # 15/30.4375 = 0.49 -> 0; 16 -> 0.53 -> 1; 45 -> 1.48 -> 1; 46 -> 1.51 -> 2; 183 -> 6.01 -> 6
    assert values_of(month, days, "Int64") == [0, 0, 1, 1, 2, 6, 0, -1, None]


def test_every_table_carries_its_course_index(tiny_cohort):
    assert tiny_cohort.courses["course_idx"].tolist() == [0, 1, 2, 3]
    assert tiny_cohort.visits.groupby("course_idx").size().to_dict() == {0: 3, 1: 3, 2: 1}


def test_total_lesions_derived_only_where_absent(tiny_cohort):
    visits = tiny_cohort.visits
    a = visits[visits["patient_id"] == "A"]
    assert a["total_lesions"].tolist() == [50, 55, 5]
    c = visits[visits["patient_id"] == "C"]
    assert c["total_lesions"].tolist() == [25]  # given, kept although the parts sum to 20


def test_percent_change_from_baseline(tiny_cohort):
    a = tiny_cohort.visits[tiny_cohort.visits["patient_id"] == "A"]
    assert a["pct_change_total_lesions"].tolist() == pytest.approx([0.0, 10.0, -90.0])
    b = tiny_cohort.visits[tiny_cohort.visits["patient_id"] == "B"]
    # baseline is the screening visit on day -7: 40 lesions
    assert b["pct_change_total_lesions"].tolist() == pytest.approx([0.0, -50.0, -95.0])


def test_baseline_iga_taken_from_baseline_visit_when_not_given(tiny_cohort):
    assert tiny_cohort.courses["baseline_iga"].tolist() == [4, 3, 3, 3]


def test_age_band_and_start_year(tiny_cohort):
    assert tiny_cohort.courses["age_band"].tolist() == ["<18", "18-24", "25-34", "25-34"]
    assert tiny_cohort.courses["start_year"].tolist() == [2019, 2021, 2020, 2021]


def test_age_bands_at_their_edges_and_outside_them():
    ages = [-1, 0, 17.99, 18, 24.99, 25, 34.99, 35, 199.9, 200, None]
    expected = [None, "<18", "<18", "18-24", "18-24", "25-34", "25-34", "35+", "35+", None, None]
    assert values_of(age_band, ages) == expected


def test_cumulative_dose_given_or_integrated_from_visits(tiny_cohort):
    courses = tiny_cohort.courses
    # A: 6000 mg given / 50 kg = 120 mg/kg over 150 days -> 0.8 mg/kg/day
    assert courses.loc[0, "cumulative_dose_mg_per_kg"] == pytest.approx(120.0)
    assert courses.loc[0, "daily_dose_mg_per_kg"] == pytest.approx(0.8)
    # B: 40 mg from day 0 (screening dose starts at day 0) to day 49 = 50 days, 80 mg days 50-99 = 50 days
    assert courses.loc[1, "cumulative_dose_mg"] == pytest.approx(40 * 50 + 80 * 50)
    assert courses.loc[1, "cumulative_dose_source"] == "visits"
    assert courses.loc[1, "cumulative_dose_mg_per_kg"] == pytest.approx(75.0)
    # C course 2: no end day and no dose -> unknown
    assert pd.isna(courses.loc[3, "cumulative_dose_mg"])
    assert courses.loc[3, "cumulative_dose_source"] == "unknown"


def test_dose_bands_at_their_edges():
    daily = values_of(lambda x: band(x, (0.5, 1.0), ("<0.5", "0.5-1.0", ">1.0")), [0.49, 0.5, 1.0, 1.01, None])
    assert daily == ["<0.5", "0.5-1.0", "0.5-1.0", ">1.0", None]
    cumulative = values_of(lambda x: band(x, (120, 220), ("<120", "120-220", ">220")), [119.9, 120, 220, 220.1])
    assert cumulative == ["<120", "120-220", "120-220", ">220"]


def test_bands_of_the_tiny_cohort(tiny_cohort):
    courses = tiny_cohort.courses
    assert courses["cumulative_dose_band"].tolist()[:3] == ["120-220", "<120", ">220"]  # C: 14400 mg / 60 kg = 240
    assert courses["daily_dose_band"].tolist()[:3] == ["0.5-1.0", "0.5-1.0", ">1.0"]


def test_unknown_columns_become_custom_fields(tiny_cohort):
    assert tiny_cohort.custom_columns == ("arm",)


def test_a_lineage_keeps_only_its_courses_and_none_outside_its_numbering():
    import weakref

    import numpy as np

    from analysis.cohort.model import Lineage

    class Parent:
        pass

    parent = Parent()
    lineage = Lineage(weakref.ref(parent), {}, np.array([True, False, True]))
    for dtype in (np.int32, np.int64):
        codes = np.array([-1, 0, 1, 2, 3, 10, -7], dtype=dtype)
        assert lineage.keeps(codes).tolist() == [False, True, False, True, False, False, False]
    assert lineage.courses_kept(5).tolist() == [True, False, True, False, False]


def test_the_declared_derived_course_columns_are_those_the_cohort_computes():
    """The validator refuses custom columns named like a derived field; it reads the names from the schema."""
    from analysis.cohort.model import build_cohort
    from analysis.schema import DERIVED_COURSE_COLUMNS, SPECS

    computed = set(build_cohort({}, source="").courses.columns) - set(SPECS["courses"].names)
    assert computed == DERIVED_COURSE_COLUMNS


def test_last_month_is_the_later_of_the_last_dose_and_the_last_visit_in_the_course_window():
    from analysis.cohort.model import build_cohort
    from tests.conftest import tiny_tables

    tables = tiny_tables()
    courses, visits = tables["courses"], tables["visits"]
    no_end = courses.iloc[[3, 3]].assign(patient_id=["D", "E"], end_day=pd.array([None, None], dtype="Int64"))
    tables["courses"] = pd.concat([courses, no_end], ignore_index=True)
    later = visits.iloc[[3, 3, 6, 6, 6]].assign(
        patient_id=["B", "B", "C", "D", "E"],
        course_number=pd.array([1, 1, 2, 2, 2], dtype="Int64"),
        day=pd.array([113, 200, 400, 0, 1]),
    )
    tables["visits"] = pd.concat([visits, later], ignore_index=True)
    cohort = build_cohort(tables, source="tiny")
    # A: last dose day 149 (month 4.9); B: a visit on day 113, 14 days after the last dose (3.7), one
    # on day 200 is follow-up; C 1: day 179 (5.9), its visit on day 0 is before the window; C 2: no
    # last dose, a visit on day 400 (13.1); D 2: no last dose, a visit on day 0 only; E 2: one on day 1.
    expected = pd.Series([5, 4, 6, 13, None, 0], dtype="Int64")
    pd.testing.assert_series_equal(cohort.courses["last_month"], expected, check_names=False)
