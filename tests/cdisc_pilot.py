"""The CDISC pilot study's published tables and the checks against them, shared by the tests that
build the pilot's cohort by hand and those that load it as a user would."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.areas.side_effects import compute as se
from analysis.ingest.lab_units import CHOLESTEROL_MG_PER_MMOL

PILOT = Path(__file__).resolve().parents[2] / "shared" / "external" / "cdisc_pilot"
PUBLISHED = PILOT / "published"
ARMS = {"placebo": "Placebo", "low": "Xanomeline Low Dose", "high": "Xanomeline High Dose"}
LAB_TESTS = {"ALANINE AMINOTRANSFERASE": ("ALT", 1.0), "CHOLESTEROL": ("TC", CHOLESTEROL_MG_PER_MMOL)}
PUBLISHED_VISITS = {"Bsln": "Baseline", "End[1]": "End of Treatment"}
SAFETY_POPULATION = {"Placebo": 86, "Xanomeline High Dose": 84, "Xanomeline Low Dose": 84}


def published_5_01() -> pd.DataFrame:
    """Table 14-5.01: treatment-emergent adverse events by body system and term."""
    return pd.read_csv(PUBLISHED / "t14-5-01_teae_by_soc_pt.csv", dtype=str, keep_default_na=False)


def published_6_01() -> pd.DataFrame:
    """Table 14-6.01, ALT and cholesterol rows, visits named as the analysis names them."""
    table = pd.read_csv(PUBLISHED / "t14-6-01_lab_summary_by_visit.csv")
    table = table[table["param"].isin(LAB_TESTS)].copy()
    table["visit"] = table["visit"].map(lambda v: PUBLISHED_VISITS.get(v, v.replace("Wk", "Week")))
    return table


def by_arm(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """An incidence table laid out as the published one: subjects and events per arm side by side."""
    wide = table.pivot_table(index=keys, columns="group", values=["courses", "events"], aggfunc="sum")
    names = {label: arm for arm, label in ARMS.items()}
    wide.columns = [f"{names[group]}_{'n' if value == 'courses' else 'events'}" for value, group in wide.columns]
    return wide


def assert_any_event_row(events: se.EventData) -> None:
    row = published_5_01().query("level == 'ANY'").iloc[0]
    anyone = se.any_event_table(events, group_by="arm").set_index("group")
    assert anyone["at_risk"].to_dict() == SAFETY_POPULATION
    for arm, label in ARMS.items():
        assert anyone.loc[label, "courses"] == int(row[f"{arm}_n"])
        assert anyone.loc[label, "events"] == int(row[f"{arm}_events"])
        assert round(anyone.loc[label, "rate"] * 100, 1) == pytest.approx(float(row[f"{arm}_pct"]))


def assert_incidence_rows(events: se.EventData, level: str) -> None:
    """Every term row (level "term") or body-system row (level "body_system"): subjects and events per arm."""
    keys = ["body_system", "term"] if level == "term" else ["body_system"]
    published = published_5_01()
    expected = published[published["level"] == ("PT" if level == "term" else "SOC")]
    expected = expected.set_index(["soc", "term"] if level == "term" else ["soc"])
    ours = by_arm(se.incidence_table(events, level=level, group_by="arm"), keys)
    ours.index.names = expected.index.names
    assert set(ours.index) == set(expected.index) and len(expected) > (200 if level == "term" else 15)
    for arm in ARMS:
        for value in ("n", "events"):
            column = f"{arm}_{value}"
            mismatched = ours[column] != expected[column].astype(int).reindex(ours.index)
            assert not mismatched.any(), ours.loc[mismatched, column].head()


def assert_lab_summary_rows(trend: pd.DataFrame, *, with_sd: bool = True) -> None:
    """Table 14-6.01: n, mean and SD of ALT and cholesterol per visit and arm, within display
    rounding (means shown with 1 decimal, SDs with 2); cholesterol compared in mmol/L."""
    published = published_6_01()
    assert len(published) == 66  # 11 visits x 3 arms x 2 tests
    for row in published.itertuples():
        code, factor = LAB_TESTS[row.param]
        ours = trend[(trend["test"] == code) & (trend["visit"] == row.visit) & (trend["group"] == row.arm)]
        where = f"{row.param} {row.visit} {row.arm}"
        assert len(ours) == 1, where
        ours = ours.iloc[0]
        assert ours["n"] == row.n, where
        assert abs(ours["mean"] / factor - row.mean) <= 0.05 + 1e-9, where
        if with_sd:
            assert abs(ours["sd"] / factor - row.sd) <= 0.005 + 1e-9, where
