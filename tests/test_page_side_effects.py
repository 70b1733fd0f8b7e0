"""The Side effects page on the demo: every chart renders, each definition changes what is
counted, the subgroup comparison follows its widgets, and every table can be downloaded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from csv_bundles import bundle
from streamlit.testing.v1 import AppTest

from tests import apptest

APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")
PAGE = "views/side_effects.py"


def _open(query: dict | None = None) -> AppTest:
    return apptest.open_page(PAGE, query)


_titles = apptest.chart_titles


def _metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def _caption_text(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


@pytest.fixture(scope="module")
def default_page():
    return _open()


def test_page_renders_every_chart(default_page):
    at = default_page
    assert at.title[0].value == "Side effects"
    titles = _titles(at)
    for expected in (
        "The document's side effects against the data",
        "How often each side effect occurred",
        "When side effects began",
        "How severe side effects were",
        "Did side effects go away after the course?",
        "Side effects per course",
        "Any side effect by sex",
    ):
        assert any(t.startswith(expected) for t in titles), (expected, titles)
    assert _metric(at, "Courses at risk") != "–"


def test_named_effects_show_the_documents_word_and_literature(default_page):
    named = next(df.value for df in default_page.dataframe if "article says" in df.value.columns)
    assert list(named["side effect"])[:2] == ["Dry lips and skin", "Chapped lips"]
    assert set(named["article says"]) == {"common", "rare", "very rare"}
    assert named["published figure"].str.contains("Rademaker").any()


def test_unrecognised_terms_are_listed(default_page):
    tables = [df.value for df in default_page.dataframe if "term as written" in df.value.columns]
    assert tables and len(tables[0]) > 0


def test_every_table_has_a_download(default_page):
    # Named effects, resolution, actions, comparison, all terms, unrecognised terms: each as CSV and as Excel.
    labels = [button.label for button in default_page.get("download_button") if not button.key.startswith("export-")]
    assert labels.count("Download CSV") == 6
    assert labels.count("Download Excel") == 6


def _counted(at: AppTest) -> tuple[int, int]:
    found = re.search(r"([\d,]+) episodes recorded, ([\d,]+) counted", _caption_text(at))
    return tuple(int(g.replace(",", "")) for g in found.groups())


def test_all_recorded_events_counts_every_episode():
    emergent = _open()
    everything = _open({"ae_emergent": "false"})
    assert "all recorded side effects" in _caption_text(everything)
    recorded, counted = _counted(everything)
    assert counted == recorded >= _counted(emergent)[1]


def test_window_setting_reaches_the_subtitles():
    at = _open({"ae_window": "7"})
    assert at.number_input(key="ae_window").value == 7
    assert any("to 7 days after the last dose" in t for t in _titles(at))


def test_resolution_days_setting():
    at = _open({"ae_resolution_days": "30"})
    assert any(m.label.startswith("Gone within 30 days") for m in at.metric)


def test_terms_as_written():
    at = _open({"ae_terms": "As written"})
    assert at.radio(key="ae_terms").value == "As written"
    table = next(df.value for df in at.dataframe if "in the dictionary" in df.value.columns)
    assert "dry lips" in set(table["side effect"])


def test_comparison_follows_its_widgets(default_page):
    at = default_page
    at.selectbox(key="ae_group").select("daily_dose_band").run()
    apptest.open_every_table(at.selectbox(key="ae_effect").select("Chapped lips").run())
    assert any(t.startswith("Chapped lips by daily dose") for t in _titles(at))
    compared = next(df.value for df in at.dataframe if "Fisher p" in df.value.columns)
    assert list(compared["group"])[:3] == ["<0.5", "0.5-1.0", ">1.0"]


def test_comparison_restored_from_the_url():
    at = _open({"ae_group": "Site", "ae_effect": "Vision changes"})
    assert any(t.startswith("Vision changes by site") for t in _titles(at))


def _open_upload(files: dict[str, bytes]) -> AppTest:
    return apptest.open_page(PAGE, files=tuple(files.items()))


def test_data_without_adverse_events_says_so():
    at = _open_upload(bundle(adverse_events=None))
    assert any("no adverse events recorded" in info.value for info in at.info)
    assert not at.get("plotly_chart")


def test_data_without_grades_says_which_column_is_missing():
    at = _open_upload(bundle())
    assert any("column grade of the adverse events is empty" in info.value for info in at.info)
    assert any("Neither end_reason of the courses" in info.value for info in at.info)
    assert any(t.startswith("Did side effects go away") for t in _titles(at))


def test_terms_are_shown_with_one_capitalisation_and_stored_as_they_are(default_page):
    """The dictionary's "Cheilitis" and the unrecognised "sunburn" are shown alike ("Sunburn") in the charts,
    the tables and the choice of effect; the data and the downloads keep the words as they are."""
    import json

    at = default_page
    ranked = next(
        json.loads(c.proto.spec) for c in at.get("plotly_chart") if "How often each side effect" in c.proto.spec
    )
    shown = [label for trace in ranked["data"] for label in (trace.get("y") or [])]
    assert "Cheilitis" in shown and "Sunburn" in shown and "sunburn" not in shown
    every = next(df.value for df in at.dataframe if {"side effect", "body system"} <= set(df.value.columns))
    assert "Sunburn" in set(every["side effect"]) and all(t[:1] == t[:1].upper() for t in every["side effect"])
    assert "Sunburn" in at.selectbox(key="ae_effect").options
    from analysis.areas.side_effects import compute as se
    from analysis.cohort.loading import load_demo

    assert "sunburn" in set(se.incidence_table(se.event_data(load_demo().cohort))["term"])  # stored as they are
