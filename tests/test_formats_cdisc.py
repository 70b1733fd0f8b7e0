"""The CDISC pilot loaded as a user would load it, and its published tables reproduced from that load.

The four ADaM files go through `load_tables` on their bytes (the app's upload path) and through
`python -m analysis summary FOLDER --group-by arm --json`; nothing is hand-built. From the loaded
cohort the outcome areas reproduce: table 14-5.01 (treatment-emergent adverse events by body
system and term, safety population), the number at risk under the Kaplan-Meier plot of time to
first dermatologic event (ADTTE TTDE, time from the first dose), and table 14-6.01 (ALT and
cholesterol n, mean and SD by visit). SDTM DM/AE load too.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from cdisc_pilot import (
    ARMS,
    LAB_TESTS,
    PILOT,
    PUBLISHED,
    assert_any_event_row,
    assert_incidence_rows,
    assert_lab_summary_rows,
    published_5_01,
)
from csv_bundles import assert_counts_add_up

from analysis import cli
from analysis.areas.labs import compute as labs
from analysis.areas.relapse import compute as relapse
from analysis.areas.side_effects import compute as se
from analysis.cohort.loading import load_tables
from analysis.ingest.mapping import Mapping
from analysis.ingest.upload import plan_upload

START = relapse.RelapseSettings(origin="start")
AS_WRITTEN = se.SideEffectSettings(term_column="term")
CLI_SETTINGS = [
    "--set",
    "adverse_events.term_column=term",
    "--set",
    "relapse.origin=start",
    "--set",
    "labs.statistic=mean_sd",
    "--set",
    "labs.group=visit",
]

pytestmark = pytest.mark.external


def pilot_files() -> dict[str, bytes]:
    if not (PILOT / "adsl.csv").exists():
        pytest.skip(f"CDISC pilot data not found at {PILOT} (the shared external folder is absent)")
    return {name: (PILOT / name).read_bytes() for name in ("adsl.csv", "adae.csv", "adlbc.csv", "adtte.csv")}


@pytest.fixture(scope="module")
def uploaded():
    """The four ADaM files as an upload: bytes in, cohort out, no mapping given."""
    result = load_tables(pilot_files(), source="CDISC pilot upload")
    assert result.ok, result.report.finding_lines(10)
    return result


@pytest.fixture(scope="module")
def cohort(uploaded):
    return uploaded.cohort


@pytest.fixture(scope="module")
def cli_summary():
    pilot_files()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["summary", str(PILOT), "--group-by", "arm", "--json", *CLI_SETTINGS])
    assert status == 0, err.getvalue()
    return json.loads(out.getvalue())


# ---------------------------------------------------------------------------------------------
# Recognition and the report


def test_each_adam_file_is_recognised_without_a_mapping():
    plan = plan_upload(pilot_files())
    formats = {p.label: [(m.table, m.format) for m in p.mappings] for p in plan.sheets}
    assert formats == {
        "adsl.csv": [("courses", "CDISC ADaM ADSL")],
        "adae.csv": [("adverse_events", "CDISC ADaM ADAE")],
        "adlbc.csv": [("labs", "CDISC ADaM ADLBC")],
        "adtte.csv": [("course_events", "CDISC ADaM ADTTE")],
    }
    assert all(not p.identifiers for p in plan.sheets)


def test_the_report_says_what_was_kept_and_why_the_rest_was_left_out(uploaded):
    report = uploaded.report
    assert report.error_count == 0
    warnings = report.issues[report.issues["severity"] == "warning"]
    # Only the chemistry tests the dashboard has no reference for (sodium, potassium, ...) are named.
    assert (
        set(warnings["file"]) == {"adlbc.csv"} and warnings["message"].str.contains("not a recognised test name").all()
    )
    assert report.rows_read == {"adsl.csv": 254, "adae.csv": 1191, "adlbc.csv": 74264, "adtte.csv": 254}
    assert report.rows_kept == {"adsl.csv": 254, "adae.csv": 1126, "adlbc.csv": 37122, "adtte.csv": 254}
    assert report.excluded["adae.csv"] == {"not treatment-emergent (TRTEMFL is not Y)": 65}
    assert report.excluded["adlbc.csv"] == {
        "shift-category parameters (PARAMCD starting with _), not results": 37132,
        "no result value (AVAL empty)": 10,
    }
    notes = report.issues[report.issues["severity"] == "note"]
    assert notes["message"].str.contains("recognised as CDISC ADSL").any()
    assert "CDISC ADaM ADLBC" in report.read_as["adlbc.csv"]
    assert_counts_add_up(report)


def test_the_cohort_has_one_course_per_safety_subject_with_its_arm(cohort):
    courses = cohort.courses
    assert len(courses) == 254 and courses["patient_id"].is_unique
    assert courses["arm"].value_counts().to_dict() == {
        "Placebo": 86,
        "Xanomeline High Dose": 84,
        "Xanomeline Low Dose": 84,
    }
    first = courses.set_index("patient_id").loc["01-701-1015"]
    assert (first["sex"], first["age"], first["end_day"], first["duration_days"]) == ("F", 63, 181, 182)  # TRTDUR 182
    assert first["start_date"] == pd.Timestamp("2014-01-02") and first["end_reason"] == "completed"
    assert "arm" in cohort.custom_columns


def test_study_days_become_days_from_the_first_dose(cohort):
    adae = pd.read_csv(PILOT / "adae.csv", usecols=["USUBJID", "ASTDY", "TRTEMFL"])
    adae = adae[adae["TRTEMFL"] == "Y"]
    assert cohort.adverse_events["onset_day"].astype(float).sum() == (adae["ASTDY"] - 1).sum()
    baseline = cohort.labs[cohort.labs["visit"] == "Baseline"]["day"]
    assert baseline.max() < 0  # ADY -7 etc. before the first dose stays negative


# ---------------------------------------------------------------------------------------------
# 14-5.01: treatment-emergent adverse events


@pytest.fixture(scope="module")
def events(cohort):
    return se.event_data(cohort, AS_WRITTEN)


def test_14_5_01_denominators_and_the_any_event_row(events):
    assert_any_event_row(events)


@pytest.mark.parametrize("level", ["term", "body_system"])
def test_14_5_01_every_term_and_body_system_row(events, level):
    assert_incidence_rows(events, level)


def test_14_5_01_fisher_p_values_against_placebo(events):
    row = published_5_01().query("term == 'APPLICATION SITE PRURITUS'").iloc[0]
    compared = se.comparison_table(
        events, "arm", ("APPLICATION SITE PRURITUS",), column="term", reference_group="Placebo"
    ).set_index("group")
    for arm in ("low", "high"):
        assert round(compared.loc[ARMS[arm], "fisher_p"], 3) == pytest.approx(
            float(row[f"p_{arm}_vs_placebo"].rstrip("*"))
        )


def test_14_5_01_the_same_counts_without_the_dashboards_own_window(cohort, events):
    every = se.event_data(cohort, se.SideEffectSettings(term_column="term", treatment_emergent=False))
    assert len(every.events) == len(events.events) == 1126


# ---------------------------------------------------------------------------------------------
# Kaplan-Meier number at risk (ADTTE TTDE)


@pytest.fixture(scope="module")
def km(cohort):
    return relapse.relapse_analysis(cohort, START, group_by="arm")


def published_at_risk() -> pd.DataFrame:
    return pd.read_csv(PUBLISHED / "pilot1_km_ttde_number_at_risk.csv")


def test_km_number_at_risk_reproduced_exactly(km):
    published = published_at_risk()
    days = np.sort(published["day"].unique())
    ours = relapse.number_at_risk_table(km, days).melt(id_vars="group", var_name="day", value_name="ours")
    ours["day"] = ours["day"].str.removeprefix("day ").astype("int64")
    compared = published.merge(ours.rename(columns={"group": "arm"}), on=["arm", "day"], how="left")
    assert len(compared) == 33
    mismatches = compared[compared["n_at_risk"] != compared["ours"]]
    assert mismatches.empty, mismatches.to_string()


def test_km_events_and_subjects_per_arm(km):
    assert km.times.entered == 254 and km.times.excluded.empty
    assert {label: curve.events for label, curve in km.groups.items()} == {
        "Placebo": 29,
        "Xanomeline Low Dose": 62,
        "Xanomeline High Dose": 61,
    }


# ---------------------------------------------------------------------------------------------
# 14-6.01: ALT and cholesterol by visit


@pytest.fixture(scope="module")
def trend(cohort):
    return labs.trend_table(cohort, labs.LabSettings(statistic="mean_sd", group="visit"), group_by="arm")


def test_14_6_01_alt_and_cholesterol_n_mean_sd_at_every_visit(trend):
    assert_lab_summary_rows(trend)


def test_14_6_02_low_normal_high_counts_from_the_kept_visit_number(cohort):
    """The analysis visit number (AVISITN) is kept beside each result, so the on-treatment window
    of table 14-6.02 (Week 2 to Week 24) can be chosen from the loaded data."""
    visit_number = pd.to_numeric(cohort.labs["visit_number"], errors="coerce")
    on_treatment = replace(cohort, labs=cohort.labs[visit_number.between(2, 24)])
    rows = labs.with_course_column(labs.lab_data(on_treatment).labs, "arm", on_treatment)
    counts = labs.range_category_counts(rows, ["test", "group"], rule="most_extreme").set_index(["test", "group"])
    published = pd.read_csv(PUBLISHED / "t14-6-02_lab_low_normal_high_counts.csv")
    published = published[published["param"].isin(LAB_TESTS)]
    for row in published.itertuples():
        ours = counts.loc[(LAB_TESTS[row.param][0], row.arm)]
        assert (ours["low"], ours["normal"], ours["high"]) == (row.low_n, row.normal_n, row.high_n), (
            row.param,
            row.arm,
        )


# ---------------------------------------------------------------------------------------------
# The command line on the same folder


def test_cli_summary_of_the_folder_reproduces_the_published_numbers(cli_summary):
    assert cli_summary["cohort"]["courses"] == 254
    assert cli_summary["cohort"]["rows"] == {"courses": 254, "visits": 0, "adverse_events": 1126, "labs": 37122}
    groups = {g["group"]: g for g in cli_summary["adverse_events"]["groups"]}
    any_row = published_5_01().query("level == 'ANY'").iloc[0]
    for arm, label in ARMS.items():
        assert groups[label]["at_risk"] == {"placebo": 86, "low": 84, "high": 84}[arm]
        assert groups[label]["any_event"]["patients"] == int(any_row[f"{arm}_n"])
        assert groups[label]["any_event"]["events"] == int(any_row[f"{arm}_events"])


def test_cli_summary_km_tables_give_the_published_number_at_risk(cli_summary):
    curves = {g["group"]: pd.DataFrame(g["km"]) for g in cli_summary["relapse"]["groups"]}
    for row in published_at_risk().itertuples():
        curve = curves[row.arm]
        later = curve[curve["day"] >= row.day]
        at_risk = int(later["at_risk"].iloc[0]) if len(later) else 0
        assert at_risk == row.n_at_risk, (row.arm, row.day)


def test_cli_summary_lab_rows_match_14_6_01(cli_summary):
    assert_lab_summary_rows(pd.DataFrame(cli_summary["labs"]["rows"]), with_sd=False)


# ---------------------------------------------------------------------------------------------
# Changing the recognised mapping, and SDTM


def test_without_the_treatment_emergent_filter_every_placeable_record_loads(uploaded):
    """Unticking 'leave out events not treatment-emergent' (or deleting the filter from the saved
    mapping) loads every ADAE record that can be placed in time. The r4csr summary counts all
    records; it is reproduced except for subjects whose only records have no usable start day,
    and the report names each of those records."""
    mapping = Mapping.from_json(plan_upload(pilot_files()).mapping.to_json())
    adae = next(m for m in mapping.files if m.file == "adae.csv")
    adae.filters = [f for f in adae.filters if f.column != "TRTEMFL"]
    result = load_tables(pilot_files(), "all AEs", mapping=mapping)
    report = result.report
    # 11 records without a start day cannot be placed in time; 8 began more than a year before the first dose
    assert report.excluded["adae.csv"] == {"missing onset_day": 11, "invalid onset_day": 8}
    assert report.rows_kept["adae.csv"] == 1191 - 19
    named = report.issues[(report.issues["file"] == "adae.csv") & (report.issues["column"] == "onset_day")]
    assert len(named) == 19
    data = se.event_data(result.cohort, se.SideEffectSettings(term_column="term", treatment_emergent=False))
    anyone = se.any_event_table(data, group_by="arm").set_index("group")["courses"]
    raw = pd.read_csv(PILOT / "adae.csv", usecols=["USUBJID", "ASTDY", "TRTA"])
    placeable = raw["ASTDY"].notna() & (raw["ASTDY"] - 1 >= -365)
    unplaceable = raw.groupby("USUBJID").filter(lambda rows: not placeable[rows.index].any())
    lost = unplaceable.drop_duplicates("USUBJID").groupby("TRTA").size()
    published = pd.read_csv(PUBLISHED / "r4csr_ae_summary_all_ae_records.csv")
    expected = published[published["row"] == "With one or more adverse events"].set_index("arm")["n"]
    assert (anyone + lost.reindex(anyone.index, fill_value=0)).to_dict() == expected.to_dict()


def test_sdtm_dm_and_ae_load_with_screen_failures_left_out():
    folder = PILOT / "sdtm"
    if not (folder / "dm.csv").exists():
        pytest.skip(f"SDTM files not found at {folder}")
    result = load_tables({name: (folder / name).read_bytes() for name in ("dm.csv", "ae.csv")}, "SDTM")
    report = result.report
    assert result.cohort.n_courses == 254
    assert report.excluded["dm.csv"] == {"screen failures and subjects not assigned or not treated (ARM)": 52}
    assert result.cohort.courses["arm"].value_counts().to_dict() == {
        "Placebo": 86,
        "Xanomeline High Dose": 84,
        "Xanomeline Low Dose": 84,
    }
    assert report.rows_read["ae.csv"] == 1191
    missing = report.issues[(report.issues["file"] == "ae.csv") & (report.issues["column"] == "onset_day")]
    assert len(missing) == report.excluded["ae.csv"]["missing onset_day"]  # partial start dates, each named by row
    assert_counts_add_up(report)


@pytest.mark.parametrize(
    ("origin_dates", "declared"),
    [
        ("TRTSDT", "start"),  # STARTDT is the first dose
        ("TRTEDT", "end"),  # STARTDT is the last dose
        ("other", ""),  # STARTDT is neither: the file does not say, the user chooses
        (None, ""),  # no STARTDT at all
    ],
)
def test_an_adtte_declares_where_its_time_starts_from_its_origin_date(origin_dates, declared):
    header = "USUBJID,PARAMCD,AVAL,CNSR,TRTSDT,TRTEDT" + (",STARTDT" if origin_dates else "")
    rows = []
    for i, (first, last) in enumerate([("2014-01-02", "2014-07-02"), ("2012-08-05", "2012-09-01")]):
        start = {"TRTSDT": first, "TRTEDT": last, "other": "2011-01-01"}.get(origin_dates)
        rows.append(f"S{i},TTDE,{10 + i},0,{first},{last}" + (f",{start}" if origin_dates else ""))
    files = {"adtte.csv": ("\n".join([header, *rows]) + "\n").encode()}
    mapping = plan_upload(files).sheets[0].mappings[0]
    assert mapping.format == "CDISC ADaM ADTTE" and mapping.time_origin == declared
    saved = Mapping.from_json(Mapping([mapping]).to_json()).files[0]  # a saved mapping keeps it
    assert saved.time_origin == declared
