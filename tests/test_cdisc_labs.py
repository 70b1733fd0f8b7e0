"""The CDISC pilot's lab tables 14-6.01 and 14-6.02 reproduced by the lab analysis.

Canonical tables are built from the pilot's ADaM CSVs: ADSL (safety population) is the courses
table with the planned arm as a custom column; ADLBC gives the labs (day = ADY, visit = AVISIT
without its padding, test = PARAMCD, value = AVAL, unit from PARAM, limits A1LO/A1HI). The
analysis harmonises them (cholesterol mmol/L -> mg/dL), so cholesterol figures are converted back
to mmol/L for the comparison with the published table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cdisc_pilot import LAB_TESTS, PILOT, assert_lab_summary_rows

from analysis.areas.labs import compute as labs
from analysis.cohort.model import build_cohort, empty_table

LAB_COLUMNS = ["USUBJID", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "ADY", "AVAL", "A1LO", "A1HI", "SAFFL", "AENTMTFL"]

pytestmark = pytest.mark.external


@pytest.fixture(scope="module")
def pilot():
    """ADSL and the ADLBC columns needed, read once for the module (ADLBC is 21 MB)."""
    if not (PILOT / "adlbc.csv").exists():
        pytest.skip(f"CDISC pilot data not found at {PILOT}")
    adsl = pd.read_csv(PILOT / "adsl.csv", usecols=["USUBJID", "SAFFL", "TRT01P", "SEX", "AGE", "TRTDUR"])
    adlbc = pd.read_csv(PILOT / "adlbc.csv", usecols=LAB_COLUMNS)
    adlbc = adlbc[adlbc["PARAMCD"].isin(["ALT", "CHOL"])]
    return adsl, adlbc


def canonical(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every canonical column of the table, absent ones empty."""
    empty = empty_table(name)
    for column in empty.columns.difference(frame.columns):
        frame[column] = pd.Series(pd.NA, index=frame.index, dtype=empty[column].dtype)
    return frame


def pilot_cohort(adsl: pd.DataFrame, records: pd.DataFrame):
    safety = adsl[adsl["SAFFL"] == "Y"]
    courses = pd.DataFrame(
        {
            "patient_id": safety["USUBJID"].to_numpy(),
            "course_number": pd.array([1] * len(safety), dtype="Int64"),
            "sex": safety["SEX"].to_numpy(),
            "age": pd.array(safety["AGE"].astype(float), dtype="Float64"),
            "end_day": pd.array(safety["TRTDUR"], dtype="Int64"),
            "arm": safety["TRT01P"].to_numpy(),
        }
    )
    lab_rows = pd.DataFrame(
        {
            "patient_id": records["USUBJID"].to_numpy(),
            "course_number": pd.array([1] * len(records), dtype="Int64"),
            "day": pd.array(records["ADY"], dtype="Int64"),
            "visit": records["AVISIT"].str.strip().to_numpy(),
            "test": records["PARAMCD"].to_numpy(),
            "value": pd.array(records["AVAL"], dtype="Float64"),
            "unit": records["PARAM"].str.extract(r"\(([^)]*)\)\s*$")[0].to_numpy(),
            "lower_limit": pd.array(records["A1LO"], dtype="Float64"),
            "upper_limit": pd.array(records["A1HI"], dtype="Float64"),
        }
    )
    tables = {"courses": canonical("courses", courses), "labs": canonical("labs", lab_rows)}
    return build_cohort(tables, source="CDISC pilot ADLBC")


@pytest.fixture(scope="module")
def summary_cohort(pilot):
    """Table 14-6.01's records: safety population, scheduled visits and the end-of-treatment value."""
    adsl, adlbc = pilot
    chosen = (
        (adlbc["SAFFL"] == "Y") & adlbc["AVISITN"].notna() & ((adlbc["AVISITN"] != 99) | (adlbc["AENTMTFL"] == "Y"))
    )
    return pilot_cohort(adsl, adlbc[chosen])


@pytest.fixture(scope="module")
def trend(summary_cohort):
    settings = labs.LabSettings(statistic="mean_sd", group="visit")
    return labs.trend_table(summary_cohort, settings, group_by="arm")


def test_harmonisation_converts_pilot_cholesterol_to_mg_per_dl(summary_cohort):
    data = labs.lab_data(summary_cohort)
    assert data.unit("TC") == "mg/dL" and data.unit("ALT") == "U/L"
    assert data.excluded.empty


def test_table_14_6_01_n_mean_sd_for_alt_and_cholesterol_at_every_visit(trend):
    assert_lab_summary_rows(trend)


def test_visits_follow_the_study_schedule(trend):
    alt = trend[(trend["test"] == "ALT") & (trend["group"] == "Placebo")]
    visits = alt.sort_values("visit_order")["visit"].tolist()
    weeks = [v for v in visits if v.startswith("Week")]
    assert visits[0] == "Baseline"
    assert weeks == [f"Week {w}" for w in (2, 4, 6, 8, 12, 16, 20, 24, 26)]


@pytest.fixture(scope="module")
def on_treatment_rows(pilot):
    """Table 14-6.02's records: safety population, scheduled treatment visits Week 2 to Week 24
    (the window of the pilot's analysis flag ANL01FL), with the arm of each course."""
    adsl, adlbc = pilot
    chosen = (adlbc["SAFFL"] == "Y") & adlbc["AVISITN"].between(2, 24)
    cohort = pilot_cohort(adsl, adlbc[chosen])
    data = labs.lab_data(cohort)
    return labs.with_course_column(data.labs, "arm", cohort)


def published_6_02() -> pd.DataFrame:
    table = pd.read_csv(PILOT / "published" / "t14-6-02_lab_low_normal_high_counts.csv")
    return table[table["param"].isin(LAB_TESTS)]


def _counts(rows: pd.DataFrame, rule: str) -> pd.DataFrame:
    counts = labs.range_category_counts(rows, ["test", "group"], rule=rule)
    return counts.set_index(["test", "group"])


def test_table_14_6_02_low_normal_high_counts_with_the_pilots_most_extreme_value(on_treatment_rows):
    counts = _counts(on_treatment_rows, "most_extreme")
    published = published_6_02()
    assert len(published) == 6
    for row in published.itertuples():
        code, _ = LAB_TESTS[row.param]
        ours = counts.loc[(code, row.arm)]
        assert (ours["low"], ours["normal"], ours["high"]) == (row.low_n, row.normal_n, row.high_n), (
            row.param,
            row.arm,
        )


def test_any_value_rule_agrees_for_cholesterol_and_counts_more_alt_highs(on_treatment_rows):
    """'Any value above the limit' is the dashboard's default; the pilot's flag picks one value per
    subject, so three ALT subjects with one high value among lower ones count as normal or low there."""
    any_rule, pilot_rule = _counts(on_treatment_rows, "any"), _counts(on_treatment_rows, "most_extreme")
    tc_any, tc_pilot = any_rule.loc["TC"], pilot_rule.loc["TC"]
    assert tc_any[["low", "normal", "high"]].equals(tc_pilot[["low", "normal", "high"]])
    alt_extra_highs = any_rule.loc["ALT", "high"] - pilot_rule.loc["ALT", "high"]
    assert alt_extra_highs.sum() == 3 and (alt_extra_highs >= 0).all()
    assert np.array_equal(any_rule.loc["ALT", "courses"].to_numpy(), pilot_rule.loc["ALT", "courses"].to_numpy())
