"""Memory of a real app server: twenty uploads of a 5 MB bundle in one browser session, then the
session closed, leave the server within 10% of where it stood after the first upload. Not timed."""
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, browser_page, running_server, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")]

UPLOADS = 20
SESSION_TTL_SECONDS = 2  # how long the server keeps a closed session for a reconnect (default 120)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def bundle_files(folder: Path, variant: int) -> list[dict]:
    """The demo generator's 3,500 courses (about 5 MB of CSV); each variant differs in one age, so
    that no upload is served from a cache."""
    files = []
    for path in sorted(folder.glob("*.csv")):
        data = path.read_bytes()
        if path.name == "courses.csv":
            header, first, rest = data.split(b"\n", 2)
            fields = first.split(b",")
            fields[header.split(b",").index(b"age")] = str(20 + variant % 40).encode()
            data = b"\n".join([header, b",".join(fields), rest])
        files.append({"name": path.name, "mimeType": "text/csv", "buffer": data})
    return files


def upload_and_confirm(page, files: list[dict], round_number: int) -> None:
    """Uploads into the uploader of this round (each confirmed upload leaves a fresh, empty one) and
    confirms; done when the next round's uploader is on the page."""
    uploader = page.locator(f".st-key-{uploader_key(round_number)}")
    uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(files=files)
    page.get_by_role("button", name="Use this data").click(timeout=180_000)
    page.locator(f".st-key-{uploader_key(round_number + 1)}").wait_for(timeout=180_000)
    wait_for_app(page)


def uploader_key(round_number: int) -> str:
    return "upload_widget" if round_number == 0 else f"upload_widget_{round_number}"


@pytest.fixture(scope="module")
def five_mb_bundle(tmp_path_factory) -> Path:
    from analysis.demo import write_demo

    folder = tmp_path_factory.mktemp("bundle")
    write_demo(folder, n_courses=3500, seed=3)
    return folder


@pytest.mark.xfail(reason="not met yet: measured 275 MB after the first upload, 822 MB after 20 and 820 MB after the "
                          "session closed; a closed session's datasets are released (ui.data_source), but its upload "
                          "bytes stay with Streamlit until the session expires", strict=False)
def test_twenty_uploads_and_a_closed_session_return_the_server_to_its_level(five_mb_bundle):
    env = {"STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(SESSION_TTL_SECONDS)}
    with running_server(env) as (base_url, server), browser_page() as first_page:
        context = first_page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(base_url + "/data")
        page.get_by_role("heading", name="Load your own files").wait_for(timeout=180_000)
        upload_and_confirm(page, bundle_files(five_mb_bundle, 0), 0)
        page.get_by_text("courses.csv: 3,500 rows read").first.wait_for(timeout=180_000)
        after_first = rss_mb(server.pid)
        for variant in range(1, UPLOADS):
            upload_and_confirm(page, bundle_files(five_mb_bundle, variant), variant)
        peak = rss_mb(server.pid)
        context.close()  # the session's websocket closes
        time.sleep(SESSION_TTL_SECONDS + 1)
        first_page.goto(base_url + "/data")  # another visitor: the server runs again after the session closed
        wait_for_app(first_page)
        time.sleep(1)
        after_close = rss_mb(server.pid)
    print(f"RSS after the first upload {after_first:.0f} MB, after {UPLOADS} uploads {peak:.0f} MB, "
          f"after the session closed {after_close:.0f} MB")
    assert after_close <= after_first * 1.10, (after_first, peak, after_close)
