"""The CDISC pilot's time to first dermatologic event (ADTTE TTDE) through the relapse analysis.

Reproduces the number-at-risk table published under the pilot's Kaplan-Meier plot (R Consortium
submission pilot 1): ADSL SAFFL == "Y" inner-joined to ADTTE PARAMCD == "TTDE", strata TRT01A,
number at risk at day t = subjects with AVAL >= t. The event stands in for a relapse, the arm for
a custom column, and time runs from the first dose (origin "start").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from test_relapse import course_table

from analysis.areas.relapse import compute as relapse
from analysis.areas.relapse.compute import RelapseSettings
from analysis.cohort.model import build_cohort

PILOT = Path(__file__).resolve().parents[2] / "shared" / "external" / "cdisc_pilot"
PUBLISHED_EVENTS = {"Placebo": 29, "Xanomeline Low Dose": 62, "Xanomeline High Dose": 61}
START = RelapseSettings(origin="start")


@pytest.fixture(scope="module")
def pilot():
    if not (PILOT / "adtte.csv").exists():
        pytest.skip(f"CDISC pilot data not found at {PILOT} (the shared external folder is absent)")
    adsl = pd.read_csv(PILOT / "adsl.csv")
    adtte = pd.read_csv(PILOT / "adtte.csv")
    subjects = adsl.loc[adsl["SAFFL"] == "Y", ["USUBJID", "TRT01A", "SEX", "AGE"]]
    return subjects.merge(adtte.loc[adtte["PARAMCD"] == "TTDE", ["USUBJID", "AVAL", "CNSR"]], on="USUBJID", how="inner")


@pytest.fixture(scope="module")
def cohort(pilot):
    event = pilot["CNSR"] == 0
    table = course_table(
        sex=pilot["SEX"],
        age=pilot["AGE"].astype(float),
        relapse_day=pilot["AVAL"].where(event),
        followup_end_day=pilot["AVAL"].where(~event),
        arm=pilot["TRT01A"],
    )
    table["patient_id"] = pilot["USUBJID"].to_numpy()
    return build_cohort({"courses": table}, source="CDISC pilot ADTTE")


@pytest.fixture(scope="module")
def by_arm(cohort):
    return relapse.relapse_analysis(cohort, START, group_by="arm")


def test_every_subject_enters(by_arm, pilot):
    assert by_arm.times.entered == len(pilot) == 254
    assert by_arm.times.excluded.empty


def test_published_number_at_risk_reproduced_exactly(by_arm):
    published = pd.read_csv(PILOT / "published" / "pilot1_km_ttde_number_at_risk.csv")
    days = np.sort(published["day"].unique())
    ours = relapse.number_at_risk_table(by_arm, days).melt(id_vars="group", var_name="day", value_name="ours")
    ours["day"] = ours["day"].str.removeprefix("day ")
    compared = published.merge(
        ours.rename(columns={"group": "arm"}).astype({"day": "int64"}), on=["arm", "day"], how="left"
    )
    assert len(compared) == 33
    mismatches = compared[compared["n_at_risk"] != compared["ours"]]
    assert mismatches.empty, mismatches.to_string()


def test_published_event_counts(by_arm):
    assert {label: km.events for label, km in by_arm.groups.items()} == PUBLISHED_EVENTS
    assert {label: km.n for label, km in by_arm.groups.items()} == {
        "Placebo": 86,
        "Xanomeline High Dose": 84,
        "Xanomeline Low Dose": 84,
    }


def test_curves_and_logrank_match_lifelines_directly(by_arm, pilot):
    event = pilot["CNSR"] == 0
    for arm, km in by_arm.groups.items():
        rows = pilot["TRT01A"] == arm
        direct = KaplanMeierFitter().fit(pilot.loc[rows, "AVAL"], event[rows])
        np.testing.assert_allclose(
            km.table["survival"], direct.survival_function_.iloc[:, 0].reindex(km.table["day"]).to_numpy()
        )
        median = direct.median_survival_time_
        assert km.median_day == (median if np.isfinite(median) else None)
    test = multivariate_logrank_test(pilot["AVAL"], pilot["TRT01A"], event)
    assert by_arm.comparison.p_value == pytest.approx(test.p_value)
    assert by_arm.comparison.degrees_of_freedom == 2


def test_end_origin_needs_the_last_dose(cohort):
    times = relapse.relapse_times(cohort, RelapseSettings(origin="end"))
    assert times.entered == 0
    assert set(times.excluded["reason"]) == {relapse.MISSING_END}


@pytest.fixture(scope="module")
def loaded(pilot):
    """The pilot's ADSL, ADAE and ADTTE loaded as a user uploads them, mapped without asking."""
    from analysis.cohort.loading import load_tables

    files = {name: (PILOT / name).read_bytes() for name in ("adsl.csv", "adae.csv", "adtte.csv")}
    return load_tables(files, "CDISC pilot").cohort


def test_the_time_to_event_table_says_time_starts_at_the_first_dose(loaded):
    assert loaded.time_origin == "start"  # ADTTE's STARTDT is TRTSDT on every record
    settings = RelapseSettings.from_settings({}, loaded)
    assert settings.origin == "start"
    times = relapse.relapse_times(loaded, settings)
    assert times.entered == 254 and times.excluded.empty  # none dropped as dated before the last dose
    assert RelapseSettings.from_settings({"relapse.origin": "end"}, loaded).origin == "end"  # a stated choice wins


def test_published_number_at_risk_reproduced_from_the_loaded_files(loaded):
    analysis = relapse.relapse_analysis(loaded, RelapseSettings.from_settings({}, loaded), group_by="arm")
    published = pd.read_csv(PILOT / "published" / "pilot1_km_ttde_number_at_risk.csv")
    for arm, rows in published.groupby("arm"):
        km = analysis.groups[arm]
        assert list(km.at_risk_at(rows["day"].to_numpy())) == rows["n_at_risk"].tolist(), arm
    assert {label: km.events for label, km in analysis.groups.items()} == PUBLISHED_EVENTS


def test_relapse_claims_are_not_testable_on_times_counted_from_the_first_dose():
    """The pilot's time-to-event table counts from the first dose; the article's relapse claims (C06-C08) speak
    of the time after the course: no verdict is drawn from the few events that fall after the last dose."""
    from analysis.areas.claims.compute import evaluate_claims
    from analysis.cohort.loading import load_bundle

    cohort = load_bundle(PILOT).cohort
    assert cohort.time_origin == "start"
    relapse_claims = [r for r in evaluate_claims(cohort, {}) if r.id in ("C06", "C07", "C08")]
    assert len(relapse_claims) == 3
    for result in relapse_claims:
        assert result.verdict == "not testable" and "count from the first dose" in result.reason, result
