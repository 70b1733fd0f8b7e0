"""The CDISC pilot's table 14-5.01 (treatment-emergent AEs by body system and term) reproduced.

Canonical tables are built from the pilot's ADaM CSVs: ADSL is the courses table (safety
population, arm as a custom column), ADAE the adverse events (term = AETERM, the data's own body
system = AEBODSYS, treatment-emergent = TRTEMFL). The published table groups by the term as
written, so the incidence is run with `term_column="term"`.
"""

from __future__ import annotations

import pandas as pd
import pytest
from cdisc_pilot import ARMS, PILOT, assert_any_event_row, assert_incidence_rows

from analysis.areas.side_effects import compute as se
from analysis.cohort.model import build_cohort, empty_table

pytestmark = pytest.mark.external


@pytest.fixture(scope="module")
def pilot():
    if not (PILOT / "adae.csv").exists():
        pytest.skip(f"CDISC pilot data not found at {PILOT}")
    adsl = pd.read_csv(PILOT / "adsl.csv", dtype=str, keep_default_na=False)
    adae = pd.read_csv(PILOT / "adae.csv", dtype=str, keep_default_na=False)
    published = pd.read_csv(PILOT / "published" / "t14-5-01_teae_by_soc_pt.csv", dtype=str, keep_default_na=False)
    return adsl, adae, published


def pilot_cohort(adsl: pd.DataFrame, adae: pd.DataFrame):
    safety = adsl[adsl["SAFFL"] == "Y"]
    courses = pd.DataFrame(
        {
            "patient_id": safety["USUBJID"].to_numpy(),
            "course_number": pd.array([1] * len(safety), dtype="Int64"),
            "sex": safety["SEX"].to_numpy(),
            "age": pd.array(pd.to_numeric(safety["AGE"]), dtype="Float64"),
            "arm": safety["TRT01P"].to_numpy(),
        }
    )
    emergent = adae[(adae["SAFFL"] == "Y") & (adae["TRTEMFL"] == "Y")]
    # ADaM study day 1 is the first dose; the canonical day 0 is.
    onset = pd.to_numeric(emergent["ASTDY"], errors="coerce") - 1
    events = pd.DataFrame(
        {
            "patient_id": emergent["USUBJID"].to_numpy(),
            "course_number": pd.array([1] * len(emergent), dtype="Int64"),
            "term": emergent["AETERM"].to_numpy(),
            "onset_day": pd.array(onset.where(onset.notna(), None), dtype="Int64"),
            "body_system": emergent["AEBODSYS"].to_numpy(),
        }
    )
    return build_cohort(
        {"courses": canonical("courses", courses), "adverse_events": canonical("adverse_events", events)},
        source="CDISC pilot",
    )


def canonical(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every canonical column of the table, absent ones empty."""
    empty = empty_table(name)
    for column in empty.columns.difference(frame.columns):
        frame[column] = pd.Series(pd.NA, index=frame.index, dtype=empty[column].dtype)
    return frame


@pytest.fixture(scope="module")
def tables(pilot):
    adsl, adae, published = pilot
    cohort = pilot_cohort(adsl, adae)
    # TRTEMFL already selected the treatment-emergent records: count every one of them.
    settings = se.SideEffectSettings(treatment_emergent=False, term_column="term")
    data = se.event_data(cohort, settings)
    return data, published


def test_denominators_and_the_any_event_row(tables):
    assert_any_event_row(tables[0])


@pytest.mark.parametrize("level", ["term", "body_system"])
def test_every_term_and_body_system_row(tables, level):
    assert_incidence_rows(tables[0], level)


def _published_p(text: str) -> float | None:
    text = text.rstrip("*")
    return None if not text else 1.0 if text == ">.99" else float(text)


@pytest.mark.parametrize("term", [None, "SINUS BRADYCARDIA", "APPLICATION SITE PRURITUS", "ERYTHEMA"])
def test_fisher_p_values_against_placebo(tables, term):
    data, published = tables
    row = published[published["level"] == "ANY"] if term is None else published[published["term"] == term]
    row = row.iloc[0]
    terms = None if term is None else (term,)
    compared = se.comparison_table(data, "arm", terms, column="term", reference_group="Placebo").set_index("group")
    for arm in ("low", "high"):
        expected = _published_p(row[f"p_{arm}_vs_placebo"])
        p = compared.loc[ARMS[arm], "fisher_p"]
        if expected == 1.0:
            assert p > 0.99
        elif expected is not None:
            assert round(p, 3) == pytest.approx(expected)
