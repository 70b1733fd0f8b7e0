"""The Relapse page, driven headlessly: every definition option renders without an exception."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.areas.charts import plain_title
from analysis.cohort.loading import DEMO_DIR
from tests import apptest

ROOT = Path(__file__).resolve().parent.parent
PAGE = "views/relapse.py"
PILOT = ROOT.parent / "shared" / "external" / "cdisc_pilot"
ORIGIN_LABELS = {"end": "the last dose (end of course)", "start": "the first dose (trial data)"}
needs_demo = pytest.mark.skipif(
    not (DEMO_DIR / "courses.csv").exists(), reason="the bundled demo cohort (data/demo) is not generated"
)


def courses_csv(n: int = 300, seed: int = 1, follow_up: bool = True) -> bytes:
    """A small upload in the canonical format, with or without follow-up after the course."""
    rng = np.random.default_rng(seed)
    relapse_after = np.ceil(rng.exponential(500, n))
    followup = rng.integers(100, 1200, n)
    table = pd.DataFrame(
        {
            "patient_id": [f"U{i:04d}" for i in range(n)],
            "course_number": 1,
            "sex": rng.choice(["F", "M"], n),
            "age": rng.uniform(15, 40, n).round(1),
            "weight_kg": 60,
            "end_day": 150,
            "cumulative_dose_mg": (rng.uniform(80, 260, n) * 60).round(),
            "site": rng.choice(["North", "South"], n),
            "trial_arm": rng.choice(["a", "b"], n),
        }
    )
    if follow_up:
        table["followup_end_day"] = 150 + followup
        table["relapse_day"] = np.where(relapse_after <= followup, 150 + relapse_after, np.nan)
        table["retreat_day"] = np.where(relapse_after <= followup / 2, 180 + relapse_after, np.nan)
        table.loc[:4, "end_day"] = np.nan  # five courses that cannot enter
    return table.to_csv(index=False).encode()


def open_page(query: dict | None = None, upload: bytes | None = None) -> AppTest:
    """The page on the demo, or on `upload` as this session's courses.csv."""
    return apptest.open_page(PAGE, query, None if upload is None else (("courses.csv", upload),))


@pytest.fixture(scope="module")
def uploaded():
    return open_page(upload=courses_csv())


def test_page_shows_relapse_curves_tables_and_second_courses(uploaded):
    at = uploaded
    assert at.title[0].value == "Relapse"
    titles = apptest.chart_titles(at)
    assert any(t.startswith("Staying free of relapse after the course") and "by cumulative" not in t for t in titles)
    assert any("by cumulative dose" in t and "Log-rank" in t for t in titles)
    assert any(t.startswith("Relapse: this data beside published figures") for t in titles)
    assert any(t.startswith("Starting a further course") for t in titles)
    labels = [m.label for m in at.metric]
    assert {
        "Relapse-free at 1 year",
        "Relapse-free at 2 years",
        "Relapse-free at 3 years",
        "Median time to relapse",
    } <= set(labels)
    assert any(
        "Minimal Relapse" in m.value
        and "reads as *fewer than 1 in 10 relapse within a year* (C07, reading a" in m.value
        for m in at.markdown
    )
    assert len(at.get("download_button")) >= 6


def test_courses_left_out_are_listed(uploaded):
    assert any("5 courses left out of the relapse estimate" in e.label for e in uploaded.expander)


def test_cox_table_is_shown(uploaded):
    frames = [df.value for df in uploaded.dataframe]
    cox = next(frame for frame in frames if "hazard ratio" in frame.columns)
    assert (cox["hazard ratio"] > 0).all() and "p (Wald)" in cox.columns


@pytest.mark.parametrize("origin", ["end", "start"])
@pytest.mark.parametrize("retreat", [True, False])
def test_each_definition_option(uploaded, origin, retreat):
    at = uploaded
    at.radio(key="relapse_origin").set_value(ORIGIN_LABELS[origin])
    at.toggle(key="relapse_retreat").set_value(retreat).run()
    assert not at.exception
    titles = apptest.chart_titles(at)
    assert any(("last dose" if origin == "end" else "first dose") in t for t in titles)
    wording = "counts as relapse" if retreat else "censored when a further course starts"
    assert any(wording in t for t in titles)


def test_every_grouping_option(uploaded):
    at = uploaded
    selector = at.selectbox(key="relapse_by")
    assert selector.options[0] == "Cumulative dose (mg/kg)" and "trial_arm" in selector.options
    for index, option in enumerate(selector.options):
        at.selectbox(key="relapse_by").select_index(index).run()
        assert not at.exception, option
    at.selectbox(key="relapse_by").select("Sex").run()
    assert any("by sex" in t for t in apptest.chart_titles(at))


def test_data_without_follow_up_says_what_is_missing():
    at = open_page(upload=courses_csv(follow_up=False))
    assert any("relapse_day and followup_end_day" in info.value for info in at.info)
    assert not at.get("plotly_chart")


@needs_demo
def test_demo_page():
    at = open_page()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 5


def test_data_recording_no_further_course_says_so_instead_of_drawing_second_courses():
    at = open_page(upload=courses_csv().replace(b",retreat_day", b",other_day"))
    assert any("records no further course" in info.value for info in at.info)
    assert not any(t.startswith("Starting a further course") for t in apptest.chart_titles(at))


def test_published_figures_are_not_set_beside_times_from_the_first_dose(uploaded):
    at = uploaded
    at.radio(key="relapse_origin").set_value(ORIGIN_LABELS["start"]).run()
    assert not any("beside published figures" in t for t in apptest.chart_titles(at))
    assert any("Published figures are not shown beside these curves" in c.value for c in at.caption)
    at.radio(key="relapse_origin").set_value(ORIGIN_LABELS["end"]).run()
    assert any(t.startswith("Relapse: this data beside published figures") for t in apptest.chart_titles(at))


def test_trial_data_counts_from_where_its_time_to_event_table_starts():
    """The CDISC pilot's ADTTE counts from STARTDT, the first dose: the page counts from there, so no
    record is dropped for dates before the last dose, and the axis has marks to read."""
    if not (PILOT / "adtte.csv").exists():
        pytest.skip(f"CDISC pilot data not found at {PILOT}")
    files = tuple((name, (PILOT / name).read_bytes()) for name in ("adsl.csv", "adae.csv", "adtte.csv"))
    at = apptest.open_page(PAGE, files=files, timeout=300)
    assert all(r.key != "relapse_origin" for r in at.radio)  # no choice to make: the data says where time starts
    assert any("Time counts from **the first dose**" in m.value for m in at.markdown)
    assert not any("left out of the relapse estimate" in e.label for e in at.expander)
    assert any(c.value == "All 254 courses entered the estimate." for c in at.caption)
    charts = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    titles = [plain_title(c["layout"]["title"]["text"]) for c in charts]
    curves = [c for c, title in zip(charts, titles) if title.startswith("Staying free of relapse")]
    assert curves and all(
        "Months since the first dose" == plain_title(c["layout"]["xaxis"]["title"]["text"]) for c in curves
    )
    assert all(
        "254 of 254 courses; left out: 0 for missing dates, 0 for inconsistent dates" in title
        for title in titles
        if title.startswith("Staying free of relapse")
    )
    ticks = curves[0]["layout"]["xaxis"]["ticktext"]
    assert len(ticks) >= 4, ticks
    assert not any("beside published figures" in title for title in titles)
    assert not any("US claims data" in m.value for m in at.markdown)
    assert any("records no further course" in info.value for info in at.info)


def test_group_tables_leave_blank_cells_empty(uploaded):
    assert uploaded.dataframe and all(
        d.proto.HasField("placeholder") and d.proto.placeholder == "" for d in uploaded.dataframe
    )
