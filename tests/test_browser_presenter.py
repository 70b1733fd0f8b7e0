"""Presenter mode on a 1920 x 1080 projector, measured in a real browser: the key numbers are at least
twice the body text and every chart's type is large enough to read from the back of a room."""

import shutil

import pytest

from analysis.areas.charts import PROJECTOR_FONT
from tests.browser import CHROMIUM, browser_page, running_app, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")]

SIZES = """() => {
  const px = element => element ? parseFloat(getComputedStyle(element).fontSize) : null;
  const all = selector => [...document.querySelectorAll(selector)].map(px);
  return {
    metric_values: all('[data-testid="stMetricValue"] p, [data-testid="stMetricValue"]:not(:has(p))'),
    metric_labels: all('[data-testid="stMetricLabel"] p'),
    body: px(document.querySelector('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p')),
    chart_titles: all('.js-plotly-plot .gtitle'),
    ticks: all('.js-plotly-plot .xtick text, .js-plotly-plot .ytick text'),
    axis_titles: all('.js-plotly-plot .xtitle, .js-plotly-plot .ytitle'),
    legends: all('.js-plotly-plot .legendtext'),
    badges: all('[data-testid="stMain"] span.stMarkdownBadge'),
  };
}"""


@pytest.fixture(scope="module")
def clearance_sizes():
    with running_app() as base_url, browser_page() as page:
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.goto(f"{base_url}/clearance?presenter=1")
        wait_for_app(page)
        page.wait_for_selector(".js-plotly-plot .gtitle", timeout=60_000)
        page.wait_for_timeout(1000)
        return page.evaluate(SIZES)


def test_key_numbers_are_at_least_twice_the_body_text(clearance_sizes):
    body = clearance_sizes["body"]
    assert clearance_sizes["metric_values"] and min(clearance_sizes["metric_values"]) >= 2 * body
    assert min(clearance_sizes["metric_labels"]) >= body  # a label no larger than its number


def test_badges_read_as_large_as_the_text_around_them(clearance_sizes):
    """Verdicts and the data's label are badges: Streamlit draws them at 0.875rem whatever the text."""
    assert clearance_sizes["badges"] and min(clearance_sizes["badges"]) >= 0.9 * clearance_sizes["body"]


def test_chart_type_is_large_enough_for_a_projector(clearance_sizes):
    assert min(clearance_sizes["chart_titles"]) >= PROJECTOR_FONT["title"] >= 28
    assert min(clearance_sizes["ticks"]) >= PROJECTOR_FONT["text"] >= 20
    assert min(clearance_sizes["axis_titles"]) >= 20
    assert min(clearance_sizes["legends"]) >= PROJECTOR_FONT["legend"] >= 18
