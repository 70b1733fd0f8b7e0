"""Clearance analysis against hand-computed small cohorts and reference libraries.

The hand cohort (six courses) is built so that every definition and missed-visit rule gives a
different, hand-countable answer. Months are round(day / 30.4375).

    course  end  baseline (day, IGA, total)   assessments (day: IGA, total lesions)
    A       150  day 0: IGA 4, 50             30: 3, 55 (+10%) · 61: 2, 25 · 122: 1, 10 (-80%, a tie) · 150: 0, 2
    B       120  day -7: IGA 3, 40            31: 3, 40 · 60: 2, 30 and 70: 1, 20 (same month) · 92: no IGA, 4 · 120: 2, 12
    C        90  none (IGA 3 given on course) 30: 1, 10 · 90: 0, 5
    D       100  no visits at all
    E      none  day 0: IGA 2, 30             45: 1, 30
    F       180  day 0: IGA 3, 20             91: 1, 2 (last visit, long before the end)
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analysis.areas.base import SummaryOptions
from analysis.areas.charts import plain_title
from analysis.areas.clearance import compute as clearance
from analysis.areas.clearance import figures as clearance_figures
from analysis.areas.clearance.compute import ClearanceSettings
from analysis.areas.clearance.declaration import AREA
from analysis.cohort import grouping
from analysis.cohort.model import build_cohort, empty_table

COURSES = [
    # patient, sex, age, end_day, baseline_iga (given), prior_treatments, end_reason
    ("A", "F", 16.0, 150, None, "oral_antibiotic;topical_retinoid", "completed"),
    ("B", "M", 24.0, 120, None, "topical_retinoid", "completed"),
    ("C", "F", 30.0, 90, 3, "doxycycline", "completed"),
    ("D", "M", 17.0, 100, None, None, "lost_to_follow_up"),
    ("E", "F", 19.0, None, None, "", None),
    ("F", "M", 15.0, 180, None, "minocycline", "completed"),
]
VISITS = [
    # patient, day, iga, inflammatory, total
    ("A", 0, 4, 30, 50),
    ("A", 30, 3, 33, 55),
    ("A", 61, 2, 15, 25),
    ("A", 122, 1, 5, 10),
    ("A", 150, 0, 1, 2),
    ("B", -7, 3, 20, 40),
    ("B", 31, 3, 20, 40),
    ("B", 60, 2, 15, 30),
    ("B", 70, 1, 10, 20),
    ("B", 92, None, 2, 4),
    ("B", 120, 2, 6, 12),
    ("C", 30, 1, 5, 10),
    ("C", 90, 0, 2, 5),
    ("E", 0, 2, 10, 30),
    ("E", 45, 1, 10, 30),
    ("F", 0, 3, 10, 20),
    ("F", 91, 1, 10, 2),
]


def _typed(name: str, rows: dict) -> pd.DataFrame:
    table = empty_table(name)
    n = len(next(iter(rows.values())))
    table = table.reindex(range(n))
    for column, values in rows.items():
        table[column] = pd.Series(values, dtype=table[column].dtype if column in table else "object")
    return table


def hand_cohort():
    courses = _typed(
        "courses",
        {
            "patient_id": [c[0] for c in COURSES],
            "course_number": [1] * 6,
            "sex": [c[1] for c in COURSES],
            "age": [c[2] for c in COURSES],
            "end_day": [c[3] for c in COURSES],
            "baseline_iga": [c[4] for c in COURSES],
            "prior_treatments": [c[5] for c in COURSES],
            "end_reason": [c[6] for c in COURSES],
        },
    )
    visits = _typed(
        "visits",
        {
            "patient_id": [v[0] for v in VISITS],
            "course_number": [1] * len(VISITS),
            "day": [v[1] for v in VISITS],
            "iga": [v[2] for v in VISITS],
            "inflammatory_lesions": [v[3] for v in VISITS],
            "total_lesions": [v[4] for v in VISITS],
        },
    )
    return build_cohort({"courses": courses, "visits": visits}, source="hand")


@pytest.fixture(scope="module")
def cohort():
    return hand_cohort()


@pytest.fixture(scope="module")
def demo_cohort():
    demo = pytest.importorskip("analysis.demo")
    return build_cohort(demo.generate_cohort(2000, demo.DEFAULT_SEED), source="demo", synthetic=True)


# (month, n, cleared) per definition and missed-visit rule, counted by hand from the table above.
EXPECTED_BY_MONTH = {
    ("iga01", "observed"): [(1, 4, 2), (2, 2, 1), (3, 2, 2), (4, 2, 1), (5, 1, 1)],
    ("iga01", "locf"): [(1, 4, 2), (2, 3, 2), (3, 4, 3), (4, 3, 2), (5, 2, 2), (6, 1, 1)],
    ("iga01", "nri"): [(1, 6, 2), (2, 5, 1), (3, 5, 2), (4, 3, 1), (5, 2, 1), (6, 1, 0)],
    ("iga_success", "observed"): [(1, 4, 1), (2, 2, 1), (3, 2, 2), (4, 2, 1), (5, 1, 1)],
    ("iga_success", "locf"): [(1, 4, 1), (2, 3, 2), (3, 4, 3), (4, 3, 2), (5, 2, 2), (6, 1, 1)],
    ("iga_success", "nri"): [(1, 5, 1), (2, 4, 1), (3, 4, 2), (4, 3, 1), (5, 2, 1), (6, 1, 0)],
    ("lesion_reduction", "observed"): [(1, 3, 0), (2, 2, 0), (3, 2, 2), (4, 2, 1), (5, 1, 1)],
    ("lesion_reduction", "locf"): [(1, 3, 0), (2, 2, 0), (3, 3, 2), (4, 3, 2), (5, 2, 2), (6, 1, 1)],
    ("lesion_reduction", "nri"): [(1, 4, 0), (2, 3, 0), (3, 3, 2), (4, 3, 1), (5, 2, 1), (6, 1, 0)],
}

# (cleared, counted) at the end of course.
EXPECTED_END = {
    ("iga01", "observed"): (2, 3),
    ("iga01", "locf"): (3, 4),
    ("iga01", "nri"): (2, 5),
    ("iga_success", "observed"): (2, 3),
    ("iga_success", "locf"): (3, 4),
    ("iga_success", "nri"): (2, 4),
    ("lesion_reduction", "observed"): (1, 2),
    ("lesion_reduction", "locf"): (2, 3),
    ("lesion_reduction", "nri"): (1, 3),
}


@pytest.mark.parametrize("definition, missing", sorted(EXPECTED_BY_MONTH))
def test_clearance_by_month_matches_hand_count(cohort, definition, missing):
    table = clearance.clearance_by_month(cohort, ClearanceSettings(definition=definition, missing=missing))
    assert (
        list(table[["month", "n", "cleared"]].itertuples(index=False, name=None))
        == EXPECTED_BY_MONTH[(definition, missing)]
    )


@pytest.mark.parametrize("definition, missing", sorted(EXPECTED_END))
def test_end_of_course_matches_hand_count(cohort, definition, missing):
    estimate = clearance.end_of_course_clearance(cohort, ClearanceSettings(definition=definition, missing=missing))
    assert (estimate.numerator, estimate.n) == EXPECTED_END[(definition, missing)]


def test_end_of_course_names_why_courses_were_left_out(cohort):
    table = clearance.end_of_course_table(cohort, ClearanceSettings(definition="lesion_reduction"))
    reasons = dict(zip("ABCDEF", table["reason"]))
    assert reasons == {
        "A": "",
        "B": "",
        "C": "no baseline",
        "D": "no baseline",
        "E": "end of course unknown",
        "F": "not assessed near the end of course",
    }


def test_the_last_assessment_of_a_month_counts(cohort):
    rows = clearance.assessments(cohort, ClearanceSettings())
    b = rows[rows["course_idx"] == 1]
    assert b["day"].tolist() == [31, 70, 120]  # day 60 and 70 share month 2; day 92 has no IGA
    assert b["clear"].tolist() == [False, True, False]


def test_iga_missing_while_lesions_present_counts_for_lesions_only(cohort):
    iga_rows = clearance.assessments(cohort, ClearanceSettings(definition="iga01"))
    lesion_rows = clearance.assessments(cohort, ClearanceSettings(definition="lesion_reduction"))
    assert 92 not in iga_rows.loc[iga_rows["course_idx"] == 1, "day"].tolist()
    assert lesion_rows.loc[(lesion_rows["course_idx"] == 1) & (lesion_rows["day"] == 92), "clear"].tolist() == [True]
    quality = clearance.data_quality(cohort).set_index("what")["count"]
    assert quality["Visits with lesion counts but no IGA"] == 1


def test_exact_80_percent_reduction_counts_as_clear(cohort):
    rows = clearance.assessments(cohort, ClearanceSettings(definition="lesion_reduction"))
    a = rows[rows["course_idx"] == 0].set_index("day")["clear"]
    assert bool(a[122]) is True  # 50 -> 10 lesions is exactly -80%
    stricter = clearance.assessments(cohort, ClearanceSettings(definition="lesion_reduction", reduction_percent=81))
    assert bool(stricter[stricter["course_idx"] == 0].set_index("day")["clear"][122]) is False


def test_courses_without_baseline_or_visits_are_counted(cohort):
    quality = clearance.data_quality(cohort, ClearanceSettings(definition="lesion_reduction")).set_index("what")[
        "count"
    ]
    assert quality["Courses"] == 6
    assert quality["Courses without any visit"] == 1  # D
    assert quality["Courses without a baseline for this definition"] == 2  # C (no baseline visit), D
    assert quality["Courses without an end day"] == 1  # E
    assert (
        clearance.data_quality(cohort).set_index("what")["count"]["Courses without a baseline for this definition"] == 0
    )


def test_judgeable_courses_per_definition(cohort):
    assert clearance.judgeable(cohort, ClearanceSettings(definition="iga01")).tolist() == [True] * 6
    assert clearance.judgeable(cohort, ClearanceSettings(definition="iga_success")).tolist() == [
        True,
        True,
        True,
        False,
        True,
        True,
    ]
    assert clearance.judgeable(cohort, ClearanceSettings(definition="lesion_reduction")).tolist() == [
        True,
        True,
        False,
        False,
        True,
        True,
    ]


def test_last_month_is_the_later_of_last_dose_and_last_visit(cohort):
    assert clearance.last_month(cohort).tolist() == [5, 4, 3, 3, 1, 6]


def test_intervals_match_statsmodels():
    counts = pd.DataFrame({"month": [1, 2, 3], "n": [10, 200, 50], "cleared": [3, 150, 50]})
    table = clearance._with_intervals(counts)
    exact = proportion_confint(3, 10, method="beta")
    wilson = proportion_confint(150, 200, method="wilson")
    all_clear = proportion_confint(50, 50, method="beta")
    assert table.loc[0, ["ci_low", "ci_high"]].tolist() == pytest.approx(list(exact))
    assert table.loc[1, ["ci_low", "ci_high"]].tolist() == pytest.approx(list(wilson))
    assert table.loc[2, ["ci_low", "ci_high"]].tolist() == pytest.approx(list(all_clear))
    assert table["method"].tolist() == [
        "Clopper-Pearson exact interval",
        "Wilson interval",
        "Clopper-Pearson exact interval",
    ]


def test_flare_counts_a_rise_of_exactly_the_threshold(cohort):
    result = clearance.flare(cohort)
    assert (result.estimate.numerator, result.estimate.n) == (1, 2)  # A +10% on day 30; B 0% on day 31
    assert result.without_baseline == 2  # C, D
    assert result.without_early_visit == 2  # E (first visit day 45), F
    assert result.peak_change.to_dict() == pytest.approx({0: 10.0, 1: 0.0})
    assert clearance.flare_share(cohort, ClearanceSettings(flare_percent=11)).numerator == 0


def test_improvement_by_month_2_3_with_wilcoxon(cohort):
    result = clearance.improvement_by_month_2_3(cohort)
    # A: 30 -> 15 (month 2); B: 20 -> 2 (day 92, month 3, the latest); F: 10 -> 10 (a tie, not improved)
    assert (result.numerator, result.n) == (2, 3)
    reference = scipy_stats.wilcoxon([30, 20, 10], [15, 2, 10], zero_method="wilcox")
    assert result.p_value == pytest.approx(reference.pvalue)
    assert "Wilcoxon" in result.test
    assert result.as_dict()["p_value"] == pytest.approx(reference.pvalue)


def test_time_to_clearance_matches_lifelines(cohort):
    settings = ClearanceSettings(definition="lesion_reduction")
    durations, events = clearance.clearance_durations(cohort, settings)
    # A clears at month 4, B at month 3 (day 92), F at month 3; E is censored at month 1
    assert sorted(zip(durations.tolist(), events.tolist())) == [(1.0, False), (3.0, True), (3.0, True), (4.0, True)]
    fitter = KaplanMeierFitter().fit(durations, events)
    estimate = clearance.cleared_by_month(cohort, 3, settings)
    assert estimate.estimate == pytest.approx(1 - fitter.survival_function_at_times(3).iloc[0])
    assert estimate.estimate == pytest.approx(2 / 3)  # at risk 3 at month 3, 2 clear
    assert (estimate.n, estimate.numerator) == (4, 2)


def test_cleared_by_month_defaults_to_iga01(cohort):
    # Events at month 1 (C, E), 2 (B), 3 (F), 4 (A): 3 of 5 had been clear by month 2.
    assert clearance.cleared_by_month(cohort, 2).estimate == pytest.approx(0.6)
    assert "Kaplan-Meier" in clearance.cleared_by_month(cohort, 2).method


def test_claim_quantities_on_the_hand_cohort(cohort):
    assert (clearance.share_reduction_at_end(cohort).numerator, clearance.share_reduction_at_end(cohort).n) == (1, 2)
    assert clearance.share_reduction_at_end(cohort, percent=60).numerator == 2  # B: -70%
    c02 = clearance.first_course_iga01_at_end(cohort)
    assert (c02.numerator, c02.n) == (2, 3)
    assert clearance.first_course_iga01_at_end(cohort, completed_only=True).n == 3


def test_lesions_by_month_median_and_quartiles(cohort):
    lesions = clearance.lesions_by_month(cohort)
    total = lesions[lesions["measure"] == "total_lesions"].set_index("month")
    # Baseline totals: A 50, B 40, E 30, F 20 (C has none)
    assert total.loc[0, ["n", "median", "q1", "q3"]].tolist() == pytest.approx([4, 35, 27.5, 42.5])
    # Month 1: A 55, B 40, C 10, E 30 -> changes +10, 0, 0 (C has no baseline)
    assert total.loc[1, ["n", "median", "n_change", "change_median"]].tolist() == pytest.approx([4, 35, 3, 0])


def test_iga_by_month_shares(cohort):
    iga = clearance.iga_by_month(cohort)
    baseline = iga[iga["month"] == 0].set_index("iga")["courses"].to_dict()
    assert baseline == {2: 1, 3: 3, 4: 1}  # A 4, B 3, C 3 (given), E 2, F 3; D unknown
    month1 = iga[iga["month"] == 1]
    assert month1["n"].unique().tolist() == [4]
    assert month1["share"].sum() == pytest.approx(1.0)


def test_settings_from_cli_strings():
    settings = ClearanceSettings.from_settings(
        {
            "clearance.definition": "lesion_reduction",
            "clearance.reduction_percent": "75",
            "clearance.missing": "nri",
            "clearance.flare_percent": "20",
        }
    )
    assert (settings.definition, settings.reduction_percent, settings.missing, settings.flare_percent) == (
        "lesion_reduction",
        75.0,
        "nri",
        20.0,
    )
    assert ClearanceSettings.from_settings({}) == ClearanceSettings()
    assert (
        ClearanceSettings(missing="locf").describe()
        == "Clear = IGA 0/1; missed visits: last observation carried forward"
    )


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("clearance.definition", "iga02", "Unknown clearance definition"),
        ("clearance.missing", "bocf", "Unknown missing-visit rule"),
        ("clearance.reduction_percent", "eighty", "must be a number"),
        ("clearance.reduction_percent", "0", "above 0%"),
        ("clearance.flare_percent", "-5", "flare threshold"),
    ],
)
def test_bad_settings_raise_plain_messages(key, value, message):
    with pytest.raises(ValueError, match=message):
        ClearanceSettings.from_settings({key: value})


def test_groupings_derived_from_age_and_prior_treatments(cohort):
    adults = grouping.group_values(cohort, "age_group").tolist()
    assert adults == [
        "adolescent (<18)",
        "adult (18+)",
        "adult (18+)",
        "adolescent (<18)",
        "adult (18+)",
        "adolescent (<18)",
    ]
    prior = grouping.group_values(cohort, "prior_systemic_antibiotic").tolist()
    assert prior[:3] == ["yes", "no", "yes"] and pd.isna(prior[3]) and prior[4:] == ["no", "yes"]
    assert "sex" in grouping.grouping_options(cohort)


def test_two_group_difference_matches_statsmodels(cohort):
    comparison = clearance.compare_groups(cohort, "sex")
    # End of course, IGA 0/1, observed: F: A clear, C clear (E has no end) -> 2/2; M: B not clear (D, F not assessed) -> 0/1
    assert comparison.table[["group", "n", "cleared"]].values.tolist() == [["F", 2, 2], ["M", 1, 0]]
    low, high = confint_proportions_2indep(2, 2, 0, 1, method="newcomb", compare="diff")
    assert comparison.difference.estimate == pytest.approx(1.0)
    assert (comparison.difference.ci_low, comparison.difference.ci_high) == pytest.approx((low, high))
    assert comparison.test.startswith("Fisher's exact test")
    assert comparison.p_value == pytest.approx(scipy_stats.fisher_exact([[2, 0], [0, 1]]).pvalue)


def test_many_group_comparison_uses_chi_square_when_counts_allow(demo_cohort):
    settings = ClearanceSettings()
    comparison = clearance.compare_groups(demo_cohort, "site", settings)
    ends = clearance.end_of_course_table(demo_cohort, settings)
    counted = ends["counted"].to_numpy()
    table = pd.crosstab(demo_cohort.courses["site"].to_numpy()[counted], ends["clear"].to_numpy()[counted])
    reference = scipy_stats.chi2_contingency(table.to_numpy(), correction=False)
    assert comparison.test.startswith("chi-square")
    assert comparison.p_value == pytest.approx(reference.pvalue)
    assert comparison.difference is None
    assert comparison.table["n"].sum() == counted.sum()


def test_unknown_group_values_are_counted_not_dropped(cohort):
    cohort_with_gap = cohort.subset([0, 1, 2, 3, 5])
    courses = cohort_with_gap.courses.copy()
    courses.loc[courses["patient_id"] == "A", "prior_treatments"] = None
    comparison = clearance.compare_groups(
        dataclasses.replace(cohort_with_gap, courses=courses), "prior_systemic_antibiotic"
    )
    # Counted at the end (IGA 0/1, observed): A (now unknown), B (no), C (yes)
    assert comparison.table[["group", "n"]].values.tolist() == [["no", 1], ["yes", 1]]
    assert comparison.missing_group == 1


def test_small_counts_in_many_groups_use_fisher_freeman_halton():
    table = pd.DataFrame({"group": ["a", "b", "c"], "n": [6, 5, 7], "cleared": [1, 4, 6]})
    name, _, p_value = clearance._independence_test(table)
    assert name.startswith("Fisher-Freeman-Halton")
    exact = scipy_stats.fisher_exact(np.array([[1, 5], [4, 1], [6, 1]]))
    assert p_value == pytest.approx(exact.pvalue, abs=0.02)  # Monte Carlo p-value close to the exact one


def test_summary_section_is_json_and_follows_the_settings(cohort):
    options = SummaryOptions(
        group_by="sex", settings={"clearance.definition": "lesion_reduction", "clearance.missing": "locf"}
    )
    section = AREA.summary(cohort, options)
    json.dumps(section)
    assert (section["definition"], section["missing"]) == ("lesion_reduction", "locf")
    assert section["by_month"][0] == {
        "month": 1,
        "n": 3,
        "cleared": 0,
        "rate": 0.0,
        "ci_low": 0.0,
        "ci_high": pytest.approx(0.7076, abs=1e-4),
    }
    assert (section["end_of_course"]["numerator"], section["end_of_course"]["n"]) == (2, 3)
    assert section["end_of_course"]["not_counted"] == {"no baseline": 2, "end of course unknown": 1}
    assert section["flare"]["numerator"] == 1
    assert section["by_group"]["column"] == "sex"


def test_empty_and_visitless_cohorts_do_not_fail(cohort):
    empty = cohort.subset([])
    assert clearance.clearance_by_month(empty).empty
    assert clearance.end_of_course_clearance(empty).n == 0
    only_d = cohort.subset([3])
    assert (
        clearance.clearance_by_month(only_d, ClearanceSettings(missing="nri"))[["n", "cleared"]].values.tolist()
        == [[1, 0]] * 3
    )
    result = clearance.analyse(only_d)
    assert result.time_to_clearance.n == 0 and result.flare.estimate.n == 0
    for figure in _figures(result):
        assert figure.layout.title.text


def _figures(result):
    return [
        clearance_figures.clearance_by_month_figure(result.by_month, result.settings),
        clearance_figures.lesion_change_figure(result.lesions),
        clearance_figures.iga_distribution_figure(result.iga),
        clearance_figures.flare_figure(result.flare),
        clearance_figures.time_to_clearance_figure(result.time_to_clearance, result.settings),
    ]


def test_figures_state_the_definition_and_carry_n(cohort):
    for definition in clearance.DEFINITIONS:
        settings = ClearanceSettings(definition=definition, missing="locf")
        result = clearance.analyse(cohort, settings)
        by_month = clearance_figures.clearance_by_month_figure(result.by_month, settings)
        assert settings.describe() in plain_title(by_month.layout.title.text)
        assert by_month.layout.xaxis.ticktext[0].endswith((">4</span>", ">3</span>"))  # n under the month
        assert "courses" in by_month.data[-1].hovertemplate
        comparison = clearance.compare_groups(cohort, "sex", settings)
        by_group = clearance_figures.group_comparison_figure(comparison, settings, "Sex")
        assert settings.describe() in plain_title(by_group.layout.title.text)
    for figure in _figures(clearance.analyse(cohort)):
        assert figure.layout.title.text


def test_demo_end_of_course_iga01_near_its_generating_parameter(demo_cohort):
    from analysis.demo import PARAMETERS

    estimate = clearance.first_course_iga01_at_end(demo_cohort, completed_only=True)
    assert estimate.n > 1000
    assert estimate.estimate == pytest.approx(PARAMETERS["end_of_course_iga01"], abs=0.03)


def test_demo_flare_near_its_generating_parameter(demo_cohort):
    from analysis.demo import PARAMETERS

    assert clearance.flare_share(demo_cohort).estimate == pytest.approx(PARAMETERS["flare_share"], abs=0.04)


def test_filtered_cohort_agrees_with_a_cohort_built_from_the_same_rows(demo_cohort):
    """Cached visit arrays follow the cohort: a subset gives the same answer as its own cohort."""
    women = demo_cohort.subset(demo_cohort.courses.loc[demo_cohort.courses["sex"] == "F", "course_idx"])
    whole = clearance.end_of_course_clearance(demo_cohort)
    part = clearance.end_of_course_clearance(women)
    assert part.n < whole.n
    ends = clearance.end_of_course_table(demo_cohort)
    female = (demo_cohort.courses["sex"] == "F").to_numpy()
    assert (part.numerator, part.n) == (int(ends["clear"][female].sum()), int(ends["counted"][female].sum()))


@pytest.mark.parametrize(
    "values",
    [
        np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 0, 0, 7], dtype=float),  # whole numbers: counted into a histogram
        np.array([-12.5, 40.0, 3.25, np.nan, -100.0, 0.0, 7.5, 1.0, 2.0, 2.5, np.nan, 9.0, 4.0, 4.0]),  # % changes
    ],
)
def test_grouped_quartiles_match_pandas(values):
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 5, 5])
    result = clearance.grouped_quartiles(groups, values)
    reference = pd.Series(values).groupby(groups).quantile([0.25, 0.5, 0.75]).unstack()
    assert result.index.tolist() == reference.index.tolist()
    assert result[["q1", "median", "q3"]].to_numpy() == pytest.approx(reference.to_numpy())
    assert result["n"].tolist() == pd.Series(values).groupby(groups).count().tolist()


def test_time_to_clearance_table_reads_as_shares_cleared(cohort):
    table = clearance.time_to_clearance_table(
        clearance.time_to_clearance(cohort, ClearanceSettings(definition="lesion_reduction"))
    )
    assert table["month"].tolist() == [0, 1, 3, 4]
    assert table["share_cleared"].tolist() == pytest.approx([0, 0, 2 / 3, 1])
    assert table["cleared_that_month"].tolist() == [0, 0, 2, 1]
    assert (table["ci_low"] <= table["share_cleared"] + 1e-12).all() and (
        table["share_cleared"] <= table["ci_high"] + 1e-12
    ).all()


def test_missing_columns_are_named(cohort):
    assert clearance.missing_for_definition(cohort, ClearanceSettings()) is None
    visits = cohort.visits.assign(iga=pd.array([None] * len(cohort.visits), dtype="Int64"))
    no_iga = dataclasses.replace(cohort, visits=visits)
    assert "column iga" in clearance.missing_for_definition(no_iga, ClearanceSettings())
    assert clearance.missing_for_definition(no_iga, ClearanceSettings(definition="lesion_reduction")) is None
    assert clearance.clearance_by_month(no_iga).empty
