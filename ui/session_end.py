"""Ending a closed browser session, so that what it uploaded leaves the server's memory.

When a tab closes, Streamlit keeps its session for a while (`server.disconnectedSessionTTL`, two
minutes by default) so that a reconnecting tab finds its state again. When that time is over, the
session is only dropped from a table of sessions kept for a reconnect, never shut down: its uploaded
files stay in Streamlit's upload store, and its session state (uploaded bytes, loaded tables) stays
alive until another session happens to close. Here, a closed session is shut down just before its
reconnect window ends, unless its tab came back; then the memory it held is handed back.
"""

from __future__ import annotations

import asyncio
import gc
import logging

import streamlit as st
from streamlit import runtime

from analysis.ingest.progress import release_memory

log = logging.getLogger(__name__)
# A closed session is ended this long before Streamlit would forget it (at most a quarter of the window).
MARGIN_SECONDS = 5.0
# Session id -> its latest disconnect: the ending scheduled by an earlier one is void.
_LATEST: dict[str, object] = {}


def reconnect_window() -> float:
    """Seconds Streamlit keeps a closed session for its tab to reconnect."""
    return float(st.get_option("server.disconnectedSessionTTL"))


def end_session_later(session_id: str) -> None:
    """Shuts the session down just before its reconnect window ends, unless its tab is back by then.

    Called when the session disconnects (on Streamlit's event loop, where sessions may be closed);
    elsewhere (a test without a server), nothing is scheduled.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    window = reconnect_window()
    _LATEST[session_id] = disconnect = object()
    loop.call_later(max(window - min(MARGIN_SECONDS, window / 4), 0), end_session, session_id, disconnect)


def end_session(session_id: str, disconnect: object | None = None) -> None:
    """Shuts a closed session down (its uploaded files, session state and caches go) and hands the
    memory back; a session whose tab reconnected is left alone, and so is one that closed again
    since `disconnect` (its own window is running)."""
    if disconnect is not None and _LATEST.get(session_id) is not disconnect:
        return
    _LATEST.pop(session_id, None)
    if not runtime.exists():
        return
    server = runtime.get_instance()
    if server.is_active_session(session_id):
        return
    try:
        server.close_session(session_id)
    except Exception:  # ending a session is housekeeping: it never takes the server down
        log.warning("could not end closed session %s", session_id, exc_info=True)
        return
    gc.collect()  # session state refers to itself through widget callbacks: only the collector frees it
    release_memory()
