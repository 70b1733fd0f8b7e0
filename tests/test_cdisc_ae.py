"""The CDISC pilot's table 14-5.01 (treatment-emergent AEs by body system and term) reproduced.

Canonical tables are built from the pilot's ADaM CSVs: ADSL is the courses table (safety
population, arm as a custom column), ADAE the adverse events (term = AETERM, the data's own body
system = AEBODSYS, treatment-emergent = TRTEMFL). The published table groups by the term as
written, so the incidence is run with `term_column="term"`.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis import side_effects as se
from analysis.cohort import build_cohort, empty_table

EXTERNAL = Path(__file__).resolve().parents[2] / "shared" / "external"
PILOT = EXTERNAL / "cdisc_pilot"
ARMS = {"placebo": "Placebo", "low": "Xanomeline Low Dose", "high": "Xanomeline High Dose"}

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
    courses = pd.DataFrame({
        "patient_id": safety["USUBJID"].to_numpy(),
        "course_number": pd.array([1] * len(safety), dtype="Int64"),
        "sex": safety["SEX"].to_numpy(),
        "age": pd.array(pd.to_numeric(safety["AGE"]), dtype="Float64"),
        "arm": safety["TRT01P"].to_numpy(),
    })
    emergent = adae[(adae["SAFFL"] == "Y") & (adae["TRTEMFL"] == "Y")]
    # ADaM study day 1 is the first dose; the canonical day 0 is.
    onset = pd.to_numeric(emergent["ASTDY"], errors="coerce") - 1
    events = pd.DataFrame({
        "patient_id": emergent["USUBJID"].to_numpy(),
        "course_number": pd.array([1] * len(emergent), dtype="Int64"),
        "term": emergent["AETERM"].to_numpy(),
        "onset_day": pd.array(onset.where(onset.notna(), None), dtype="Int64"),
        "body_system": emergent["AEBODSYS"].to_numpy(),
    })
    return build_cohort({"courses": canonical("courses", courses), "adverse_events": canonical("adverse_events", events)},
                        source="CDISC pilot")


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


def _by_arm(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    wide = table.pivot_table(index=keys, columns="group", values=["courses", "events"], aggfunc="sum")
    wide.columns = [f"{arm}_{'n' if value == 'courses' else 'events'}" for value, group in wide.columns
                    for arm in [next(a for a, label in ARMS.items() if label == group)]]
    return wide


def test_denominators_are_the_safety_population(tables):
    data, _ = tables
    at_risk = se.any_event_table(data, group_by="arm").set_index("group")["at_risk"]
    assert at_risk.to_dict() == {"Placebo": 86, "Xanomeline High Dose": 84, "Xanomeline Low Dose": 84}


def test_any_event_row(tables):
    data, published = tables
    row = published[published["level"] == "ANY"].iloc[0]
    anyone = se.any_event_table(data, group_by="arm").set_index("group")
    for arm, label in ARMS.items():
        assert anyone.loc[label, "courses"] == int(row[f"{arm}_n"])
        assert anyone.loc[label, "events"] == int(row[f"{arm}_events"])
        if row[f"{arm}_pct"]:
            assert round(anyone.loc[label, "rate"] * 100, 1) == pytest.approx(float(row[f"{arm}_pct"]))


def test_every_term_row(tables):
    data, published = tables
    expected = published[published["level"] == "PT"].set_index(["soc", "term"])
    ours = _by_arm(se.incidence_table(data, group_by="arm"), ["body_system", "term"])
    ours.index.names = ["soc", "term"]
    assert len(expected) > 200
    assert set(ours.index) == set(expected.index)
    for arm in ARMS:
        for value in ("n", "events"):
            column = f"{arm}_{value}"
            mismatched = ours[column] != expected[column].astype(int).reindex(ours.index)
            assert not mismatched.any(), ours.loc[mismatched, column].head()


def test_every_body_system_row(tables):
    data, published = tables
    expected = published[published["level"] == "SOC"].set_index("soc")
    ours = _by_arm(se.incidence_table(data, level="body_system", group_by="arm"), ["body_system"])
    assert set(ours.index) == set(expected.index)
    for column in ("placebo_n", "low_n", "high_n", "placebo_events", "low_events", "high_events"):
        assert (ours[column] == expected[column].astype(int).reindex(ours.index)).all(), column


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
