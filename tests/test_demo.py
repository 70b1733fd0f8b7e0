"""The synthetic demo cohort: reproducible bytes, canonical columns, and the published relations.

The relations are checked on a 20,000-course cohort with pandas directly, so the test does not
depend on the outcome-area code it is meant to exercise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cohort.model import build_cohort
from analysis.demo import DEFAULT_COURSES, DEFAULT_SEED, PARAMETERS, generate_cohort, write_demo
from analysis.schema import CUMULATIVE_DOSE_BANDS, DAILY_DOSE_BANDS, SPECS, TABLES

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "demo"
LARGE = 20_000
CHEILITIS_TERMS = {"dry lips", "chapped lips", "lip dryness", "cheilitis", "chelitis", "dry lipps"}
# To mg/dL or U/L, as LITERATURE.md's conventions give them.
TO_CONVENTIONAL = {("TG", "mmol/L"): 88.57, ("TC", "mmol/L"): 38.67, ("ALT", "ukat/L"): 60.0, ("AST", "ukat/L"): 60.0}
UPPER_LIMIT = {"ALT": 40, "AST": 40, "TG": 150, "TC": 200}


@pytest.fixture(scope="module")
def tables():
    return generate_cohort(LARGE, DEFAULT_SEED)


@pytest.fixture(scope="module")
def cohort(tables):
    return build_cohort(tables, source="demo", synthetic=True)


@pytest.fixture(scope="module")
def default_tables():
    return generate_cohort()


def _bytes(directory: Path) -> dict[str, bytes]:
    return {name: (directory / f"{name}.csv").read_bytes() for name in TABLES}


# ---- Reproducibility and format ----------------------------------------------------------------


def test_same_seed_gives_same_bytes_and_another_seed_other_data(tmp_path):
    write_demo(tmp_path / "a", n_courses=300, seed=11)
    write_demo(tmp_path / "b", n_courses=300, seed=11)
    write_demo(tmp_path / "c", n_courses=300, seed=12)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    other = _bytes(tmp_path / "c")
    assert all(other[name] != content for name, content in _bytes(tmp_path / "a").items())


def test_bundled_demo_is_what_the_generator_writes(tmp_path):
    write_demo(tmp_path)
    assert _bytes(tmp_path) == _bytes(DEMO_DIR), "data/demo is stale: rerun write_demo('data/demo')"
    readme = (DEMO_DIR / "README.md").read_text()
    assert "not real data" in readme.lower() and f"--seed {DEFAULT_SEED}" in readme
    for name, content in _bytes(DEMO_DIR).items():
        rows = content.count(b"\n") - 1
        assert f"| {name}.csv | {rows:,}" in readme, f"README row count of {name}.csv"


def test_csv_reads_back_as_the_generated_tables(default_tables):
    for name in TABLES:
        read = pd.read_csv(DEMO_DIR / f"{name}.csv", dtype=str, keep_default_na=False)
        assert list(read.columns) == list(SPECS[name].names)
        generated = default_tables[name]
        for column in SPECS[name].columns:
            written = read[column.name].where(read[column.name] != "")
            if column.kind in ("int", "float"):
                expected = generated[column.name].astype("float").to_numpy()
                np.testing.assert_array_equal(
                    written.astype(float).to_numpy(), expected, err_msg=f"{name}.{column.name}"
                )
            elif column.kind == "date":
                assert (written == generated[column.name].dt.strftime("%Y-%m-%d")).all()
            else:
                assert written.fillna("").tolist() == generated[column.name].fillna("").tolist(), (
                    f"{name}.{column.name}"
                )


@pytest.mark.parametrize("n", [1, 2, 7, 333])
def test_exactly_the_requested_number_of_courses(n):
    courses = generate_cohort(n, seed=3)["courses"]
    assert len(courses) == n
    assert not courses.duplicated(["patient_id", "course_number"]).any()


def test_columns_are_canonical_and_within_the_schema(tables):
    for name in TABLES:
        table = tables[name]
        assert list(table.columns) == list(SPECS[name].names)
        for column in SPECS[name].columns:
            values = table[column.name]
            if column.minimum is not None:
                numeric = values.astype("float")
                assert ((numeric >= column.minimum) & (numeric <= column.maximum) | numeric.isna()).all(), column.name
            if column.allowed:
                assert values.dropna().isin(column.allowed).all(), column.name
            if column.kind == "yesno":
                assert set(values.dropna()) <= {"yes", "no"}
    assert tables["courses"]["patient_id"].str.fullmatch(r"P\d{6}").all()


def test_tables_hang_together(tables):
    courses = tables["courses"]
    visits = tables["visits"]
    assert not visits.duplicated(["patient_id", "course_number", "day"]).any()
    baselines = visits[visits["visit"] == "Baseline"]
    assert len(baselines) == len(courses) and (baselines["day"] <= 0).all()
    relapsed = courses.dropna(subset=["relapse_day"])
    assert (relapsed["relapse_day"] > relapsed["end_day"]).all()
    assert (relapsed["relapse_day"] <= relapsed["followup_end_day"]).all()
    retreated = courses.dropna(subset=["retreat_day"])
    assert (retreated["retreat_day"] >= retreated["end_day"] + 56).all()  # US label: 8 weeks
    first = retreated.set_index("patient_id")
    second = courses[courses["course_number"] == 2].set_index("patient_id")
    assert sorted(first.index) == sorted(second.index)
    gap = (second["start_date"] - first.loc[second.index, "start_date"]).dt.days
    assert (gap == first.loc[second.index, "retreat_day"]).all()
    events = tables["adverse_events"].merge(courses, on=["patient_id", "course_number"])
    assert (events["onset_day"] <= events["end_day"]).all()
    assert ((events["resolved_day"] >= events["onset_day"]) | events["resolved_day"].isna()).all()


# ---- Structure the app needs ---------------------------------------------------------------------


def test_sites_years_units_and_second_courses(tables):
    courses, labs, visits = tables["courses"], tables["labs"], tables["visits"]
    assert courses["site"].nunique() >= 2
    assert courses["start_date"].dt.year.nunique() >= 5
    patients = courses["patient_id"].nunique()
    assert abs((courses["course_number"] == 2).sum() / patients - PARAMETERS["second_course_share"]) < 0.015
    units_by_site = labs.merge(courses[["patient_id", "course_number", "site"]]).groupby("site")["unit"].agg(set)
    si_site = PARAMETERS["si_unit_site"]
    assert {"mmol/L", "ukat/L"} <= units_by_site[si_site]
    assert all("mmol/L" not in units for site, units in units_by_site.items() if site != si_site)
    assert {"ALT", "AST", "TG", "TC", "LDL", "HDL", "CK", "BILI", "HCG"} <= set(labs["test"])
    assert labs["upper_limit"].isna().any() and labs["upper_limit"].notna().mean() > 0.8
    sites = visits.merge(courses[["patient_id", "course_number", "site"]])["site"]
    blank = visits["total_lesions"].isna()
    assert (sites[blank] == PARAMETERS["derived_total_site"]).all() and blank.any()
    assert courses["cumulative_dose_mg"].isna().mean() == pytest.approx(0.10, abs=0.015)
    assert courses["prior_treatments"].str.contains("oral_antibiotic").mean() > 0.75


def test_cohort_accepts_the_tables_and_fills_every_dose_band(default_tables):
    cohort = build_cohort(default_tables, source="demo", synthetic=True)
    assert cohort.label.endswith("(synthetic demo data)")
    assert set(cohort.courses["daily_dose_band"]) == set(DAILY_DOSE_BANDS)
    assert set(cohort.courses["cumulative_dose_band"]) == set(CUMULATIVE_DOSE_BANDS)
    assert cohort.courses["cumulative_dose_mg"].notna().all()


def test_given_cumulative_dose_equals_the_one_integrated_from_visits(default_tables):
    given = default_tables["courses"]["cumulative_dose_mg"]
    blanked = dict(default_tables, courses=default_tables["courses"].assign(cumulative_dose_mg=pd.NA))
    integrated = build_cohort(blanked, source="demo").courses["cumulative_dose_mg"]
    known = given.notna()
    np.testing.assert_allclose(integrated[known].astype(float), given[known].astype(float))


def test_dosing_is_real_world(cohort):
    courses = cohort.courses
    assert courses["daily_dose_mg_per_kg"].mean() == pytest.approx(0.58, abs=0.04)
    assert 95 <= courses["cumulative_dose_mg_per_kg"].mean() <= 126
    doses = cohort.visits["dose_mg_per_day"].dropna()
    assert (doses % 10 == 0).all()
    assert (courses["end_reason"] == "adverse_event").mean() == pytest.approx(0.02, abs=0.006)


# ---- Published relations --------------------------------------------------------------------------


def _end_of_course_visits(cohort):
    visits = cohort.visits
    end_day = visits["course_idx"].map(cohort.courses.set_index("course_idx")["end_day"])
    return visits[visits["day"] <= end_day].groupby("course_idx").tail(1).set_index("course_idx")


def test_end_of_course_iga_and_lesion_change(cohort):
    courses = cohort.courses
    done = courses.loc[(courses["course_number"] == 1) & (courses["end_reason"] == "completed"), "course_idx"]
    last = _end_of_course_visits(cohort).loc[done]
    assert (last["iga"] <= 1).mean() == pytest.approx(PARAMETERS["end_of_course_iga01"], abs=0.015)
    change = last["pct_change_total_lesions"].astype(float).median() / 100
    assert change == pytest.approx(PARAMETERS["end_of_course_lesion_change"], abs=0.02)


def test_initial_flare_share(cohort):
    visits = cohort.visits
    window = visits[(visits["day"] >= 1) & (visits["day"] <= 42)]
    flared = (window["total_lesions"] >= 1.1 * window["baseline_total_lesions"]).groupby(window["course_idx"]).any()
    assert flared.mean() == pytest.approx(PARAMETERS["flare_share"], abs=0.015)


def test_cheilitis_rises_with_daily_dose(cohort):
    courses = cohort.courses
    events = cohort.adverse_events
    has = courses["course_idx"].isin(events.loc[events["term"].isin(CHEILITIS_TERMS), "course_idx"])
    by_band = has.groupby(courses["daily_dose_band"], observed=True).mean()
    assert by_band["<0.5"] < by_band["0.5-1.0"] < by_band[">1.0"]
    assert 0.7 < has.mean() < 0.9


def _relapse_times(courses):
    after = np.where(courses["relapse_day"].notna(), courses["relapse_day"], courses["followup_end_day"])
    duration = after.astype(float) - courses["end_day"].to_numpy(dtype=float)
    keep = duration > 0
    covariates = np.column_stack([courses["cumulative_dose_mg_per_kg"].astype(float), courses["sex"] == "F"]).astype(
        float
    )
    return duration[keep], courses["relapse_day"].notna().to_numpy()[keep], covariates[keep]


def _kaplan_meier_event_share(duration, event, at):
    """1 - Kaplan-Meier survival at `at` (product over event times of 1 - deaths / at risk)."""
    times, deaths = np.unique(duration[event & (duration <= at)], return_counts=True)
    at_risk = duration.size - np.searchsorted(np.sort(duration), times, side="left")
    return 1 - np.prod(1 - deaths / at_risk)


def _cox_log_hazard_ratios(duration, event, x, iterations=10):
    """Cox partial-likelihood fit (Breslow ties) by Newton-Raphson: a reference for two covariates."""
    order = np.argsort(-duration, kind="stable")
    duration, event, x = duration[order], event[order], x[order] - x.mean(axis=0)
    last_at_risk = np.searchsorted(-duration, -duration, side="right") - 1
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        w = np.exp(x @ beta)
        s0 = np.cumsum(w)[last_at_risk][event]
        s1 = np.cumsum(w[:, None] * x, axis=0)[last_at_risk][event]
        s2 = np.cumsum(w[:, None, None] * x[:, :, None] * x[:, None, :], axis=0)[last_at_risk][event]
        mean = s1 / s0[:, None]
        gradient = (x[event] - mean).sum(axis=0)
        information = (s2 / s0[:, None, None] - mean[:, :, None] * mean[:, None, :]).sum(axis=0)
        beta = beta + np.linalg.solve(information, gradient)
    return beta


def test_relapse_follows_the_published_hazard_ratios(cohort):
    duration, event, covariates = _relapse_times(cohort.courses)
    assert _kaplan_meier_event_share(duration, event, 365) == pytest.approx(PARAMETERS["relapse_1y"], abs=0.015)
    assert event.sum() / len(cohort.courses) == pytest.approx(0.225, abs=0.02)  # Lai & Barbieri 2025
    per_mg_per_kg, female = np.exp(_cox_log_hazard_ratios(duration, event, covariates))
    assert per_mg_per_kg == pytest.approx(PARAMETERS["relapse_hr_per_mg_per_kg"], abs=0.0015)
    assert female == pytest.approx(PARAMETERS["relapse_hr_female"], abs=0.12)


def test_relapse_share_lower_at_higher_cumulative_dose_and_higher_in_women(cohort):
    courses = cohort.courses
    observed = courses[
        (courses["followup_end_day"] - courses["end_day"] >= 365) & (courses["end_reason"] == "completed")
    ]
    within_year = observed["relapse_day"].notna() & (observed["relapse_day"] - observed["end_day"] <= 365)
    low_dose = observed["cumulative_dose_band"] == "<120"
    assert within_year[low_dose].mean() > within_year[~low_dose].mean() + 0.02
    assert within_year[observed["sex"] == "F"].mean() > within_year[observed["sex"] == "M"].mean() + 0.04


def _conventional(labs):
    factor = [TO_CONVENTIONAL.get(key, 1.0) for key in zip(labs["test"], labs["unit"])]
    return labs["value"].astype(float) * np.array(factor)


def test_new_lab_abnormalities_with_normal_baseline(cohort):
    labs = cohort.labs[cohort.labs["test"].isin(list(UPPER_LIMIT))].copy()
    labs["conventional"] = _conventional(labs)
    labs["end_day"] = labs["course_idx"].map(cohort.courses.set_index("course_idx")["end_day"])
    expected = {
        "ALT": PARAMETERS["new_abnormal_alt"],
        "AST": PARAMETERS["new_abnormal_alt"] * PARAMETERS["ast_rises_with_alt"],
        "TG": PARAMETERS["new_abnormal_tg"],
        "TC": PARAMETERS["new_abnormal_tc"],
    }
    rises = {}
    for test, limit in UPPER_LIMIT.items():
        rows = labs[labs["test"] == test]
        baseline = rows[rows["day"] <= 0].groupby("course_idx")["conventional"].last()
        on_treatment = (
            rows[(rows["day"] > 0) & (rows["day"] <= rows["end_day"])].groupby("course_idx")["conventional"].max()
        )
        both = pd.concat([baseline.rename("baseline"), on_treatment.rename("peak")], axis=1, join="inner")
        normal = both[both["baseline"] <= limit]
        rises[test] = normal["peak"] > limit
        assert rises[test].mean() == pytest.approx(expected[test], abs=0.02), test
    either = pd.concat([rises["ALT"], rises["AST"]], axis=1, join="inner").any(axis=1)
    assert either.mean() == pytest.approx(PARAMETERS["new_abnormal_alt"], abs=0.02)  # Zane: transaminases 11%
    triglycerides = labs[labs["test"] == "TG"].groupby("course_idx")["conventional"].max()
    assert 0 < (triglycerides > 500).mean() < 0.01  # CTCAE grade >= 3 is rare


def test_pregnancy_tests_and_discontinuations(tables):
    courses, labs, events = tables["courses"], tables["labs"], tables["adverse_events"]
    assert set(courses.loc[courses["can_become_pregnant"] == "yes", "sex"]) == {"F"}
    hcg = labs[labs["test"] == "HCG"].merge(courses, on=["patient_id", "course_number"])
    positive = hcg[hcg["value"] > 5]
    assert (positive["end_reason"] == "pregnancy").all() and (positive["day"] == positive["end_day"]).all()
    assert positive["patient_id"].nunique() == (courses["end_reason"] == "pregnancy").sum() > 0
    stopped = events.loc[events["action"] == "discontinued", ["patient_id", "course_number"]].drop_duplicates()
    ended = courses.loc[courses["end_reason"] == "adverse_event", ["patient_id", "course_number"]]
    assert len(stopped.merge(ended)) == len(ended) == len(stopped)


def test_parameters_carry_the_published_figures():
    assert PARAMETERS["end_of_course_iga01"] == 0.87
    assert PARAMETERS["end_of_course_lesion_change"] == -0.929
    assert PARAMETERS["flare_share"] == 0.32
    assert PARAMETERS["relapse_hr_per_mg_per_kg"] == 0.996
    assert PARAMETERS["relapse_hr_female"] == 1.43
    assert (PARAMETERS["new_abnormal_tg"], PARAMETERS["new_abnormal_tc"], PARAMETERS["new_abnormal_alt"]) == (
        0.44,
        0.31,
        0.11,
    )
    assert PARAMETERS["cheilitis_by_dose"] == ((0.25, 0.47), (0.75, 0.96))
    assert DEFAULT_COURSES == 2000
