"""The app in a real browser: it renders the Overview and talks to nobody but localhost."""

import shutil
from urllib.parse import urlparse

import pytest

from tests.browser import CHROMIUM, browser_page, running_app, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")]


def test_overview_renders_and_no_request_leaves_localhost(tmp_path):
    with running_app() as base_url, browser_page() as page:
        page.goto(base_url)
        wait_for_app(page)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        assert page.get_by_role("heading", name="Overview").is_visible()
        assert page.get_by_text("Synthetic demo data").first.is_visible()
        page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
        hosts = {
            urlparse(url).hostname
            for url in page.requested_urls
            if urlparse(url).scheme in ("http", "https", "ws", "wss")
        }
        assert hosts == {"127.0.0.1"}, f"requests left the machine: {hosts}"


def test_a_deep_link_on_a_fresh_server_opens_that_page_with_its_filters():
    with running_app() as base_url, browser_page() as page:
        page.goto(f"{base_url}/relapse?sex=M")
        wait_for_app(page)
        page.wait_for_selector("h1:has-text('Relapse')", timeout=60_000)
        page.wait_for_selector("text=of 2,000 courses", timeout=60_000)
        assert not page.get_by_text("2,000 of 2,000 courses").count()
        assert not page.get_by_text("This app has encountered an error").count()


def test_a_table_in_a_closed_expander_appears_when_opened():
    """A closed table expander holds nothing in the page; a click opens it and its table and downloads are drawn."""
    with running_app() as base_url, browser_page() as page:
        page.goto(f"{base_url}/labs")
        wait_for_app(page)
        page.wait_for_selector("h1:has-text('Labs')", timeout=60_000)
        expander = page.get_by_test_id("stExpander").filter(has_text="(table)").first
        expander.wait_for(timeout=60_000)
        assert expander.get_by_test_id("stDataFrame").count() == 0
        expander.get_by_text("(table)").click()
        expander.get_by_test_id("stDataFrame").wait_for(timeout=60_000)
        assert expander.get_by_test_id("stDownloadButton").count() >= 2
        assert not page.get_by_text("This app has encountered an error").count()


def test_on_a_phone_each_part_of_a_claim_card_is_labelled():
    """At 390 px the scorecard's header row is hidden and each claim's card names its parts."""
    with running_app() as base_url, browser_page() as page:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base_url)
        wait_for_app(page)
        card = page.locator('[class*="st-key-claim_card_C02"]')
        card.wait_for(timeout=60_000)
        parts = card.locator('[data-testid="stMarkdown"] [data-testid="stMarkdownContainer"] > p')
        labels = [  # each part's label, in the order the card shows them (top to bottom)
            label
            for _, label in sorted(
                parts.evaluate_all(
                    "ps => ps.map(p => [p.getBoundingClientRect().top, getComputedStyle(p, '::before').content])"
                )
            )
        ]
        assert labels == [
            '"Verdict"',
            '"The article\'s words (hover ? for the explanation)"',
            '"Estimate (95% CI)"',
            '"Article\'s threshold"',
            '"Published figure"',
        ]
        link = card.get_by_test_id("stPageLink").bounding_box()
        assert link["y"] >= max(box["y"] + box["height"] for box in (part.bounding_box() for part in parts.all())) - 1
        assert not page.locator(".st-key-scorecard_header").is_visible()
        page.set_viewport_size({"width": 1440, "height": 900})
        page.wait_for_timeout(300)
        assert parts.first.evaluate("p => getComputedStyle(p, '::before').content") in ("none", "normal")
        boxes = parts.evaluate_all(
            "ps => ps.map(p => [p.getBoundingClientRect().top, p.getBoundingClientRect().bottom])"
        )
        assert max(top for top, _ in boxes) < min(bottom for _, bottom in boxes)  # on a desktop, side by side: one row
