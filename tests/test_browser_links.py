"""Links in a real browser: a link copied in one browser reopens the same view in another.

Two browser contexts share nothing (no cookies, no session): what the second one shows comes
from the link alone.
"""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import expect

from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")]

HEADER = "courses · filters"
COURSES = (
    "patient_id,sex,age,site,end_day\n"
    + "\n".join(
        f"P{i:03d},{'M' if i < 3 else 'F'},{18 + i % 20},{'North' if i % 2 else 'South'},{150 + i}" for i in range(30)
    )
    + "\n"
)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    with running_app({"ISOTRET_DATA_DIR": str(store)}) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    return context, context.new_page()


def _header_element(page):
    return page.get_by_test_id("stMarkdownContainer").filter(has_text=HEADER).first


def _header(page) -> str:
    return _header_element(page).inner_text()


def _settle(page, url_has: str) -> None:
    page.wait_for_url(lambda url: url_has in url, timeout=30_000)
    wait_for_app(page)


def _choose_sex_f(page) -> None:
    page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text="Sex").click()
    page.get_by_role("option", name="F", exact=True).click()
    page.keyboard.press("Escape")
    _settle(page, "sex=F")
    expect(_header_element(page)).to_contain_text("sex in F", timeout=30_000)


def _set_number(page, label: str, value: str, param: str) -> None:
    field = page.get_by_role("spinbutton", name=label)
    field.fill(value)
    field.press("Enter")
    _settle(page, f"{param}={value}")


def _switch_off(page, label: str, param: str) -> None:
    page.get_by_test_id("stCheckbox").filter(has_text=label).locator("label").first.click()
    _settle(page, f"{param}=false")


# Per page: a definition set through the page's own widget. The Overview, the default page, lives at the root.
ADDRESSES = {"overview": "", "clearance": "clearance", "relapse": "relapse"}
PAGES = {  # deep links first: the fresh server's first request is not the root
    "clearance": lambda page: _set_number(page, "Flare: lesions up by (%)", "20", "clearance_flare"),
    "relapse": lambda page: _switch_off(
        page, "Count a further course without a recorded relapse as a relapse", "relapse_retreat"
    ),
    "overview": lambda page: (
        page.get_by_text("Change thresholds and definitions").click(),
        _set_number(page, "Fewest courses for a verdict", "10", "claims_min_n"),
    ),
}


@pytest.mark.parametrize("path", list(PAGES))
def test_a_copied_link_reopens_page_filters_and_definitions(app, browser, path):
    first_context, first = _new_page(browser)
    first.goto(f"{app}/{ADDRESSES[path]}")
    wait_for_app(first)
    _choose_sex_f(first)
    PAGES[path](first)
    link = first.url
    shown = _header(first)
    first_context.close()

    second_context, second = _new_page(browser)
    second.goto(link)
    wait_for_app(second)
    assert second.url.split("?")[0] == f"{app}/{ADDRESSES[path]}"
    assert _header(second) == shown
    assert "sex in F" in shown
    second.wait_for_selector(".js-plotly-plot", timeout=60_000)
    query = link.split("?", 1)[1]
    for pair in query.split("&"):
        assert pair in second.url  # the second browser keeps every setting in its own address
    second_context.close()


def test_a_saved_dataset_link_reopens_data_and_view_in_another_browser(app, browser):
    first_context, first = _new_page(browser)
    first.goto(f"{app}/data")
    wait_for_app(first)
    first.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "courses.csv", "mimeType": "text/csv", "buffer": COURSES.encode()}]
    )
    first.get_by_role("button", name="Use this data").click()  # the proposed column mapping, confirmed
    first.get_by_text("Your data").first.wait_for(timeout=60_000)
    wait_for_app(first)
    _choose_sex_f(first)
    first.get_by_role("button", name="Save and share").click()
    code = first.get_by_test_id("stSidebar").get_by_test_id("stCode").filter(has_text="dataset=")
    code.wait_for(timeout=30_000)
    link = re.sub(r"\s+", "", code.inner_text())
    assert re.search(r"[?&]dataset=[A-Za-z0-9_-]{32,}", link)
    assert "sex=F" in link
    first_context.close()

    second_context, second = _new_page(browser)
    second.goto(link)
    wait_for_app(second)
    header = _header(second)
    assert "Saved dataset: courses.csv" in header
    assert "27 of 30 courses" in header
    second_context.close()


def test_an_unknown_dataset_link_says_to_upload_again(app, browser):
    context, page = _new_page(browser)
    page.goto(f"{app}/overview?dataset={'A' * 32}")
    wait_for_app(page)
    page.get_by_text("must be uploaded again").first.wait_for(timeout=30_000)
    assert "Synthetic demo cohort" in _header(page)
    context.close()


def test_the_overview_answers_at_its_own_address_with_the_link_s_filters(app, browser):
    context, page = _new_page(browser)
    try:
        page.goto(f"{app}/overview?sex=M")
        wait_for_app(page)
        page.wait_for_selector("h1:has-text('Overview')", timeout=60_000)
        page.wait_for_selector("text=of 2,000 courses", timeout=60_000)
        assert not page.get_by_text("Page not found").count()
        assert not page.get_by_text("2,000 of 2,000 courses").count()  # the filter of the link holds
    finally:
        context.close()
