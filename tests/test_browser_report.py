"""The report file opened in headless chromium: every section shows, every chart draws, nothing is fetched, no script runs from the data."""

import shutil
from urllib.parse import urlparse

import pytest

from analysis.cohort.model import build_cohort
from analysis.demo import generate_cohort
from analysis.outputs.report import build_report
from tests.browser import CHROMIUM, browser_page
from tests.test_report import CHARTS, INDIVIDUAL_CHARTS, MARKUP_TERM, SECTIONS

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")]


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    """A report on 400 generated courses, one side-effect term of which is a script tag."""
    tables = generate_cohort(400, 11)
    tables["adverse_events"].loc[tables["adverse_events"].index[:30], "term"] = MARKUP_TERM
    cohort = build_cohort(tables, source="generated <b>clinic</b>", synthetic=True, fingerprint="cd" * 32)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(build_report(cohort, {}, "all courses"), encoding="utf-8")
    return path


def test_the_report_opens_offline_with_every_section_and_chart_and_asks_for_nothing(report_file, tmp_path):
    with browser_page() as page:
        dialogs, errors = [], []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(report_file.as_uri())
        charts = sum(len(names) for names in CHARTS.values()) - len(
            INDIVIDUAL_CHARTS
        )  # single courses: private reports only
        page.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}", timeout=60_000
        )
        for section in SECTIONS:
            heading = page.locator(f"section#{section} h2")
            heading.scroll_into_view_if_needed()
            assert heading.is_visible(), section
        for names in CHARTS.values():
            for name in (n for n in names if n not in INDIVIDUAL_CHARTS):
                chart = page.locator(f"#chart-{name}")
                chart.scroll_into_view_if_needed()
                assert chart.is_visible() and chart.bounding_box()["height"] > 100, name
        page.screenshot(path=str(tmp_path / "report.png"))
        outside = [url for url in page.requested_urls if urlparse(url).scheme not in ("file", "data")]
        assert outside == [], f"the report asked for {outside}"
        assert page.get_by_text(MARKUP_TERM).first.is_visible()
        assert page.get_by_text("generated <b>clinic</b>").first.is_visible()
        assert dialogs == [] and errors == []
