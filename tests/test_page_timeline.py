"""The Course timeline page: opened by an id in the URL, by a link from another page, by
previous/next; hidden in presenter mode; a plain message for an unknown id."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.areas.charts import plain_title
from analysis.areas.timeline import compute as timeline
from analysis.cohort.loading import load_demo
from tests import apptest

ROOT = Path(__file__).resolve().parent.parent
PAGE = "views/timeline.py"


@pytest.fixture(scope="module")
def demo():
    return load_demo().cohort


def _open(query: dict | None = None) -> AppTest:
    return apptest.open_page(PAGE, query)


def _figure_title(at: AppTest) -> str:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return plain_title(json.loads(charts[0].proto.spec)["layout"]["title"]["text"])


def _ids(demo, positions):
    return timeline.course_ids(demo.courses.iloc[positions]).tolist()


def test_opens_on_the_first_course_without_an_id(demo):
    at = _open()
    first = _ids(demo, [0])[0]
    assert at.selectbox(key="course").value == first
    assert f"Course {first}:" in _figure_title(at)
    assert any("**Cumulative dose**" in m.value for m in at.markdown)


def test_id_in_the_url_opens_that_course(demo):
    wanted = _ids(demo, [37])[0]
    at = _open({"course": wanted})
    assert at.selectbox(key="course").value == wanted
    assert f"Course {wanted}:" in _figure_title(at)
    facts = timeline.course_facts(demo, wanted)
    assert any(f"**Sex**  \n{facts['Sex']}" == m.value for m in at.markdown)


def test_link_from_another_page_opens_the_right_course(demo):
    row = demo.courses.iloc[11]
    link = urlparse(timeline.timeline_link(row["patient_id"], row["course_number"]))
    assert link.path == "timeline"
    query = {key: values[0] for key, values in parse_qs(link.query).items()}
    at = _open(query)
    assert f"Course {row['patient_id']}/{int(row['course_number'])}:" in _figure_title(at)


def test_previous_and_next_step_through_the_courses(demo):
    first, second, third = _ids(demo, [0, 1, 2])
    at = _open({"course": second})
    at.button(key="timeline_next").click().run()
    assert not at.exception
    assert at.selectbox(key="course").value == third
    at.button(key="timeline_previous").click().run()
    at.button(key="timeline_previous").click().run()
    assert at.selectbox(key="course").value == first
    assert at.button(key="timeline_previous").disabled


def test_previous_and_next_follow_the_sidebar_filters(demo):
    males = demo.courses[demo.courses["sex"] == "M"]
    first, second = timeline.course_ids(males.iloc[:2]).tolist()
    at = _open({"course": first, "sex": "M"})
    at.button(key="timeline_next").click().run()
    assert at.selectbox(key="course").value == second


def test_unknown_id_gives_a_clear_message():
    at = _open({"course": "NOBODY/1"})
    assert not at.get("plotly_chart")
    assert any("No course 'NOBODY/1' in this dataset" in w.value for w in at.warning)


def test_hidden_in_presenter_mode(demo):
    at = _open({"course": _ids(demo, [0])[0], "presenter": "1"})
    assert not at.get("plotly_chart")
    assert not at.dataframe
    assert any("hidden in presenter mode" in i.value for i in at.info)


@pytest.mark.parametrize("reason", ["all", *timeline.REASONS])
def test_courses_worth_a_look_for_each_reason(demo, reason):
    label = "All reasons" if reason == "all" else timeline.REASONS[reason]  # the URL carries the label shown
    at = _open({"timeline_reason": label})
    assert at.selectbox(key="timeline_reason").value == reason
    expected = timeline.courses_worth_a_look(demo)
    if reason != "all":
        expected = expected[expected["reason_key"] == reason]
    shown = at.dataframe[0].value
    assert shown["course"].tolist() == expected["course"].head(200).tolist()
    assert any(b.label.startswith("Download") for b in at.get("download_button"))


def test_no_calendar_dates_on_the_page(demo):
    row = demo.courses.iloc[5]
    at = _open({"course": timeline.course_id(row["patient_id"], row["course_number"])})
    start = row["start_date"]
    assert not pd.isna(start)
    written = {start.strftime(f) for f in ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d %b %Y", "%b %d, %Y")}
    page_text = at.get("plotly_chart")[0].proto.spec + " ".join(m.value for m in at.markdown)
    assert not any(text in page_text for text in written)


@pytest.mark.browser
@pytest.mark.skipif(not shutil.which("/usr/bin/chromium"), reason="chromium is not installed")
def test_link_opens_the_course_in_a_browser(demo):
    from tests.browser import browser_page, running_app, wait_for_app

    row = demo.courses.iloc[23]
    wanted = timeline.course_id(row["patient_id"], row["course_number"])
    with running_app() as base_url, browser_page() as page:
        # On a fresh server Streamlit serves a deep link from the pages/ folder until the entry point
        # has run once (its legacy multipage mode), so the app is opened once first.
        page.goto(base_url)
        wait_for_app(page)
        page.goto(f"{base_url}/{timeline.timeline_link(row['patient_id'], row['course_number'])}")
        wait_for_app(page)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        assert page.get_by_text(f"Course {wanted}:").first.is_visible()
