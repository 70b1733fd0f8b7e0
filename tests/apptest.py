"""Opening the app headlessly (Streamlit's AppTest) the way every page test needs it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from analysis.areas.charts import plain_title
from ui.data_source import UPLOAD, UPLOAD_STATE
from ui.page import OPENED_KEY

OPENED_ID = re.compile(rf"-({re.escape(OPENED_KEY)}.+)$")  # the key at the end of such an expander's element id

ROOT = Path(__file__).resolve().parent.parent


DEFAULT_PAGE = "views/overview.py"


def open_app(query: dict | None = None, files: tuple | None = None, timeout: float = 120) -> AppTest:
    """The app after one run of the entry point: on the demo, or on `files` ((name, bytes), ...) as this session's upload."""
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=timeout)
    if files is not None:
        at.session_state[UPLOAD_STATE] = tuple(files)
        at.session_state["source"] = UPLOAD
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def open_page(
    page: str, query: dict | None = None, files: tuple | None = None, timeout: float = 120, tables: bool = True
) -> AppTest:
    """`page` (e.g. "views/clearance.py") reached as a user does: the entry point first, then the page;
    with `tables`, every expander drawn only when open (`ui.page.opened`) then opened, as a reader would."""
    at = open_app(query, files, timeout)
    if page != DEFAULT_PAGE:  # the entry point opened it already; switching would leave it for its second address
        at.switch_page(page).run()
    assert not at.exception, at.exception
    if tables:
        open_every_table(at)
    return at


def closed_tables(at: AppTest) -> list[str]:
    """The keys of the expanders on the page drawn only when open (`ui.page.opened`) that are closed."""
    keys = [OPENED_ID.search(expander.proto.id) for expander in at.get("expander")]
    return [key.group(1) for key in keys if key and not at.session_state[key.group(1)]]


def open_every_table(at: AppTest) -> AppTest:
    """Opens every expander drawn only when open, as clicking each would (one run for all of them)."""
    closed = closed_tables(at)
    if closed:
        for key in closed:
            at.session_state[key] = True
        at.run()
        assert not at.exception, at.exception
    return at


def chart_titles(at: AppTest) -> list[str]:
    return [plain_title(json.loads(chart.proto.spec)["layout"]["title"]["text"]) for chart in at.get("plotly_chart")]
