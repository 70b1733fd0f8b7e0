"""Memory of a real app server: twenty uploads of a 5 MB bundle in one browser session, then the session
closed. The target: the server back within 10% of where it stood after the first upload.

Run by hand (it takes minutes and needs chromium): .venv/bin/python benchmarks/upload_memory.py
"""

import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser import browser_page, running_server, wait_for_app  # noqa: E402

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


def measure(five_mb_bundle: Path) -> tuple[float, float, float]:
    """RSS after the first upload, after all of them, and after the session closed (MB)."""
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
    return after_first, peak, after_close


def main() -> None:
    from analysis.demo import write_demo

    with tempfile.TemporaryDirectory() as folder:
        write_demo(Path(folder), n_courses=3500, seed=3)
        after_first, peak, after_close = measure(Path(folder))
    verdict = "met" if after_close <= after_first * 1.10 else "not met"
    print(
        f"RSS after the first upload {after_first:.0f} MB, after {UPLOADS} uploads {peak:.0f} MB, "
        f"after the session closed {after_close:.0f} MB (target: within 10% of the first: {verdict})"
    )


if __name__ == "__main__":
    main()
