"""Uploading in a real browser: a non-canonical CSV is mapped, confirmed and reaches the Overview;
two browser sessions uploading different files of the same name each see only their own."""

import re
import shutil

import pytest

from tests.browser import CHROMIUM, browser_page, running_app, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")]

EXPORT = (
    b"Patient ID;Gender;Age (years);Weight (kg);Start of treatment\n"
    b"A01;female;17;55,5;03/02/2021\nA02;male;22;80;15/03/2021\nA03;f;30;61;01/04/2021\n"
)


def open_data_page(page, base_url: str) -> None:
    page.goto(base_url)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Data").click()
    page.get_by_role("heading", name="Load your own files").wait_for(timeout=60_000)


def upload_and_confirm(page, name: str, data: bytes) -> None:
    page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": data}]
    )
    page.get_by_text("Check what each file holds and how its columns map").wait_for(timeout=60_000)
    page.get_by_role("button", name="Use this data").click()
    page.get_by_text(re.compile(r"rows? read, \d+ kept")).first.wait_for(timeout=60_000)
    wait_for_app(page)


def test_a_non_canonical_csv_is_mapped_confirmed_and_shown_on_the_overview(tmp_path):
    with running_app() as base_url, browser_page() as page:
        open_data_page(page, base_url)
        page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(
            files=[{"name": "clinic_export.csv", "mimeType": "text/csv", "buffer": EXPORT}]
        )
        page.get_by_text("Read as CSV, UTF-8, semicolon-separated, decimal commas.").wait_for(timeout=60_000)
        editor = page.get_by_test_id("stDataFrame").first
        editor.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "mapping.png"), full_page=True)
        page.get_by_role("button", name="Use this data").click()
        page.get_by_text("clinic_export.csv: 3 rows read, 3 kept.").wait_for(timeout=60_000)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Overview").click()
        page.get_by_role("heading", name="Overview").wait_for(timeout=60_000)
        wait_for_app(page)
        assert page.get_by_text("Your data").first.is_visible()
        assert page.get_by_text(re.compile(r"3\s+of 3 courses")).first.is_visible()
        page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)


def test_two_browser_sessions_uploading_the_same_file_name_see_only_their_own_rows():
    with running_app() as base_url, browser_page() as first:
        second = first.context.browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        open_data_page(first, base_url)
        open_data_page(second, base_url)
        upload_and_confirm(first, "courses.csv", b"patient_id,sex,age\nALPHA-1,F,20\nALPHA-2,M,31\n")
        upload_and_confirm(second, "courses.csv", b"patient_id,sex,age\nBETA-1,F,40\n")
        # The first session runs again after the second loaded its file (a reload would start a new session).
        first.get_by_test_id("stSidebarNav").get_by_role("link", name="Overview").click()
        first.get_by_role("heading", name="Overview").wait_for(timeout=60_000)
        first.get_by_test_id("stSidebarNav").get_by_role("link", name="Data").click()
        first.get_by_text("courses.csv: 2 rows read, 2 kept.").wait_for(timeout=60_000)
        second.get_by_text("courses.csv: 1 row read, 1 kept.").wait_for(timeout=60_000)
        assert first.get_by_text("courses.csv: 1 row read").count() == 0
        assert second.get_by_text("courses.csv: 2 rows read").count() == 0
