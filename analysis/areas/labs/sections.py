"""The lab charts, each with its tables and notes, declared once: the page and the report draw these."""

from __future__ import annotations

import pandas as pd

from analysis.areas.base import INDIVIDUAL_CHARTS_LEFT_OUT, Audience, Choice, Drawing, Section, Table
from analysis.areas.labs import compute as labs
from analysis.areas.labs.compute import LabAnalysis
from analysis.cohort.model import Cohort
from analysis.ingest.lab_units import BY_CODE

CHARTED_FIRST = ("ALT", "AST", "TG", "TC")  # the tests charted until the reader picks others
SHARES = ("share", "ci_low", "ci_high")


NO_LABS = "The data has no lab results: the lab figures need a labs table with patient_id, day, test, value and unit."
NO_USABLE_LABS = "No lab result could be used: every row lacks a day, a value or a unit we can convert."


def figures():
    """The figure functions, loaded only when a section is drawn (the JSON summary never loads plotly)."""
    from analysis.areas.labs import figures as lab_figures

    return lab_figures


def test_label(test: str) -> str:
    return f"{test} · {BY_CODE[test].name}" if test in BY_CODE else test


def charted_tests(result: LabAnalysis) -> list[str]:
    """Every test that can be charted (pregnancy tests are counted, not charted)."""
    return [t for t in result.data.tests if t != "HCG"]


def test_choice(cohort: Cohort, result: LabAnalysis) -> tuple[Choice, ...]:
    present = charted_tests(result)
    default = tuple(t for t in CHARTED_FIRST if t in present) or tuple(present[:4])
    options = {test: test_label(test) for test in present}
    return (Choice("labs_tests", "Tests to chart", options, multiple=True, default=default),)


def chosen_tests(cohort: Cohort, result: LabAnalysis, audience: Audience) -> list[str]:
    (choice,) = test_choice(cohort, result)
    return list(audience.pick(choice))


def new_out_of_range(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    return Drawing(
        figure=figures().new_abnormal_figure(
            result.new_abnormal, suppress_below=audience.suppress_below, article=audience.lines("lab_new_abnormal")
        ),
        table=Table(
            "New out-of-range values",
            result.new_abnormal,
            counts=("courses", "new_abnormal_n"),
            derived=("new_abnormal", "ci_low", "ci_high"),
            shares=("new_abnormal", "ci_low", "ci_high", "literature"),
            denominators={"new_abnormal_n": "courses"},
            labels={
                "courses": "courses with a normal baseline",
                "new_abnormal_n": "went above the limit",
                "new_abnormal": "share",
                "literature": "published",
                "literature_source": "source",
            },
        ),
    )


def time_columns(result: LabAnalysis) -> list[str]:
    return [c for c in ("phase", "month", "visit") if c in result.trend.columns]


def trends(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    tests = chosen_tests(cohort, result, audience)
    if not tests:
        return Drawing(missing="No test is chosen: pick one or more under 'Tests to chart'.")
    settings = result.data.settings
    statistic = ["median", "q1", "q3"] if settings.statistic == "median_iqr" else ["mean", "sd"]
    groups = ["group"] if "group" in result.trend.columns else []
    return Drawing(
        more_figures=tuple(
            (
                f"trend {test}",
                figures().trend_figure(result.trend, test, settings, suppress_below=audience.suppress_below),
            )
            for test in tests
        ),
        table=Table(
            f"{labs.STATISTICS[settings.statistic].capitalize()} per test and time point",
            result.trend[["test", "unit", *groups, *time_columns(result), "n", *statistic, "upper_limit"]],
            counts=("n",),
            derived=tuple(statistic),
            labels={"n": "results", "upper_limit": "upper limit"},
        ),
    )


def above_limit(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    tests = chosen_tests(cohort, result, audience)
    if not tests:
        return Drawing()
    groups = ["group"] if "group" in result.trend.columns else []
    columns = ["test", *groups, *time_columns(result), "limit_known_n", "above_uln_n", "above_uln", "ci_low", "ci_high"]
    return Drawing(
        figure=figures().above_limit_figure(
            result.trend, tests, result.data.settings, suppress_below=audience.suppress_below
        ),
        table=Table(
            "Results above the upper limit per test and time point",
            result.trend[columns],
            counts=("limit_known_n", "above_uln_n"),
            derived=("above_uln", "ci_low", "ci_high"),
            shares=("above_uln", "ci_low", "ci_high"),
            denominators={"above_uln_n": "limit_known_n"},
            labels={
                "limit_known_n": "results with a known limit",
                "above_uln_n": "above the limit",
                "above_uln": "share",
            },
        ),
    )


def grades(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    return Drawing(
        figure=figures().grade_figure(result.grades, suppress_below=audience.suppress_below),
        table=Table(
            "Worst CTCAE v5 grade on treatment",
            grade_table(result.grades),
            counts=("courses_with_it", "courses"),
            derived=("share",),
            shares=("share",),
            denominators={"courses_with_it": "courses"},
            labels={"courses_with_it": "courses reaching it", "courses": "courses graded"},
        ),
    )


def grade_table(grades: pd.DataFrame) -> pd.DataFrame:
    """One row per test and grade level, so that suppressing a rare grade hides nothing else."""
    rows = [
        {
            "test": row["test"],
            "grade": f"{level} or higher",
            "courses_with_it": row[f"grade_{level}_plus_n"],
            "courses": row["courses"],
            "share": row[f"grade_{level}_plus"],
        }
        for row in grades.to_dict("records")
        for level in (1, 2, 3)
    ]
    return pd.DataFrame(rows, columns=["test", "grade", "courses_with_it", "courses", "share"])


def graded_tests(cohort: Cohort, result: LabAnalysis) -> tuple[Choice, ...]:
    graded = {t: figures().test_name(t) for t in labs.GRADED_TESTS if result.data.has(t)}
    return (Choice("labs_shift_test", "Shift table for", graded, every_in_report=True),)


def shift(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    (choice,) = graded_tests(cohort, result)
    tests = audience.picks(choice)
    if not tests:
        return Drawing(
            missing="No gradable test (ALT, AST, TG, TC or CK) in the data: the shift table needs one of them."
        )
    tables = tuple(
        Table(
            f"{choice.options[test]}: grade before treatment (rows) and worst grade during treatment (columns), courses",
            table,
            counts=tuple(c for c in table.columns if c != "baseline grade"),
        )
        for test in tests
        for table in [labs.shift_table(result.data, test)]
    )
    return Drawing(
        table=tables[0],
        more_tables=tables[1:],
        notes=(
            "Grade 0 = not above the limit. Only courses with a graded result during treatment are counted; "
            "'no graded baseline' = no result in the baseline window or no upper limit known.",
        ),
    )


def low_normal_high(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    rule = labs.RANGE_RULES[result.data.settings.range_rule]
    return Drawing(
        table=Table(
            f"Low / normal / high during treatment, per course ({rule})",
            result.ranges,
            counts=("low", "normal", "high", "courses"),
        )
    )


def after_course(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    if result.recovery.empty or int(result.recovery["raised_at_end"].sum()) == 0:
        return Drawing(
            missing="No course was still above the upper limit at its last result during treatment, "
            "or the last dose (end_day) is unknown."
        )
    return Drawing(
        table=Table(
            "After the course: back within the limit",
            result.recovery,
            counts=("raised_at_end", "followed_after", "back_within_limit"),
            derived=("median_days", "median_ci_low", "median_ci_high"),
            labels={
                "raised_at_end": "raised at the end",
                "followed_after": "tested after",
                "back_within_limit": "back within the limit",
                "median_days": "median days",
                "median_ci_low": "95% CI from",
                "median_ci_high": "95% CI to",
            },
        ),
        notes=(
            "Raised at the end: courses whose last result during treatment was above the upper limit. Tested after: "
            "of these, courses with a result after the last dose. Median days: from the last dose to the first result "
            "back within the limit (Kaplan-Meier, 95% CI; courses never seen back count as still raised at their last "
            "result). The timing depends on when follow-up tests were taken.",
        ),
    )


def edish(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    absent = [t for t in ("ALT", "BILI") if not result.data.has(t)]
    if absent:
        return Drawing(
            missing=f"The eDISH plot needs ALT and total bilirubin results; the data has no {' and '.join(absent)} results."
        )
    if audience.suppress_below is not None:
        return Drawing(
            missing=INDIVIDUAL_CHARTS_LEFT_OUT.format(
                chart="The eDISH plot (each course's peak ALT against peak bilirubin)"
            )
        )
    return Drawing(
        figure=figures().edish_figure(result.edish),
        notes=(
            "Each point is one course's highest ALT and highest total bilirubin during treatment, as multiples of "
            "the upper limit (log scales). A point top right (ALT at least 3 times and bilirubin over 2 times the "
            "limit) is a possible Hy's law case: a signal of drug-induced liver injury that needs a clinician's review.",
        ),
    )


def individual_choice(cohort: Cohort, result: LabAnalysis) -> tuple[Choice, ...]:
    tests = {t: figures().test_name(t) for t in charted_tests(result)}
    return (Choice("labs_spaghetti_test", "Test", tests),)


def individual(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    (choice,) = individual_choice(cohort, result)
    test = audience.pick(choice)
    if test is None:
        return Drawing()
    if audience.suppress_below is not None:
        return Drawing(
            missing=INDIVIDUAL_CHARTS_LEFT_OUT.format(
                chart=f"The chart of individual courses' {choice.options[test]} results"
            )
        )
    sample, total = labs.spaghetti_sample(result.data, test)
    drawn = len(sample["course_idx"].unique())
    notes = (
        (f"At most {result.data.settings.spaghetti_courses:,} courses are drawn so the chart stays readable.",)
        if total > drawn
        else ()
    )
    return Drawing(figure=figures().spaghetti_figure(sample, total, test), notes=notes, name=f"individual {test}")


def monitoring(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    return Drawing(
        figure=figures().compliance_figure(result.compliance, suppress_below=audience.suppress_below),
        table=Table(
            "Monitoring",
            result.compliance.drop(columns="key"),
            counts=("courses", "met"),
            derived=SHARES,
            shares=SHARES,
            denominators={"met": "courses"},
            labels={"met": "courses meeting it"},
        ),
        notes=(
            'The article: **"Regular blood tests are recommended during the treatment to monitor liver health and '
            'lipid levels."** and **"Effective birth control is required before, during, and after the course."**',
        ),
    )


def pregnancy_tests(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    if int(result.pregnancy["total"].max()) == 0:
        return Drawing(
            missing="No course has can_become_pregnant = yes with a known last dose (end_day): "
            "pregnancy-test compliance cannot be assessed."
        )
    return Drawing(
        table=Table(
            "Pregnancy tests (courses of people who can become pregnant)",
            result.pregnancy,
            counts=("met", "total"),
            derived=SHARES,
            shares=SHARES,
            denominators={"met": "total"},
            labels={"met": "yes", "total": "out of", "counted_in": "counted in"},
        ),
        notes=(
            "Treatment months = the course's length in months, rounded; a month counts as tested when a pregnancy "
            "test (HCG) falls in it (the first month also takes a test in the 30 days before the first dose). Months "
            "of one course are not independent, so treat the interval as a guide. A positive test = above the test's "
            "upper limit.",
        ),
    )


def units(cohort: Cohort, result: LabAnalysis, audience: Audience) -> Drawing:
    return Drawing(
        table=Table(
            "Units as given and as analysed",
            result.data.conversions,
            counts=("rows", "excluded"),
            labels={"unit_as_given": "unit as given", "rows": "results", "excluded": "left out"},
        )
    )


SECTIONS = (
    Section(
        "new_out_of_range", "New out-of-range lab values", new_out_of_range, "How often values left the normal range"
    ),
    Section(
        "trend", "Lab values during and after the course", trends, "Values during and after the course", test_choice
    ),
    Section("above_the_limit", "Lab results above the upper limit", above_limit),
    Section("grades", "Lab CTCAE grades", grades, "How far values rose (CTCAE v5 grades)"),
    Section("shift", "Shift tables", shift, choices=graded_tests),
    Section("low_normal_high", "Low / normal / high during treatment", low_normal_high),
    Section("after_course", "After the course", after_course, "After the course"),
    Section("edish", "eDISH liver safety", edish, "Liver safety: enzymes and bilirubin together"),
    Section("individual", "Individual courses", individual, "Individual courses", individual_choice),
    Section("monitoring", "Lab monitoring", monitoring, "Was monitoring done?"),
    Section("pregnancy_tests", "Pregnancy tests", pregnancy_tests),
    Section("units", "Units as given and as analysed", units),
)


def finding(cohort: Cohort, result: LabAnalysis, audience: Audience) -> str:
    if cohort.labs.empty:
        return NO_LABS
    if result.data.n_rows == 0:
        return NO_USABLE_LABS
    liver = result.new_abnormal_estimate("Liver enzymes (ALT or AST)")
    cholesterol = result.new_abnormal_estimate("Total cholesterol")
    if liver.n == 0 and cholesterol.n == 0:
        return (
            "No course has a normal liver or cholesterol result before treatment and one during it, so new raised "
            "values cannot be counted."
        )
    return (
        f"Of courses normal before treatment, {audience.share(liver)} had raised liver enzymes (ALT or AST) and "
        f"{audience.share(cholesterol)} raised total cholesterol during treatment."
    )
