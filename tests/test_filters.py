"""Filters restrict every table to the same courses."""

from analysis.cohort.filters import MISSING_LABEL, FilterSpec, apply_filters, filter_options


def test_no_filter_returns_the_cohort(tiny_cohort):
    assert apply_filters(tiny_cohort, FilterSpec()) is tiny_cohort


def test_filter_by_sex_filters_every_table(tiny_cohort):
    women = apply_filters(tiny_cohort, FilterSpec({"sex": ("F",)}))
    assert women.courses["patient_id"].tolist() == ["A", "C", "C"]
    assert set(women.visits["patient_id"]) == {"A", "C"}
    assert women.n_patients == 2


def test_filters_combine_with_and(tiny_cohort):
    spec = FilterSpec({"sex": ("F",), "course_number": (2,)})
    assert apply_filters(tiny_cohort, spec).courses["patient_id"].tolist() == ["C"]


def test_start_year_range(tiny_cohort):
    spec = FilterSpec(start_year=(2020, 2020))
    assert apply_filters(tiny_cohort, spec).courses["patient_id"].tolist() == ["C"]


def test_custom_column_filter_and_missing_values(tiny_cohort):
    assert apply_filters(tiny_cohort, FilterSpec({"arm": ("y",)})).n_courses == 2
    missing_dose = apply_filters(tiny_cohort, FilterSpec({"cumulative_dose_band": (MISSING_LABEL,)}))
    assert missing_dose.courses["patient_id"].tolist() == ["C"]


def test_options_list_custom_columns_and_missing(tiny_cohort):
    options = filter_options(tiny_cohort)
    assert options["arm"] == ["x", "y"]
    assert options["sex"] == ["F", "M"]
    assert options["cumulative_dose_band"][-1] == MISSING_LABEL


def test_describe_names_the_filters():
    assert FilterSpec().describe() == "all courses"
    assert FilterSpec({"sex": ("F",)}, start_year=(2019, 2020)).describe() == "sex in F; start year 2019-2020"
