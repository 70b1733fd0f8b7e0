"""Slides in a real browser: the arrow keys step through the talk in the app and in the saved file, the
slide number follows in the address, and the saved file asks nothing of the network."""

import shutil

import pytest

from analysis.cohort.loading import load_demo
from analysis.outputs.slides import slide_count, slides_html
from tests.browser import CHROMIUM, browser_page, running_app, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")]


# The run that draws a slide has finished and no element of the slide before it is left (Streamlit shows
# the previous run's elements until the new run replaces them).
SLIDE_DRAWN = """(number) => {
    if (!document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]')) return false;
    const text = document.querySelector('[data-testid="stMain"]').innerText;
    return (text.match(/Slide \\d+ of/g) || []).length === 1 && text.includes(`Slide ${number} of`);
}"""


def shown_slide_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def wait_for_slide(page, number: int) -> None:
    page.wait_for_function(SLIDE_DRAWN, arg=number, timeout=60_000)


def test_arrow_keys_step_through_the_slides_in_the_app():
    with running_app() as base_url, browser_page() as page:
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.goto(f"{base_url}/?slide=1")
        wait_for_app(page)
        wait_for_slide(page, 1)
        page.locator("[data-testid='stMain'] h1").first.click()  # the page, not a widget, has the focus
        page.keyboard.press("ArrowRight")
        wait_for_slide(page, 2)
        assert "slide=2" in page.url and "presenter=1" in page.url
        assert "Clearance" in shown_slide_text(page)
        page.keyboard.press("ArrowLeft")
        wait_for_slide(page, 1)
        assert "slide=1" in page.url


def test_the_saved_slides_step_with_the_keys_and_request_nothing(tmp_path):
    saved = tmp_path / "talk.html"
    saved.write_text(slides_html(load_demo().cohort, {}), encoding="utf-8")
    with browser_page() as page:
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.goto(saved.as_uri() + "#3")
        page.wait_for_selector("#slide-3.shown .js-plotly-plot", timeout=60_000)
        assert page.locator(".slide.shown").count() == 1
        assert page.inner_text("#counter") == f"Slide 3 of {slide_count()}"
        page.keyboard.press("ArrowRight")
        page.wait_for_selector("#slide-4.shown", timeout=10_000)
        assert page.evaluate("location.hash") == "#4"
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        page.wait_for_selector("#slide-2.shown", timeout=10_000)
        assert all(url.startswith(("file:", "data:", "blob:")) for url in page.requested_urls), page.requested_urls
