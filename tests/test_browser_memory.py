"""Memory of a real app server: twenty uploads of a 5 MB bundle in one browser session, then the
session closed, leave the server within 10% of where it stood after the first upload. Not timed
(it takes a few minutes); the same measurement is `benchmarks/upload_memory.py`."""

import shutil
from pathlib import Path

import pytest

from benchmarks.upload_memory import UPLOADS, measure
from tests.browser import CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")]


@pytest.fixture(scope="module")
def five_mb_bundle(tmp_path_factory) -> Path:
    from analysis.demo import write_demo

    folder = tmp_path_factory.mktemp("bundle")
    write_demo(folder, n_courses=3500, seed=3)
    return folder


def test_twenty_uploads_and_a_closed_session_return_the_server_to_its_level(five_mb_bundle):
    after_first, peak, after_close = measure(five_mb_bundle)
    print(
        f"RSS after the first upload {after_first:.0f} MB, after {UPLOADS} uploads {peak:.0f} MB, "
        f"after the session closed {after_close:.0f} MB"
    )
    assert after_close <= after_first * 1.10, (after_first, peak, after_close)
