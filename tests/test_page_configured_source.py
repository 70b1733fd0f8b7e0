"""A data source the server's administrator configures (`[data_source]` in secrets.toml) is offered
first in the sidebar, read by its engine and checked as an upload is; a mistake in it is said on the
Data page, naming the table, never raised."""

from __future__ import annotations

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from analysis.demo import write_demo
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    folder = tmp_path_factory.mktemp("registry")
    write_demo(folder, n_courses=300, seed=3)
    pq.write_table(pa_csv.read_csv(folder / "visits.csv"), folder / "visits.parquet")
    return {
        "courses": str(folder / "courses.csv"),
        "visits": str(folder / "visits.parquet"),
        "adverse_events": str(folder / "adverse_events.csv"),
        "labs": str(folder / "labs.csv"),
    }


def app(data_source: dict, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.secrets["data_source"] = data_source
    if page:
        at.switch_page(page)
    return at.run()


def sidebar_text(at: AppTest) -> str:
    return " ".join(str(element.value) for element in [*at.sidebar.markdown, *at.sidebar.caption])


def page_text(at: AppTest) -> str:
    """The main area's text, tables included."""
    parts = [str(element.value) for element in [*at.main.markdown, *at.main.error, *at.main.caption]]
    return " ".join(parts + [frame.value.to_string() for frame in at.main.dataframe])


def test_the_configured_source_is_offered_first_and_opened(registry):
    at = app({"label": "Regional registry", **registry})
    assert not at.exception
    source = at.sidebar.radio(key="source")
    assert source.options[:2] == ["Regional registry", "Synthetic demo cohort"]
    assert source.value == "configured"
    assert "300 courses" in sidebar_text(at)


def test_the_data_page_names_the_source_and_its_tables(registry):
    at = app({"label": "Regional registry", **registry}, "views/data.py")
    assert "Regional registry (duckdb: courses=" in page_text(at) and "visits.parquet" in page_text(at)


def test_a_table_that_cannot_be_read_is_named_on_the_data_page(registry, tmp_path):
    missing = str(tmp_path / "gone.parquet")
    at = app({"label": "Regional registry", **registry, "labs": missing}, "views/data.py")
    assert not at.exception
    assert any("could not be loaded" in str(e.value) for e in at.sidebar.error)
    assert f"labs: {missing} could not be read on duckdb" in page_text(at)


def test_a_mistake_in_the_section_is_said_not_raised(registry):
    at = app({"label": "Regional registry", **registry, "password": "x"}, "views/data.py")
    assert not at.exception
    assert "[data_source] has keys it does not use: password" in page_text(at)


def test_the_configured_source_runs_on_spark(registry, spark):
    at = app({"label": "Lake", "engine": "spark", "master": "local[2]", **registry})
    assert not at.exception
    assert "300 courses" in sidebar_text(at)
