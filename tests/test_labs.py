"""The lab analysis on a hand-made cohort whose numbers are worked out by hand, CTCAE edges, the
grouped statistics against pandas and statsmodels, and the demo cohort against its parameters."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import demo
from analysis.areas.base import SummaryOptions
from analysis.areas.labs import compute as labs
from analysis.areas.labs.compute import LabSettings, ctcae_grade
from analysis.cohort.loading import load_tables
from analysis.cohort.model import build_cohort, empty_table
from analysis.ingest.lab_units import CHOLESTEROL_MG_PER_MMOL, TG_MG_PER_MMOL
from analysis.stats.intervals import proportion


def canonical(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    empty = empty_table(name)
    for column in empty.columns.difference(frame.columns):
        frame[column] = pd.Series(pd.NA, index=frame.index, dtype=empty[column].dtype)
    return frame


def lab_rows(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["patient_id", "day", "test", "value", "unit", "upper_limit", "visit"])
    frame["course_number"] = pd.array([1] * len(frame), dtype="Int64")
    frame["day"] = pd.array(frame["day"], dtype="Int64")
    frame["value"] = pd.array(frame["value"], dtype="Float64")
    frame["upper_limit"] = pd.array(frame["upper_limit"], dtype="Float64")
    return frame


def hand_made_cohort():
    """Four courses:
    A (can become pregnant, last dose day 149): normal baseline, ALT and triglycerides rise (ALT grade 2,
      TG grade 2), back to normal ALT after the course; monthly pregnancy tests but month 3 missed.
    B (last dose day 119): ALT above the limit at baseline (50), graded relative to it; cholesterol rises.
    C (can become pregnant, last dose day 89): ALT stays normal, no lipids; one positive pregnancy test.
    D (last dose unknown): one ALT result, no baseline.
    """
    courses = pd.DataFrame(
        {
            "patient_id": ["A", "B", "C", "D"],
            "course_number": pd.array([1, 1, 1, 1], dtype="Int64"),
            "sex": ["F", "M", "F", "M"],
            "age": pd.array([17.0, 22.0, 30.0, 19.0], dtype="Float64"),
            "end_day": pd.array([149, 119, 89, None], dtype="Int64"),
            "can_become_pregnant": ["yes", "no", "yes", "no"],
            "arm": ["x", "y", "x", "y"],
        }
    )
    na = None
    labs_table = lab_rows(
        [
            ("A", -10, "ALT", 30, "U/L", 40, "Baseline"),
            ("A", 30, "ALT", 50, "U/L", 40, "Month 1"),
            ("A", 120, "ALT", 130, "U/L", 40, "Month 4"),
            ("A", 200, "ALT", 35, "U/L", 40, "Follow-up"),
            ("A", -10, "AST", 25, "U/L", 40, "Baseline"),
            ("A", 30, "AST", 30, "U/L", 40, "Month 1"),
            ("A", -10, "TG", 140, "mg/dL", 150, "Baseline"),
            ("A", 30, "TG", 1.8, "mmol/L", na, "Month 1"),
            ("A", 120, "TG", 3.5, "mmol/L", na, "Month 4"),
            ("A", -10, "TC", 190, "mg/dL", na, "Baseline"),
            ("A", 30, "TC", 5.0, "mmol/L", na, "Month 1"),
            ("A", -5, "HCG", 1, "mIU/mL", na, na),
            ("A", 35, "HCG", 2, "mIU/mL", na, na),
            ("A", 65, "HCG", 1, "mIU/mL", na, na),
            ("A", 125, "HCG", 1, "mIU/mL", na, na),
            ("B", -3, "ALT", 50, "U/L", 40, "Baseline"),
            ("B", 40, "ALT", 70, "U/L", 40, "Month 1"),
            ("B", 80, "ALT", 80, "U/L", 40, "Month 4"),
            ("B", -3, "TG", 100, "mg/dL", na, "Baseline"),
            ("B", 40, "TG", 120, "mg/dL", na, "Month 1"),
            ("B", -3, "TC", 180, "mg/dL", na, "Baseline"),
            ("B", 40, "TC", 210, "mg/dL", na, "Month 1"),
            ("C", 0, "ALT", 20, "U/L", na, "Baseline"),
            ("C", 20, "ALT", 25, "U/L", na, "Month 1"),
            ("C", -40, "HCG", 1, "mIU/mL", na, na),
            ("C", 20, "HCG", 1, "mIU/mL", na, na),
            ("C", 50, "HCG", 3000, "mIU/mL", na, na),
            ("D", 30, "ALT", 45, "U/L", na, "Month 1"),
        ]
    )
    return build_cohort(
        {"courses": canonical("courses", courses), "labs": canonical("labs", labs_table)}, source="hand-made"
    )


@pytest.fixture(scope="module")
def cohort():
    return hand_made_cohort()


@pytest.fixture(scope="module")
def data(cohort):
    return labs.lab_data(cohort)


# ---------------------------------------------------------------------------------------------
# Settings


def test_settings_read_labs_keys_and_reject_unknown_choices():
    settings = LabSettings.from_settings(
        {
            "labs.statistic": "mean_sd",
            "labs.group": "visit",
            "labs.baseline_days": "60",
            "labs.month1_window": "20-40",
            "clearance.definition": "iga01",
        }
    )
    assert (settings.statistic, settings.group, settings.baseline_days, settings.month1_window) == (
        "mean_sd",
        "visit",
        60,
        (20, 40),
    )
    assert LabSettings.from_settings(None) == LabSettings()
    with pytest.raises(ValueError, match="statistic"):
        LabSettings(statistic="mode")
    with pytest.raises(ValueError, match="whole number"):
        LabSettings.from_settings({"labs.baseline_days": "ninety"})


# ---------------------------------------------------------------------------------------------
# CTCAE v5: every edge

ALT_NORMAL_BASELINE = [(40, 0), (40.01, 1), (120, 1), (120.01, 2), (200, 2), (200.01, 3), (800, 3), (800.01, 4)]
ALT_ABNORMAL_BASELINE = [(89.99, 0), (90, 1), (180, 1), (180.01, 2), (300, 2), (300.01, 3), (1200, 3), (1200.01, 4)]
CK = [(200, 0), (200.01, 1), (500, 1), (500.01, 2), (1000, 2), (1000.01, 3), (2000, 3), (2000.01, 4)]
TG = [(149.99, 0), (150, 1), (300, 1), (300.01, 2), (500, 2), (500.01, 3), (1000, 3), (1000.01, 4)]
TC = [(200, 0), (200.01, 1), (300, 1), (300.01, 2), (400, 2), (400.01, 3), (500, 3), (500.01, 4)]


@pytest.mark.parametrize("test", ["ALT", "AST"])
@pytest.mark.parametrize("value, grade", ALT_NORMAL_BASELINE)
def test_transaminase_grades_by_multiples_of_the_upper_limit(test, value, grade):
    assert ctcae_grade(test, [value], 40.0, baseline=[30.0], baseline_uln=[40.0])[0] == grade
    assert ctcae_grade(test, [value], 40.0)[0] == grade  # baseline unknown: as if normal


@pytest.mark.parametrize("value, grade", ALT_ABNORMAL_BASELINE)
def test_transaminase_grades_relative_to_an_abnormal_baseline(value, grade):
    # baseline 60 U/L above the limit of 40: 1.5-3x baseline G1, >3-5x G2, >5-20x G3, >20x G4
    assert ctcae_grade("ALT", [value], 40.0, baseline=[60.0], baseline_uln=[40.0])[0] == grade


def test_a_baseline_at_the_limit_counts_as_normal():
    assert ctcae_grade("ALT", [41.0], 40.0, baseline=[40.0], baseline_uln=[40.0])[0] == 1


@pytest.mark.parametrize("value, grade", CK)
def test_creatine_kinase_grades(value, grade):
    assert ctcae_grade("CK", [value], 200.0)[0] == grade


@pytest.mark.parametrize("value, grade", TG)
def test_triglyceride_grades_in_mg_per_dl(value, grade):
    assert ctcae_grade("TG", [value], 150.0)[0] == grade


@pytest.mark.parametrize("value, grade", TC)
def test_cholesterol_grades_from_the_upper_limit(value, grade):
    assert ctcae_grade("TC", [value], 200.0)[0] == grade
    assert ctcae_grade("TC", [value], np.nan)[0] == grade  # default limit 200 mg/dL


def test_cholesterol_grade_1_starts_at_the_labs_own_limit():
    assert ctcae_grade("TC", [230.0, 250.0], 240.0).tolist() == [0.0, 1.0]


def test_ungradable_values_are_nan():
    assert np.isnan(ctcae_grade("ALT", [np.nan], 40.0)[0])
    assert np.isnan(ctcae_grade("ALT", [50.0], np.nan)[0])
    assert np.isnan(ctcae_grade("HDL", [30.0], 40.0)[0])


# ---------------------------------------------------------------------------------------------
# The hand-made cohort


def test_harmonised_values_and_periods(data):
    rows = data.labs
    a_tg = rows[(rows["course_idx"] == 0) & (rows["test"] == "TG")].sort_values("day")
    assert a_tg["value"].tolist() == pytest.approx([140.0, 1.8 * TG_MG_PER_MMOL, 3.5 * TG_MG_PER_MMOL])
    assert a_tg["period"].astype(str).tolist() == ["baseline", "on_treatment", "on_treatment"]
    a_alt = rows[(rows["course_idx"] == 0) & (rows["test"] == "ALT")].sort_values("day")
    assert a_alt["period"].astype(str).tolist() == ["baseline", "on_treatment", "on_treatment", "after"]
    d_alt = rows[rows["course_idx"] == 3]
    assert d_alt["period"].astype(str).tolist() == [
        "on_treatment"
    ]  # last dose unknown: every later day is on treatment


def test_new_abnormal_counts_courses_with_a_normal_baseline(data):
    # ALT/AST: A (normal, rises) and C (normal, stays) count; B's baseline is above the limit, D has none.
    assert labs.new_abnormal(data, ("ALT", "AST")) == proportion(1, 2)
    # TC: A stays at 5.0 mmol/L = 193 mg/dL; B rises from 180 to 210 mg/dL.
    assert labs.new_abnormal(data, ("TC",)) == proportion(1, 2)
    # TG: A 140 -> 1.8 mmol/L = 159 mg/dL above 150; B 100 -> 120.
    assert labs.new_abnormal(data, ("TG",)) == proportion(1, 2)


def test_new_abnormal_table_carries_the_zane_figures_and_groups(data, cohort):
    table = labs.new_abnormal_table(data)
    liver = table.set_index("measure").loc["Liver enzymes (ALT or AST)"]
    assert (liver["courses"], liver["new_abnormal_n"], liver["literature"]) == (2, 1, 0.11)
    grouped = labs.new_abnormal_table(data, "arm", cohort).set_index(["measure", "group"])
    assert grouped.loc[("Triglycerides", "x"), ["courses", "new_abnormal_n"]].tolist() == [1, 1]
    assert grouped.loc[("Triglycerides", "y"), ["courses", "new_abnormal_n"]].tolist() == [1, 0]


def test_alt_shift_table_baseline_grade_to_worst_grade(data):
    table = labs.shift_table(data, "ALT").set_index("baseline grade")
    # A: baseline 30 (grade 0) -> worst 130 = 3.25 x ULN (grade 2); C: 20 -> 25 (0 -> 0)
    assert table.loc["0 (not raised)", ["0 (not raised)", "1", "2", "courses"]].tolist() == [1, 0, 1, 2]
    # B: baseline 50 is grade 1; 70 < 1.5 x 50 is grade 0 and 80 >= 75 grade 1, relative to the baseline
    assert table.loc["1", ["0 (not raised)", "1", "courses"]].tolist() == [0, 1, 1]
    # D: no baseline, 45 U/L is grade 1
    assert table.loc["no graded baseline", ["1", "courses"]].tolist() == [1, 1]
    assert table["courses"].sum() == 4


def test_grade_summary_and_grade_3(data):
    grades = labs.grade_summary(data).set_index("test")
    assert grades.loc["ALT", ["courses", "grade_1_plus_n", "grade_2_plus_n", "grade_3_plus_n"]].tolist() == [4, 3, 1, 0]
    assert grades.loc["TG", ["courses", "grade_1_plus_n", "grade_2_plus_n"]].tolist() == [
        2,
        1,
        1,
    ]  # 3.5 mmol/L = 310 mg/dL
    assert grades.loc["TC", ["courses", "grade_1_plus_n"]].tolist() == [2, 1]
    assert labs.grade_at_least(data, "TG", 2) == proportion(1, 2)


def test_trend_by_month_against_hand_computed_values(data):
    trend = labs.trend_table(data).set_index(["test", "month"])
    month1 = trend.loc[("ALT", 1)]  # A day 30: 50, B day 40: 70, C day 20: 25, D day 30: 45
    assert month1["n"] == 4
    assert month1["mean"] == pytest.approx(47.5)
    assert month1["sd"] == pytest.approx(np.sqrt(1025 / 3))
    assert (month1["q1"], month1["median"], month1["q3"]) == pytest.approx((40.0, 47.5, 55.0))
    assert (month1["above_uln_n"], month1["limit_known_n"]) == (3, 4)
    # change from baseline: A +20, B +20, C +5; D has no baseline
    assert (month1["change_n"], month1["change_mean"]) == (3, pytest.approx(15.0))
    assert trend.loc[("TC", 1), "unit"] == "mg/dL"
    assert trend.loc[("TC", 1), "mean"] == pytest.approx((5.0 * CHOLESTEROL_MG_PER_MMOL + 210) / 2)


def test_trend_by_visit_and_group(data, cohort):
    trend = labs.trend_table(data, LabSettings(group="visit", statistic="mean_sd"), group_by="arm", cohort=cohort)
    alt = trend[trend["test"] == "ALT"].set_index(["group", "visit"])
    assert alt.loc[("x", "Month 1"), ["n", "mean"]].tolist() == [2, 37.5]  # A 50, C 25
    assert alt.loc[("y", "Month 1"), ["n", "mean"]].tolist() == [2, 57.5]  # B 70, D 45
    order = trend[trend["test"] == "ALT"].drop_duplicates("visit").sort_values("visit_order")["visit"].tolist()
    assert order == ["Baseline", "Month 1", "Month 4", "Follow-up"]


def test_trend_split_by_phase(data):
    trend = labs.trend_table(data, by_phase=True)
    after = trend[(trend["test"] == "ALT") & (trend["phase"] == labs.PHASES["after"])]
    assert after[["month", "n", "mean"]].values.tolist() == [[7, 1, 35.0]]  # A day 200


def test_summary_statistics_match_pandas_on_random_data():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"g": rng.integers(0, 7, 5000), "value": rng.lognormal(3, 0.6, 5000)})
    frame.loc[rng.random(5000) < 0.05, "value"] = np.nan
    frame = frame.assign(day=10.0, baseline=np.nan, above_uln=(frame["value"] > 25).astype(float), upper_limit=25.0)
    ours = labs.summary_statistics(frame, ["g"]).set_index("g")
    grouped = frame.groupby("g")["value"]
    assert np.allclose(ours["mean"], grouped.mean())
    assert np.allclose(ours["sd"], grouped.std(ddof=1))
    assert np.allclose(ours["median"], grouped.median())
    assert np.allclose(ours["q1"], grouped.quantile(0.25))
    assert np.allclose(ours["q3"], grouped.quantile(0.75))
    assert (ours["n"] == grouped.count()).all()


@pytest.mark.parametrize(
    "groups", [40, 3000]
)  # selection group by group, and one whole sort beyond SORT_WHOLE_ABOVE_GROUPS
def test_grouped_quantiles_equal_pandas_exactly(groups):
    rng = np.random.default_rng(5)
    ids = rng.integers(0, groups, 60_000)
    values = np.round(rng.lognormal(3, 1, ids.size), 1)
    values[rng.random(ids.size) < 0.03] = np.nan
    values[:3] = [np.inf, -np.inf, np.nan]  # not finite: left out
    finite = np.isfinite(values)
    grouped = pd.Series(values[finite]).groupby(ids[finite])
    q1, median, q3 = labs.grouped_quantiles(values, ids, groups)
    for ours, q in ((q1, 0.25), (median, 0.5), (q3, 0.75)):
        np.testing.assert_array_equal(ours, grouped.quantile(q).reindex(range(groups)).to_numpy())
    (alone,) = labs.grouped_quantiles(values, ids, groups, (0.5,))
    np.testing.assert_array_equal(alone, grouped.median().reindex(range(groups)).to_numpy())


def test_a_subset_reads_the_whole_cohorts_rows_without_copying_them():
    courses = "patient_id,course_number,sex,age,end_day\nP1,1,F,20,100\nP2,1,M,20,100\nP3,1,F,20,100\n"
    rows = "".join(
        f"{p},1,{day},{test},{value},U/L,40\n"
        for p in ("P1", "P2", "P3")
        for day, value in ((-5, 20), (30, 60))
        for test in ("ALT", "AST")
    )
    loaded = load_tables(
        {
            "courses.csv": courses.encode(),
            "labs.csv": ("patient_id,course_number,day,test,value,unit,upper_limit\n" + rows).encode(),
        },
        source="test",
    ).cohort
    whole = labs.lab_data(loaded)
    labs.monitoring_flags(whole)
    subset = loaded.subset(loaded.courses.loc[loaded.courses["sex"] == "F", "course_idx"])
    cut = labs.lab_data(subset)
    assert cut.store is whole.store  # the whole cohort's rows, seen through the subset's courses
    assert "monitoring_flags" in {key[0] for key, _ in labs.memo_items(cut)}  # cut by course, not computed again
    assert set(cut.labs["course_idx"]) == set(cut.courses["course_idx"]) == {0, 2}
    assert cut.n_rows == len(cut.labs) == 8 and cut.has("ALT") and labs.new_abnormal(cut).estimate == 1.0


def test_vectorised_proportions_match_the_shared_rule():
    k, n = [0, 3, 12, 29, 40, 400], [10, 25, 40, 29, 400, 401]
    table = labs.proportion_intervals(k, n)
    for row, (successes, total) in zip(table.itertuples(), zip(k, n)):
        expected = proportion(successes, total)
        assert (row.share, row.ci_low, row.ci_high) == pytest.approx(
            (expected.estimate, expected.ci_low, expected.ci_high)
        )
    assert labs.proportion_intervals([0], [0])["share"].isna().all()


def test_range_categories_any_value_and_most_extreme_value():
    rows = pd.DataFrame(
        {
            "course_idx": [1, 1, 1, 2, 2],
            "test": "ALT",
            "day": [1.0, 2.0, 3.0, 1.0, 2.0],
            "value": [13.0, 33.0, 12.0, 20.0, 5.0],
            "lower_limit": 6.0,
            "upper_limit": 32.0,
        }
    )
    rows["above_uln"] = (rows["value"] > rows["upper_limit"]).astype(float)
    any_rule = labs.range_category_counts(rows, ["test"], "any").iloc[0]
    assert (any_rule["low"], any_rule["normal"], any_rule["high"]) == (1, 0, 1)
    # Course 1: 33 lies 15 below 1.5 x 32 = 48, while 12 lies only 9 above 0.5 x 6 = 3: 12 is the
    # more extreme value and is normal. Course 2: 5 is below the lower limit.
    extreme = labs.range_category_counts(rows, ["test"], "most_extreme").iloc[0]
    assert (extreme["low"], extreme["normal"], extreme["high"]) == (1, 1, 0)


def test_recovery_after_the_course(data):
    table = labs.recovery_after_course(data, ("ALT",)).iloc[0]
    # Last ALT on treatment raised in A (130), B (80) and D (45); only A was tested after the course:
    # 35 U/L on day 200, 51 days after the last dose.
    assert (table["raised_at_end"], table["followed_after"], table["back_within_limit"], table["median_days"]) == (
        3,
        1,
        1,
        51.0,
    )


def test_edish_points_need_both_tests(data):
    assert labs.edish_points(data).empty
    np.testing.assert_array_equal(
        labs.edish_quadrant(np.array([3.0, 3.0, 2.9, 1.0]), np.array([2.1, 2.0, 2.5, 1.0])),
        ["hys_law", "temple", "hyperbilirubinaemia", "normal"],
    )


def test_spaghetti_sample_is_bounded_and_repeatable(data):
    sample, total = labs.spaghetti_sample(data, "ALT", max_courses=2, seed=1)
    again, _ = labs.spaghetti_sample(data, "ALT", max_courses=2, seed=1)
    assert total == 4 and sample["course_idx"].nunique() == 2
    assert sample.equals(again)
    assert sample["label"].str.endswith("course 1").all()


def test_monitoring_flags_per_course(data):
    flags = labs.monitoring_flags(data).set_index("course_idx")
    assert flags["baseline_and_on_treatment"].tolist() == [True, True, False, False]
    assert flags["liver_month1"].tolist() == [True, True, True, False]  # days 30, 40, 20; D's last dose unknown
    assert flags["liver_every_3_months"].tolist() == [True, True, True, False]  # A: days 30, 120, last dose 149
    assert flags["lipid_eu_schedule"].tolist() == [True, True, False, False]
    assert labs.monitoring_compliance(data) == proportion(2, 4)


def test_a_gap_over_three_months_breaks_the_schedule(cohort):
    # The same cohort with the maximum gap set below A's 90 days between day 30 and day 120.
    strict = labs.lab_data(cohort, LabSettings(max_gap_days=80))
    flags = labs.monitoring_flags(strict).set_index("course_idx")
    assert flags.loc[0, "liver_every_3_months"] == False  # noqa: E712
    assert flags.loc[1, "liver_every_3_months"] == True  # noqa: E712  B: 40, 80, last dose 119


def test_pregnancy_test_months_and_positive_tests(data):
    months = labs.pregnancy_months(data).set_index("course_idx")
    # A: 150 days = 5 months (0-4), tested in months 0 (day -5), 1, 2 and 4. C: 90 days = 3 months,
    # tested in months 1 (day 20) and 2 (day 50); day -40 is before the 30-day look-back.
    assert months.loc[0, ["months", "months_tested"]].tolist() == [5, 4]
    assert months.loc[2, ["months", "months_tested"]].tolist() == [3, 2]
    assert months["tested_before_start"].tolist() == [True, False]
    assert labs.pregnancy_test_compliance(data) == proportion(6, 8)
    assert labs.positive_pregnancy_tests(data) == proportion(1, 2)


def test_unknown_units_are_left_out_and_counted(cohort):
    bad = cohort.labs.copy()
    bad.loc[bad.index[:2], "unit"] = "furlongs"
    broken = labs.lab_data(type(cohort)(**{**cohort.__dict__, "labs": bad}))
    assert broken.excluded["rows"].sum() == 2
    assert set(broken.findings["row"]) == {2, 3}
    assert len(broken.labs) == len(cohort.labs) - 2


def test_summary_section_is_json_ready(cohort):
    section = labs.summary_section(cohort, SummaryOptions(group_by="arm", settings={"labs.statistic": "mean_sd"}))
    json.dumps(section)
    row = section["rows"][0]
    assert set(row) >= {
        "test",
        "unit",
        "group",
        "month",
        "n",
        "mean",
        "sd",
        "median",
        "q1",
        "q3",
        "above_uln",
        "ci_low",
        "ci_high",
    }
    assert section["compliance"]["monitoring"]["estimate"] == 0.5
    assert {r["measure"] for r in section["new_abnormal"]} >= {
        "Liver enzymes (ALT or AST)",
        "Total cholesterol",
        "Triglycerides",
    }
    ungrouped = labs.summary_section(cohort, SummaryOptions(group_by="no_such_column"))
    assert ungrouped["group_by"] is None and "group" not in ungrouped["rows"][0]


def test_a_cohort_without_labs_gives_empty_results():
    cohort = build_cohort({"courses": hand_made_cohort().courses.drop(columns=["course_idx"])}, source="no labs")
    result = labs.analyse(cohort)
    assert result.trend.empty and result.edish.empty
    assert result.monitoring == proportion(0, 4)
    json.dumps(labs.summary_section(cohort, SummaryOptions()))


# ---------------------------------------------------------------------------------------------
# The demo cohort: generated with known new-abnormality rates, one site in SI units


@pytest.fixture(scope="module")
def demo_data():
    cohort = build_cohort(demo.generate_cohort(2000, seed=11), source="demo", synthetic=True)
    return cohort, labs.lab_data(cohort)


@pytest.mark.parametrize(
    "tests, parameter",
    [
        (("ALT",), "new_abnormal_alt"),
        (("ALT", "AST"), "new_abnormal_alt"),
        (("TC",), "new_abnormal_tc"),
        (("TG",), "new_abnormal_tg"),
    ],
)
def test_demo_new_abnormal_rates_match_the_generator(demo_data, tests, parameter):
    """Zane 2006's 11% for transaminases is generated as ALT, with AST rising only along with ALT."""
    _, data = demo_data
    estimate = labs.new_abnormal(data, tests)
    assert estimate.n > 1000
    assert abs(estimate.estimate - demo.PARAMETERS[parameter]) < 0.035, (tests, estimate)


def test_demo_si_unit_site_is_converted(demo_data):
    cohort, data = demo_data
    assert data.excluded.empty
    site = cohort.courses.set_index("course_idx")["site"]
    baseline = data.labs[(data.labs["period"] == "baseline") & (data.labs["test"] == "TC")]
    by_site = baseline.groupby(baseline["course_idx"].map(site), observed=True)["value"].median()
    si_site = demo.PARAMETERS["si_unit_site"]
    others = by_site.drop(si_site)
    assert (abs(by_site[si_site] / others - 1) < 0.06).all()  # same mg/dL scale after conversion
    assert set(data.conversions.loc[data.conversions["test"] == "TC", "unit_as_given"]) == {"mg/dL", "mmol/L"}


def test_labs_harmonised_by_the_loader_give_the_same_results(cohort, data):
    """The loader may call `harmonise` once at load time; the analysis then reuses its columns."""
    from dataclasses import replace

    from analysis.ingest.lab_units import harmonise

    harmonised, _ = harmonise(cohort.labs)
    again = labs.lab_data(replace(cohort, labs=harmonised))
    for tests in (("ALT", "AST"), ("TC",), ("TG",)):
        assert labs.new_abnormal(again, tests) == labs.new_abnormal(data, tests)
    assert labs.trend_table(again).equals(labs.trend_table(data))
    assert (
        again.conversions[["test", "unit_as_given", "rows"]].sort_values(["test", "unit_as_given"]).values.tolist()
        == data.conversions[["test", "unit_as_given", "rows"]].sort_values(["test", "unit_as_given"]).values.tolist()
    )
