"""Subsets of a cohort: tables cut on first use, and per-course results cut from the whole cohort's
equal to computing them on the subset's own tables."""

import copy
import dataclasses
import pickle

import pandas as pd
import pytest

from analysis.areas.base import SummaryOptions
from analysis.areas.claims import compute as claims
from analysis.areas.overview import compute as overview
from analysis.cohort.filters import FilterSpec, apply_filters
from analysis.cohort.loading import load_demo
from analysis.cohort.model import without_unused_categories
from analysis.outputs.summary import summarize
from analysis.schema import TABLES


@pytest.fixture(scope="module")
def demo():
    return load_demo().cohort


def standalone(cohort):
    """The same tables as a cohort of its own: nothing to cut results from."""
    return dataclasses.replace(cohort, **{name: cohort.table(name).copy() for name in TABLES})


FILTERS = [
    FilterSpec(values={"sex": ("F",)}),
    FilterSpec(values={"course_number": (1,)}),
    FilterSpec(start_year=(2019, 2021)),
]


@pytest.mark.parametrize("spec", FILTERS, ids=lambda spec: spec.describe())
def test_subset_tables_are_the_rows_of_its_courses(demo, spec):
    subset = apply_filters(demo, spec)
    kept = set(subset.courses["course_idx"])
    assert subset.row_counts() == {name: int(demo.table(name)["course_idx"].isin(kept).sum()) for name in TABLES}
    for name in TABLES:
        expected = demo.table(name)[demo.table(name)["course_idx"].isin(kept).fillna(False).to_numpy(dtype=bool)]
        # the rows of its courses, with categories of the values they hold only
        pd.testing.assert_frame_equal(subset.table(name), without_unused_categories(expected.copy()))
    nested = subset.subset(subset.courses["course_idx"][::2])
    pd.testing.assert_frame_equal(nested.labs, demo.subset(subset.courses["course_idx"][::2]).labs)


def test_reading_a_table_keeps_what_was_memoised(demo):
    subset = demo.subset(demo.courses["course_idx"][:300])
    calls = []
    subset.memo(("test.count",), lambda: calls.append(1) or len(calls))
    assert subset.has_values("labs", "value") and subset.column("visits", "iga") is not None
    assert len(subset.visits) == subset.n_rows("visits")  # the table is cut now
    assert subset.memo(("test.count",), lambda: calls.append(1) or len(calls)) == 1
    subset.visits = subset.visits.iloc[:10]  # a table replaced: results computed before are stale
    assert subset.memo(("test.count",), lambda: calls.append(1) or len(calls)) == 2


@pytest.mark.parametrize("spec", FILTERS, ids=lambda spec: spec.describe())
def test_results_cut_from_the_whole_cohort_equal_computing_them_again(demo, spec):
    summarize(demo, SummaryOptions(group_by="sex"))  # the whole cohort's results, which subsets cut theirs from
    overview.completeness(demo)
    subset, alone = apply_filters(demo, spec), standalone(apply_filters(demo, spec))
    assert summarize(subset, SummaryOptions(group_by="sex")) == summarize(alone, SummaryOptions(group_by="sex"))
    assert claims.evaluate_claims(subset) == claims.evaluate_claims(alone)
    pd.testing.assert_frame_equal(overview.completeness(subset), overview.completeness(alone))


def test_a_subset_copies_and_pickles_with_its_tables(demo):
    subset = demo.subset(demo.courses["course_idx"][:100])
    for duplicate in (copy.deepcopy(subset), pickle.loads(pickle.dumps(subset))):
        for name in TABLES:
            pd.testing.assert_frame_equal(duplicate.table(name), subset.table(name))


def test_a_subset_whose_table_is_replaced_computes_its_own_results(demo):
    summarize(demo)
    subset = demo.subset(demo.courses["course_idx"][:500])
    subset.adverse_events = subset.adverse_events.iloc[:0]
    assert subset.parent() is None
    assert summarize(subset)["adverse_events"] == summarize(standalone(subset))["adverse_events"]


@pytest.mark.parametrize("spec", FILTERS, ids=lambda spec: spec.describe())
def test_a_subset_of_a_subset_cuts_its_results_from_the_whole_cohort(demo, spec):
    claims.evaluate_claims(demo), overview.completeness(demo), overview.demographics_table(demo)
    subset = apply_filters(demo, spec)
    claims.evaluate_claims(subset), overview.completeness(subset), overview.demographics_table(subset)
    nested = subset.subset(subset.courses["course_idx"][::3])  # per-course arrays longer than the subset's numbering
    alone = standalone(nested)
    assert claims.evaluate_claims(nested) == claims.evaluate_claims(alone)
    pd.testing.assert_frame_equal(overview.completeness(nested), overview.completeness(alone))
    pd.testing.assert_frame_equal(overview.demographics_table(nested), overview.demographics_table(alone))
