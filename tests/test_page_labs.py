"""The Labs page, driven headlessly: every chart and table renders with its definitions stated;
each setting (summary statistic, time axis, comparison, range rule, baseline window, chosen tests)
changes what is shown; data without labs, visits or bilirubin is said, not failed on."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import demo
from analysis.areas.charts import plain_title
from analysis.cohort.loading import DEMO_DIR
from tests import apptest

ROOT = Path(__file__).resolve().parent.parent
PAGE = "views/labs.py"
needs_demo = pytest.mark.skipif(
    not (DEMO_DIR / "courses.csv").exists(), reason="the bundled demo cohort (data/demo) is not generated"
)


def csv_upload(n_courses: int = 200, labs=True, edit=None) -> tuple[tuple[str, bytes], ...]:
    """A small generated cohort as this session's uploaded files; `edit(labs)` changes the labs first."""
    tables = demo.generate_cohort(n_courses, seed=5)
    files = [("courses.csv", tables["courses"].to_csv(index=False).encode())]
    if labs:
        lab_table = tables["labs"] if edit is None else edit(tables["labs"].copy())
        files.append(("labs.csv", lab_table.to_csv(index=False).encode()))
    return tuple(files)


def open_page(query: dict | None = None, upload: tuple | None = None) -> AppTest:
    return apptest.open_page(PAGE, query, upload)


def specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def chart(at: AppTest, title_start: str) -> dict:
    matches = [s for s in specs(at) if plain_title(s["layout"]["title"]["text"]).startswith(title_start)]
    assert matches, [plain_title(s["layout"]["title"]["text"])[:60] for s in specs(at)]
    return matches[0]


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


@pytest.fixture(scope="module")
def uploaded():
    return open_page(upload=csv_upload())


def test_page_renders_every_section_with_its_definitions(uploaded):
    at = uploaded
    assert at.title[0].value == "Labs"
    titles = [plain_title(s["layout"]["title"]["text"]) for s in specs(at)]
    for start in (
        "New out-of-range values",
        "Alanine aminotransferase (ALT) during",
        "Aspartate aminotransferase (AST) during",
        "Triglycerides during",
        "Total cholesterol during",
        "How often results were above",
        "How far values rose",
        "Liver safety (eDISH)",
        "Alanine aminotransferase (ALT): individual courses",
        "Was monitoring done?",
    ):
        assert any(t.startswith(start) for t in titles), start
    trend = chart(at, "Alanine aminotransferase (ALT) during")
    assert "median" in trend["layout"]["title"]["text"] and trend["layout"]["xaxis"]["title"]["text"].startswith(
        "Month of course"
    )
    assert any("n = " in (trace.get("hovertemplate") or "") for trace in trend["data"])
    assert "Median and interquartile range by month of course" in texts(at.caption)


def test_headline_metrics_and_the_article_quote(uploaded):
    labels = [m.label for m in uploaded.metric]
    assert labels == [
        "New raised liver enzymes",
        "New raised cholesterol",
        "New raised triglycerides",
        "Liver and lipids monitored",
        "Months with a pregnancy test",
    ]
    assert all("95% CI" in m.delta for m in uploaded.metric)
    assert '"Liver enzyme changes"' in texts(uploaded.markdown) and "Zane" in texts(uploaded.markdown)


def test_literature_and_the_articles_rare_are_on_the_new_abnormal_chart(uploaded):
    names = [trace.get("name") for trace in chart(uploaded, "New out-of-range values")["data"]]
    assert (
        "Published (Zane 2006, n=13,772)" in names and "Article, read as under 1 in 1,000 courses (C13, C14)" in names
    )


def test_every_table_has_a_csv_download(uploaded):
    assert len(uploaded.get("download_button")) >= len(uploaded.dataframe) >= 6


def test_mean_and_sd(uploaded):
    at = uploaded.segmented_control(key="labs_statistic").set_value("mean_sd").run()
    assert not at.exception
    assert "Line: mean; shaded: ± 1 SD" in plain_title(chart(at, "Triglycerides during")["layout"]["title"]["text"])
    at.segmented_control(key="labs_statistic").set_value("median_iqr").run()


def test_nominal_visit_axis_from_the_url():
    # Bound widgets with a format_func carry the label shown in the URL.
    at = open_page({"labs_time": "Nominal visit", "labs_statistic": "Mean and SD"}, upload=csv_upload(120))
    spec = chart(at, "Total cholesterol during")
    assert spec["layout"]["xaxis"]["title"]["text"] == "Nominal visit"
    assert "Baseline" in spec["layout"]["xaxis"]["categoryarray"]
    assert "Line: mean" in plain_title(spec["layout"]["title"]["text"])


def test_comparing_groups_draws_one_line_per_group(uploaded):
    at = uploaded.selectbox(key="labs_group").select("sex").run()
    names = {
        trace.get("name")
        for trace in chart(at, "Alanine aminotransferase (ALT) during")["data"]
        if trace.get("mode") == "lines+markers"
    }
    assert {"F", "M"} <= names
    table = next(df.value for df in at.dataframe if "group" in df.value.columns)
    assert {"F", "M"} <= set(table["group"])
    at.selectbox(key="labs_group").select("none").run()


def test_range_rule_and_baseline_window_from_the_url():
    at = open_page(
        {"labs_range_rule": "The single most extreme value (CDISC pilot)", "labs_baseline_days": "30"},
        upload=csv_upload(120),
    )
    assert "baseline = last result in the 30 days up to the first dose" in texts(at.caption)
    assert "single most extreme value" in texts(at.markdown)


def test_chosen_tests_shift_table_and_individual_courses(uploaded):
    at = uploaded.multiselect(key="labs_tests").set_value(["TC", "LDL"]).run()
    titles = [plain_title(s["layout"]["title"]["text"]) for s in specs(at)]
    assert any(t.startswith("LDL cholesterol during") for t in titles)
    assert not any(t.startswith("Alanine aminotransferase (ALT) during") for t in titles)
    at = at.selectbox(key="labs_shift_test").select("TG").run()
    assert "Triglycerides: grade before treatment" in texts(at.markdown)
    at = at.selectbox(key="labs_spaghetti_test").select("TC").run()
    assert any(
        plain_title(s["layout"]["title"]["text"]).startswith("Total cholesterol: individual courses") for s in specs(at)
    )


def test_data_without_labs_says_what_is_missing():
    at = open_page(upload=csv_upload(60, labs=False))
    assert "need a labs table" in texts(at.info)
    assert not at.get("plotly_chart")


def drop_bilirubin_and_visits_and_break_a_unit(labs: pd.DataFrame) -> pd.DataFrame:
    labs = labs[labs["test"] != "BILI"].drop(columns="visit")
    labs.loc[labs.index[0], "unit"] = "furlongs"
    return labs


def test_missing_bilirubin_visits_and_an_unknown_unit_are_said():
    at = open_page(upload=csv_upload(100, edit=drop_bilirubin_and_visits_and_break_a_unit))
    assert "the data has no BILI results" in texts(at.info)
    assert at.segmented_control(key="labs_time").options == ["Month of course"]
    findings = next(df.value for df in at.dataframe if "message" in df.value.columns)
    assert findings[["row", "column", "value"]].values.tolist()[0] == [2, "unit", "furlongs"]
    assert "**1** left out" in texts(at.markdown)


@needs_demo
def test_demo_page_opens():
    at = open_page()
    assert at.title[0].value == "Labs"
    assert "Synthetic demo data" in texts(at.markdown)
    assert chart(at, "Liver safety (eDISH)")["data"]


def test_data_without_pregnancy_tests_says_there_are_none_rather_than_zero_percent():
    at = open_page(upload=csv_upload(edit=lambda labs: labs[labs["test"] != "HCG"]))
    pregnancy = next(m for m in at.metric if m.label == "Months with a pregnancy test")
    assert pregnancy.value == "none in the data" and "no pregnancy test" in pregnancy.help
    assert "0.0%" not in pregnancy.value


def test_a_table_in_a_closed_expander_is_drawn_once_opened():
    """A closed expander sends its label alone; opening it (a rerun) draws its table and downloads."""
    at = apptest.open_page(PAGE, files=csv_upload(), tables=False)
    closed = apptest.closed_tables(at)
    assert len(closed) >= 6 and "opened_labs_data_notes" in closed
    tables = [e for e in at.get("expander") if e.label.endswith("(table)")]
    assert tables and all(not e.children for e in tables)
    assert not any("Recognised tests" in m.value for m in at.markdown)
    apptest.open_every_table(at)
    tables = [e for e in at.get("expander") if e.label.endswith("(table)")]
    assert all(e.dataframe and e.get("download_button") for e in tables)
    assert any("Recognised tests" in m.value for m in at.markdown)
    assert apptest.closed_tables(at) == []
