"""A closed browser session is ended just before Streamlit's reconnect window closes, unless its tab
came back (the server's memory over a closed session is measured in test_browser_memory)."""

import asyncio

import pytest

from ui import session_end


class FakeServer:
    def __init__(self, active: set[str]):
        self.active = active
        self.closed: list[str] = []

    def is_active_session(self, session_id: str) -> bool:
        return session_id in self.active

    def close_session(self, session_id: str) -> None:
        self.closed.append(session_id)


@pytest.fixture
def server(monkeypatch):
    fake = FakeServer(active={"back"})
    monkeypatch.setattr(session_end.runtime, "exists", lambda: True)
    monkeypatch.setattr(session_end.runtime, "get_instance", lambda: fake)
    monkeypatch.setattr(session_end, "reconnect_window", lambda: 0.2)
    return fake


def test_a_closed_session_is_ended_and_a_reconnected_one_kept(server):
    session_end.end_session("gone")
    session_end.end_session("back")
    assert server.closed == ["gone"]


def test_the_ending_waits_for_the_reconnect_window_and_only_the_latest_disconnect_counts(server):
    async def disconnects():
        session_end.end_session_later("tab")
        await asyncio.sleep(0.1)
        session_end.end_session_later("tab")  # closed, came back and closed again: its new window runs
        await asyncio.sleep(0.1)
        assert server.closed == []  # the first window's ending is void
        await asyncio.sleep(0.15)

    asyncio.run(disconnects())
    assert server.closed == ["tab"]


def test_without_a_server_loop_nothing_is_scheduled(server):
    session_end.end_session_later("tab")  # no running event loop: a test without a server
    assert server.closed == []
