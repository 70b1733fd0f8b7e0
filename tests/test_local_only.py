"""Local use means this machine only: the default address is loopback, and a server listening beyond
this machine without sign-in refuses every page."""

from __future__ import annotations

import tomllib

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from ui import sidebar
from ui.access import OPEN_NETWORK_REFUSAL, is_this_machine_only

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x",
    "client_id": "id",
    "client_secret": "secret",
    "server_metadata_url": "https://accounts.example.org/.well-known/openid-configuration",
}
REFUSAL_START = OPEN_NETWORK_REFUSAL.split("{")[0]


@pytest.fixture
def listening_on():
    """Sets `server.address` for the app under test, as `--server.address` would; restores it afterwards."""
    original = config.get_option("server.address")
    yield lambda address: config.set_option("server.address", address)
    config.set_option("server.address", original)


@pytest.fixture
def sidebar_calls(monkeypatch) -> list:
    """Records each run of the shared sidebar, where data sources (demo, upload, saved-dataset link) are loaded."""
    calls = []
    real = sidebar.render_sidebar
    monkeypatch.setattr(sidebar, "render_sidebar", lambda: calls.append(1) or real())
    return calls


def _app(query: dict | None = None, auth: dict | None = None, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    if auth is not None:
        at.secrets["auth"] = auth
        at.user = user or {"is_logged_in": False}
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def _elements(at: AppTest) -> list[str]:
    """Every element on the page, main area and sidebar, by type."""
    return _leaf_types(at.main) + _leaf_types(at.sidebar)


def _leaf_types(node) -> list[str]:
    children = getattr(node, "children", None)
    if children is None:
        return [node.type]
    return [kind for child in children.values() for kind in _leaf_types(child)]


def test_the_default_address_is_this_machine_only():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["address"] == "127.0.0.1"
    makefile = (ROOT / "Makefile").read_text()
    assert "ADDRESS ?= 127.0.0.1" in makefile and '--server.address "$(ADDRESS)"' in makefile


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "::ffff:127.0.0.1", "unix:///run/isotret.sock"]
)
def test_loopback_addresses_are_this_machine_only(address):
    assert is_this_machine_only(address)


@pytest.mark.parametrize(
    "address", [None, "", "0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "fd00::2", "isotret.example.org"]
)
def test_other_addresses_reach_beyond_this_machine(address):
    assert not is_this_machine_only(address)


@pytest.mark.parametrize("address", ["0.0.0.0", ""])
def test_listening_beyond_this_machine_without_sign_in_shows_only_the_refusal(listening_on, sidebar_calls, address):
    listening_on(address)
    at = _app({"dataset": "A" * 32})
    assert not at.exception
    assert _elements(at) == ["error"]
    message = at.error[0].value
    assert message.startswith(REFUSAL_START)
    assert "0.0.0.0" in message if address else "every network interface" in message
    assert "[auth]" in message and "127.0.0.1" in message
    assert not sidebar_calls


def test_every_page_is_refused(listening_on, sidebar_calls):
    listening_on("0.0.0.0")
    at = _app()
    at.switch_page("views/data.py").run()
    assert not at.exception
    assert _elements(at) == ["error"] and at.error[0].value.startswith(REFUSAL_START)
    assert not sidebar_calls


def test_with_sign_in_configured_the_network_gets_the_sign_in_screen(listening_on):
    listening_on("0.0.0.0")
    at = _app(auth=AUTH)
    assert not at.exception
    assert not at.error
    assert [b.label for b in at.button] == ["Sign in"]


def test_a_signed_in_user_on_the_network_reaches_the_pages(listening_on):
    listening_on("0.0.0.0")
    at = _app(auth=AUTH, user={"is_logged_in": True, "email": "dr.lee@example.org"})
    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Overview"


def test_local_use_is_served_without_sign_in(listening_on, sidebar_calls):
    listening_on("127.0.0.1")
    at = _app()
    assert not at.exception and not at.error and sidebar_calls
    at.switch_page("views/data.py").run()
    assert any("listens on this machine only" in c.value for c in at.caption)
