"""Relapse and second-course analysis: censoring rules, exclusions, claims, Cox model and JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.areas.base import SummaryOptions
from analysis.areas.relapse import compute as relapse
from analysis.areas.relapse.compute import RelapseSettings
from analysis.cohort.model import build_cohort, empty_table
from analysis.stats.survival import DAYS_PER_YEAR, fit_km


def course_table(**columns) -> pd.DataFrame:
    """A canonical courses table (every schema column, typed) filled from the given columns."""
    n = len(next(iter(columns.values())))
    template = empty_table("courses")
    table = pd.DataFrame({c: pd.Series(pd.NA, index=range(n), dtype=template[c].dtype) for c in template})
    table["patient_id"] = [f"P{i}" for i in range(n)]
    table["course_number"] = pd.array([1] * n, dtype="Int64")
    table["sex"] = "F"
    table["age"] = pd.array([20.0] * n, dtype="Float64")
    for name, values in columns.items():
        table[name] = pd.Series(values).astype(template[name].dtype) if name in template else list(values)
    return table


def cohort_of(visits: pd.DataFrame | None = None, **columns):
    return build_cohort({"courses": course_table(**columns), "visits": visits}, source="test")


NA = None


@pytest.fixture
def rules_cohort():
    """One course per censoring rule; the comment says what each must become."""
    return cohort_of(
        end_day=[100, 100, 100, 100, NA, 100, 100, 100, 100],
        relapse_day=[300, NA, NA, 250, 300, NA, 50, NA, 500],
        retreat_day=[NA, NA, 400, 350, NA, NA, NA, NA, NA],
        followup_end_day=[900, 800, 900, 900, 900, NA, 900, 90, 450],
        # 0 relapse at 200 | 1 censored at 700 | 2 further course at 300 | 3 relapse at 150
        # 4 no end_day | 5 no follow-up | 6 relapse before the last dose | 7 follow-up before the last dose
        # 8 relapse after follow-up
    )


def by_course(times: relapse.EventTimes) -> pd.DataFrame:
    return times.times.set_index("course_idx")


def test_censoring_rules_default(rules_cohort):
    times = relapse.relapse_times(rules_cohort)
    rows = by_course(times)
    assert rows.loc[[0, 1, 2, 3], "days"].tolist() == [200, 700, 300, 150]
    assert rows.loc[[0, 1, 2, 3], "event"].tolist() == [True, False, True, True]
    assert rows.loc[2, "outcome"] == "further course counted as relapse"
    assert (times.total, times.entered) == (9, 4)


def test_further_course_censors_when_not_counted_as_relapse(rules_cohort):
    rows = by_course(relapse.relapse_times(rules_cohort, RelapseSettings(retreatment_counts_as_relapse=False)))
    assert (rows.loc[2, "days"], rows.loc[2, "event"], rows.loc[2, "outcome"]) == (
        300,
        False,
        "censored at further course",
    )
    assert (rows.loc[3, "days"], rows.loc[3, "event"]) == (150, True)  # a recorded relapse stays a relapse


def test_excluded_courses_are_listed_with_their_reason(rules_cohort):
    excluded = relapse.relapse_times(rules_cohort).excluded.set_index("course_idx")
    assert excluded["reason"].to_dict() == {
        4: relapse.MISSING_END,
        5: relapse.MISSING_FOLLOWUP,
        6: "event recorded before the last dose",
        7: relapse.FOLLOWUP_BEFORE_END,
        8: relapse.EVENT_AFTER_FOLLOWUP,
    }
    assert excluded.loc[4, "problem"] == "cannot enter (missing date)"
    assert excluded.loc[6, "problem"] == "inconsistent dates"
    counts = relapse.relapse_times(rules_cohort).exclusion_counts()
    assert counts["courses"].sum() == 5
    assert set(counts["problem"]) == {"cannot enter (missing date)", "inconsistent dates"}


def test_follow_up_ending_before_the_last_visit_is_inconsistent():
    visits = pd.DataFrame(
        {
            "patient_id": ["P0", "P1"],
            "course_number": pd.array([1, 1], dtype="Int64"),
            "day": pd.array([600, 400], dtype="Int64"),
        }
    )
    for column in empty_table("visits").columns:
        if column not in visits:
            visits[column] = pd.Series(pd.NA, index=visits.index, dtype=empty_table("visits")[column].dtype)
    times = relapse.relapse_times(cohort_of(visits, end_day=[100, 100], followup_end_day=[500, 500]))
    assert times.excluded["reason"].tolist() == [relapse.FOLLOWUP_BEFORE_VISIT]
    assert by_course(times).index.tolist() == [1]


def test_start_origin_counts_from_first_dose_and_needs_no_end_day(rules_cohort):
    times = relapse.relapse_times(rules_cohort, RelapseSettings(origin="start"))
    rows = by_course(times)
    assert rows.loc[[0, 4, 6], "days"].tolist() == [300, 300, 50]
    assert relapse.MISSING_END not in set(times.excluded["reason"])


def test_retreat_day_taken_from_the_patients_next_course():
    table = course_table(end_day=[150, 140], followup_end_day=[1000, 500], relapse_day=[NA, NA])
    table["patient_id"] = ["A", "A"]
    table["course_number"] = pd.array([1, 2], dtype="Int64")
    table["start_date"] = pd.to_datetime(["2020-01-01", "2020-12-26"])
    cohort = build_cohort({"courses": table}, source="test")
    rows = by_course(relapse.second_course_times(cohort))
    assert (rows.loc[0, "days"], rows.loc[0, "event"]) == (360 - 150, True)
    assert (rows.loc[1, "days"], rows.loc[1, "event"]) == (360, False)


def test_second_course_times(rules_cohort):
    times = relapse.second_course_times(rules_cohort)
    rows = by_course(times)
    assert (rows.loc[2, "days"], rows.loc[2, "event"]) == (300, True)
    assert (rows.loc[0, "days"], rows.loc[0, "event"]) == (800, False)
    assert rows.loc[6, "days"] == 800  # a relapse date does not matter here


def test_settings_from_cli_strings():
    settings = RelapseSettings.from_settings(
        {
            "relapse.origin": "Start",
            "relapse.retreatment_counts_as_relapse": "false",
            "relapse.horizons": "1,5",
            "clearance.definition": "iga01",
        }
    )
    assert settings == RelapseSettings(origin="start", retreatment_counts_as_relapse=False, horizons=(1, 5))
    assert RelapseSettings.from_settings({}) == RelapseSettings()
    with pytest.raises(ValueError, match="relapse.origin"):
        RelapseSettings.from_settings({"relapse.origin": "middle"})


def simulated(n: int = 600, seed: int = 7):
    """Courses with relapse hazards falling with dose and higher in women; end at day 150."""
    rng = np.random.default_rng(seed)
    cumulative = rng.uniform(60, 280, n)
    female = rng.random(n) < 0.5
    hazard = 0.001 * np.exp(-0.08 * (cumulative - 150) / 10 + 0.36 * female)
    relapse_after = np.ceil(rng.exponential(1 / hazard))
    followup = rng.integers(200, 1500, n)
    observed = relapse_after <= followup
    return cohort_of(
        end_day=[149] * n,
        weight_kg=[60.0] * n,
        cumulative_dose_mg=cumulative * 60,
        sex=np.where(female, "F", "M"),
        relapse_day=np.where(observed, 149 + relapse_after, np.nan),
        followup_end_day=149 + followup,
        site=rng.choice(["North", "South"], n),
        arm=rng.choice(["x", "y"], n),
    )


def test_claim_quantities_are_km_values_at_the_horizon():
    cohort = simulated()
    times = relapse.relapse_times(cohort).times
    km = fit_km(times["days"], times["event"])
    free = relapse.relapse_free_at(cohort, 2)
    assert free == km.survival_at(2 * DAYS_PER_YEAR)
    assert free.method == "Kaplan-Meier, log-log 95% CI"
    one_year = relapse.relapse_probability_at(cohort, 1)
    survival = km.survival_at(DAYS_PER_YEAR)
    assert one_year.estimate == pytest.approx(1 - survival.estimate)
    assert (one_year.ci_low, one_year.ci_high) == pytest.approx((1 - survival.ci_high, 1 - survival.ci_low))
    assert one_year.n == 600 and one_year.numerator == int(((times["days"] <= DAYS_PER_YEAR) & times["event"]).sum())


def test_second_course_probability():
    cohort = cohort_of(end_day=[100] * 4, retreat_day=[200, NA, 500, NA], followup_end_day=[900, 900, 900, 300])
    # Day 100: 1 of 4 starts a further course; course 3 censored at day 200; day 400: 1 of the 2 left.
    assert relapse.second_course_probability_at(cohort, 1).estimate == pytest.approx(1 / 4)
    two_years = relapse.second_course_probability_at(cohort, 2)
    assert two_years.estimate == pytest.approx(1 - 3 / 4 * 1 / 2)
    assert (two_years.numerator, two_years.n) == (2, 4)


def test_grouped_analysis_orders_bands_and_tests_without_missing():
    cohort = simulated()
    cohort.courses.loc[:9, "cumulative_dose_band"] = None
    analysis = relapse.relapse_analysis(cohort, group_by="cumulative_dose_band")
    assert list(analysis.groups) == ["<120", "120-220", ">220", "(missing)"]
    assert analysis.comparison.groups == 3 and analysis.comparison.p_value < 0.05
    assert sum(km.n for km in analysis.groups.values()) == analysis.overall.n
    horizons = relapse.horizon_table(analysis)
    assert len(horizons) == 4 * 3 and set(horizons["years"]) == {1, 2, 3}
    high, low = (horizons.set_index(["group", "years"]).loc[(band, 1), "estimate"] for band in (">220", "<120"))
    assert high > low  # higher cumulative dose, fewer relapses, as simulated


def test_grouping_options_include_custom_columns():
    options = relapse.grouping_options(simulated(50))
    assert "arm" in options and "cumulative_dose_band" in options
    assert "age_band" not in options  # every course is 18-24: one group, nothing to compare
    with pytest.raises(KeyError):
        relapse.relapse_analysis(simulated(50), group_by="nonexistent")


def test_number_at_risk_table_every_six_months():
    analysis = relapse.relapse_analysis(simulated(), group_by="sex")
    table = relapse.number_at_risk_table(analysis)
    assert table["group"].tolist() == ["F", "M"]
    assert table.columns[1:4].tolist() == ["day 0", "day 183", "day 365"]
    times = analysis.times.times
    sex = relapse.group_values(simulated(), times["course_idx"], "sex")
    assert table.loc[0, "day 365"] == int(((times["days"] >= 365) & (sex == "F")).sum())


def test_cox_model_recovers_simulated_effects():
    model = relapse.cox_model(simulated(3000, seed=11))
    table = model.table.set_index("term")
    dose, female = table.loc["Cumulative dose, per 10 mg/kg more"], table.loc["Female vs male"]
    assert dose["ci_low"] < np.exp(-0.08) < dose["ci_high"]
    assert female["ci_low"] < np.exp(0.36) < female["ci_high"]
    assert model.notes == ()


def test_cox_model_says_why_it_is_not_fitted():
    few = cohort_of(
        end_day=[100] * 4,
        relapse_day=[200, NA, NA, NA],
        followup_end_day=[900] * 4,
        sex=["F", "M", "F", "M"],
        weight_kg=[60.0] * 4,
        cumulative_dose_mg=[6000.0, 7000, 8000, 9000],
    )
    model = relapse.cox_model(few)
    assert model.table.empty and "at least 10 per term" in model.notes[-1]
    women_only = relapse.cox_model(simulated().subset(np.flatnonzero(simulated().courses["sex"] == "F")))
    assert women_only.table["term"].tolist() == ["Cumulative dose, per 10 mg/kg more"]
    assert "sex left out" in women_only.notes[0]


def test_summary_section_is_json_ready():
    cohort = simulated()
    section = relapse.summary_section(cohort, SummaryOptions(settings={"relapse.origin": "end"}))
    json.dumps(section)
    assert section["origin"] == "end"
    assert [row["years"] for row in section["relapse_free"]] == [1, 2, 3]
    assert set(section["km"][0]) == {"day", "at_risk", "events", "survival", "ci_low", "ci_high"}
    assert section["km"][0]["at_risk"] == 600
    assert section["relapse_free"][0]["estimate"] == pytest.approx(relapse.relapse_free_at(cohort, 1).estimate)
    assert "relapse_free" not in section["retreatment"] and "without_further_course" in section["retreatment"]
    started = section["retreatment"]["further_course_by"][1]
    assert started["estimate"] == pytest.approx(relapse.second_course_probability_at(cohort, 2).estimate)
    assert [t["term"] for t in section["cox"]["terms"]] == ["Cumulative dose, per 10 mg/kg more", "Female vs male"]


def test_summary_section_per_group():
    section = relapse.summary_section(simulated(), SummaryOptions(group_by="sex"))
    json.dumps(section)
    assert [g["group"] for g in section["groups"]] == ["F", "M"]
    assert section["log_rank"]["degrees_of_freedom"] == 1
    assert "groups" in section["retreatment"]
    assert "groups" not in relapse.summary_section(simulated(), SummaryOptions(group_by="no_such_column"))


def demo_cohort():
    demo = pytest.importorskip("analysis.demo")
    if "relapse_1y" not in getattr(demo, "PARAMETERS", {}):
        pytest.skip("the demo generator names no relapse_1y parameter")
    return build_cohort(demo.generate_cohort(4000, seed=2024), source="demo", synthetic=True), demo.PARAMETERS[
        "relapse_1y"
    ]


def test_demo_one_year_relapse_lands_near_its_generating_rate():
    cohort, generated = demo_cohort()
    recorded_only = relapse.relapse_probability_at(cohort, 1, RelapseSettings(retreatment_counts_as_relapse=False))
    assert recorded_only.estimate == pytest.approx(generated, abs=0.03)
    assert recorded_only.ci_low < generated + 0.01 and recorded_only.ci_high > generated - 0.01
