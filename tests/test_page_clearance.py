"""The Clearance page, driven headlessly: each definition and missed-visit rule renders and is stated
on the charts; the subgroup comparison follows its widget; missing data is said, not failed on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import demo
from analysis.areas.charts import plain_title
from analysis.areas.clearance.compute import DEFINITIONS, MISSING_RULES, ClearanceSettings
from analysis.cohort.loading import DEMO_DIR
from tests import apptest

ROOT = Path(__file__).resolve().parent.parent
PAGE = "views/clearance.py"
needs_demo = pytest.mark.skipif(
    not (DEMO_DIR / "courses.csv").exists(), reason="the bundled demo cohort (data/demo) is not generated"
)


def csv_upload(n_courses: int = 300, visits: bool = True) -> tuple[tuple[str, bytes], ...]:
    """A small generated cohort as this session's uploaded courses.csv (and visits.csv)."""
    tables = demo.generate_cohort(n_courses, seed=7)
    files = [("courses.csv", tables["courses"].to_csv(index=False).encode())]
    if visits:
        files.append(("visits.csv", tables["visits"].to_csv(index=False).encode()))
    return tuple(files)


def open_page(query: dict | None = None, upload: tuple | None = None) -> AppTest:
    return apptest.open_page(PAGE, query, upload)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def uploaded():
    return open_page(upload=csv_upload())


def test_page_renders_every_chart_with_the_definition_in_its_subtitle(uploaded):
    at = uploaded
    assert at.title[0].value == "Clearance"
    titles = apptest.chart_titles(at)
    described = ClearanceSettings().describe()
    for start in (
        "Share of courses clear, month by month",
        "How far lesion counts fell",
        "Acne severity (IGA) month by month",
        "Initial flare",
        "Time to clearance",
        "Clear at the end of course, by",
    ):
        assert any(t.startswith(start) for t in titles), (start, titles)
    assert described in next(t for t in titles if t.startswith("Share of courses clear"))
    assert metric(at, "Clear at end of course").endswith("%")


def test_by_month_chart_shows_denominators_and_reference_lines(uploaded):
    spec = json.loads(uploaded.get("plotly_chart")[0].proto.spec)
    labelled = [text for text in spec["layout"]["xaxis"]["ticktext"] if text]
    assert labelled and all(re.search(r"<br><span[^>]*>[\d,]+</span>$", text) for text in labelled)  # n under each
    annotations = " ".join(plain_title(a.get("text", "")) for a in spec["layout"].get("annotations", []))
    assert "Article, read as 80-100% of courses end clear or almost clear (IGA 0/1) (C01b): ≥ 80%" in annotations
    assert "87%" in annotations


def test_every_table_has_a_csv_download(uploaded):
    assert len(uploaded.get("download_button")) >= len(uploaded.dataframe) >= 6


@pytest.mark.parametrize("definition", ["iga01", "iga_success", "lesion_reduction"])
@pytest.mark.parametrize("missing", ["observed", "locf", "nri"])
def test_each_definition_and_missed_visit_rule(definition, missing):
    query = {
        "clearance_definition": DEFINITIONS[definition],
        "clearance_missing": MISSING_RULES[missing],
        "clearance_reduction": "75",
    }
    at = open_page(query, upload=csv_upload(150))
    settings = ClearanceSettings(definition=definition, missing=missing, reduction_percent=75)
    titles = apptest.chart_titles(at)
    assert any(settings.describe() in t for t in titles), (settings.describe(), titles)
    assert at.selectbox(key="clearance_definition").value == definition
    assert settings.describe() + "." in [c.value for c in at.caption]


def test_changing_the_definition_redraws_the_charts(uploaded):
    at = uploaded.selectbox(key="clearance_definition").select("lesion_reduction").run()
    assert not at.exception
    assert any("at least 80% fewer total lesions" in t for t in apptest.chart_titles(at))
    at = at.selectbox(key="clearance_definition").select("iga01").run()


def test_subgroup_choice_changes_the_comparison(uploaded):
    at = apptest.open_every_table(uploaded.selectbox(key="clearance_group").select("site").run())
    assert any(t.startswith("Clear at the end of course, by site") for t in apptest.chart_titles(at))
    groups = next(df.value for df in at.dataframe if "group" in df.value.columns)
    assert set(groups["group"]) == {"North", "Central", "South"}


def test_data_without_visits_says_what_is_missing():
    at = open_page(upload=csv_upload(50, visits=False))
    assert any("no visits table" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_counting_rules_are_on_the_page(uploaded):
    text = " ".join(m.value for m in uploaded.markdown)
    assert "Missed visits" in text and "End of course" in text
    quality = next(df.value for df in uploaded.dataframe if "what" in df.value.columns)
    assert "Courses without any visit" in set(quality["what"])


@needs_demo
def test_demo_page_opens_with_the_literature_comparison():
    at = open_page()
    assert any("Published: 87%" in m.value for m in at.markdown)
    by_month = next(df.value for df in at.dataframe if "courses clear" in df.value.columns)
    assert isinstance(by_month, pd.DataFrame) and (by_month["courses counted"] > 0).all()
    assert by_month["rate"].between(0, 1).all()


def test_the_page_names_the_reading_of_the_claim_it_shows(uploaded):
    """IGA 0/1 (the page's default) is C01's second reading; at least 80% fewer lesions its first; IGA success neither."""
    read_as = "read as *80-100% of courses end clear or almost clear (IGA 0/1)*"
    assert any(read_as in m.value and "(C01, reading b)" in m.value for m in uploaded.markdown)
    lesions = open_page({"clearance_definition": DEFINITIONS["lesion_reduction"]}, csv_upload())
    assert any("read as *most courses end with at least 80% fewer lesions*" in m.value for m in lesions.markdown)
    titles = {plain_title(json.loads(c.proto.spec)["layout"]["title"]["text"]): c for c in lesions.get("plotly_chart")}
    lesion_chart = json.loads(next(c for t, c in titles.items() if t.startswith("How far lesion")).proto.spec)
    notes = " ".join(plain_title(a.get("text", "")) for a in lesion_chart["layout"].get("annotations", []))
    assert "Article, read as most courses end with at least 80% fewer lesions (C01): median at -80%" in notes
    success = open_page({"clearance_definition": DEFINITIONS["iga_success"]}, csv_upload())
    by_month = json.loads(success.get("plotly_chart")[0].proto.spec)
    assert not any("Article" in a.get("text", "") for a in by_month["layout"].get("annotations", []))
    assert any("no article line is drawn" in c.value for c in success.caption)


def test_data_without_iga_names_the_missing_column():
    tables = demo.generate_cohort(120, seed=3)
    visits = tables["visits"].drop(columns=["iga"])
    courses = tables["courses"].drop(columns=["baseline_iga"])
    upload = (
        ("courses.csv", courses.to_csv(index=False).encode()),
        ("visits.csv", visits.to_csv(index=False).encode()),
    )
    at = open_page(upload=upload)
    assert any("choose the lesion-reduction definition" in i.value for i in at.info)
    assert any("the severity chart needs them" in i.value for i in at.info)
    at = open_page({"clearance_definition": DEFINITIONS["lesion_reduction"]}, upload=upload)
    assert not any("choose the lesion-reduction definition" in i.value for i in at.info)
    assert metric(at, "Clear at end of course").endswith("%")


def test_courses_left_out_are_said_under_the_chart():
    at = open_page({"clearance_definition": DEFINITIONS["lesion_reduction"]}, upload=csv_upload(150))
    caption = next(c.value for c in at.caption if c.value.startswith("The number under each month"))
    quality = next(df.value for df in at.dataframe if "what" in df.value.columns).set_index("what")["count"]
    never = quality["Courses never assessed during the course"]
    assert never > 0 and f"Not in any month: {never:,} never assessed during the course" in caption
