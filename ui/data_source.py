"""Which dataset the session looks at: the bundled demo, a data source the server's administrator
configured (`[data_source]` in `.streamlit/secrets.toml`: tables read where they live, on DuckDB or
Spark), files this session uploaded, or a saved dataset opened from a shared link (`ui.sharing`).

The demo and the configured source are read-only and the same for everyone, so one copy serves every session. Uploads are cached per
session and keyed on their bytes (and the confirmed column mapping), never on their names: two
people uploading different files called `courses.csv` never see each other's rows. Uploads are
held in memory only.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from analysis.cohort.loading import LoadResult, load_demo, load_sources, load_tables
from analysis.engine.connection import EngineUnavailable, engine_named
from analysis.engine.sources import ConfiguredSource, SourceError
from analysis.ingest.mapping import Mapping
from analysis.ingest.progress import release_memory, reporting_stages, use_returning_memory_pool
from analysis.ingest.upload import UploadPlan, plan_upload
from analysis.ingest.validation import ERROR, NOT_LOADED, ReportBuilder
from ui.session_end import end_session_later

DEMO = "demo"
CONFIGURED = "configured"
SECRETS_SECTION = ".streamlit/secrets.toml [data_source]"
UPLOAD = "upload"
UPLOAD_STATE = "uploaded_files"
UPLOAD_MAPPING_STATE = "uploaded_mapping"  # the confirmed mapping (JSON text) of the uploaded files
PENDING_STATE = "pending_upload"  # files uploaded on the Data page, mapping not yet confirmed
SHARED = "shared"
SHARED_STATE = "shared_files"
SHARED_ORIGIN_STATE = "shared_time_origin"  # where the saved dataset's event times start, as saved with it
TIME_ORIGIN_SETTING = "time_origin"  # the key under which a saved dataset's settings keep it


# Loaded datasets are kept in stores of our own rather than returned by a cached function, so that a
# load can show which stage it is at (a cached function may not write to the page). The demo is one
# copy for every session; uploads and saved datasets are kept per session, keyed on their bytes, never
# their names, in a store the server drops as soon as the session's browser tab closes.
_DEMO_LOCK = threading.Lock()
use_returning_memory_pool()  # a closed session's tables, once freed, leave the server's memory


class SessionStore(dict):
    """One session's loaded datasets, and the session they belong to."""

    def __init__(self, session_id: str | None):
        super().__init__()
        self.session_id = session_id


def _release_session(store: SessionStore) -> None:
    """A session whose browser tab closed: its datasets go at once, and the session itself (its
    uploaded files and session state) when the time Streamlit keeps it for a reconnect is over."""
    store.clear()
    release_memory()
    if store.session_id is not None:
        end_session_later(store.session_id)


@st.cache_resource(scope="session", show_spinner=False, on_release=_release_session)
def _session_store() -> SessionStore:
    context = get_script_run_ctx()
    return SessionStore(context.session_id if context else None)


@st.cache_resource(show_spinner=False)
def _demo_store() -> dict:
    return {}


def demo_result() -> LoadResult:
    store = _demo_store()
    with _DEMO_LOCK:  # sessions opening at once load the demo once
        if "demo" not in store:
            with st.spinner("Loading the synthetic demo cohort ..."), loading_progress():
                store["demo"] = load_demo()
    return store["demo"]


def configured_source() -> ConfiguredSource | None:
    """The administrator's `[data_source]`, if any (a mistake in it is shown when it is opened)."""
    try:
        settings = st.secrets.get("data_source")
    except Exception:  # no secrets file at all: local use
        return None
    if not settings:
        return None
    try:
        return ConfiguredSource.from_settings(settings)
    except SourceError as error:
        return ConfiguredSource(str(settings.get("label") or "Configured data source"), "", None, {}, str(error))


def configured_result(source: ConfiguredSource) -> LoadResult:
    store = _demo_store()
    key = (CONFIGURED, repr(source))
    with _DEMO_LOCK:
        if key not in store:
            with st.spinner(f"Reading {source.label} ..."), loading_progress():
                store[key] = _load_configured(source)
    return store[key]


def _load_configured(source: ConfiguredSource) -> LoadResult:
    """The tables read by their engine and checked as an upload is; what stops them is said, not raised."""
    try:
        if source.problem:
            raise SourceError(source.problem)
        return load_sources(engine_named(source.engine, source.master), source.tables, source.label)
    except (SourceError, EngineUnavailable) as error:
        builder = ReportBuilder()
        builder.add(ERROR, SECRETS_SECTION, str(error), action=NOT_LOADED)
        return LoadResult(None, builder.build())


def _session_result(
    kind: str,
    files: tuple[tuple[str, bytes], ...],
    extra: str | None,
    keep: int,
    message: str,
    load: Callable[[], LoadResult],
) -> LoadResult:
    """This session's result for these exact bytes (and mapping or label), loaded on first use;
    at most `keep` results of a kind are kept."""
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(f"{name}\n{len(data)}\n".encode())
        digest.update(data)
    key = (kind, digest.hexdigest(), extra)
    store = _session_store()
    if key not in store:
        with st.spinner(message), loading_progress():
            result = load()
        same_kind = [k for k in store if k[0] == kind]  # oldest first
        for old in same_kind[: max(0, len(same_kind) - keep + 1)]:
            del store[old]
        store[key] = result
    return store[key]


def uploaded_result(files: tuple[tuple[str, bytes], ...], mapping_json: str | None = None) -> LoadResult:
    mapping = Mapping.from_json(mapping_json) if mapping_json else None
    return _session_result(
        UPLOAD,
        files,
        mapping_json,
        4,
        "Reading and validating your files ...",
        lambda: load_tables(dict(files), source=", ".join(name for name, _ in files), mapping=mapping),
    )


@st.cache_resource(scope="session", max_entries=2, show_spinner="Reading your files (a large file takes a moment) ...")
def upload_plan(files: tuple[tuple[str, bytes], ...], mapping_json: str | None = None) -> UploadPlan:
    """What the files hold and the proposed mapping, before the user confirms it."""
    return plan_upload(dict(files), Mapping.from_json(mapping_json) if mapping_json else None)


def remember_upload(files: list, mapping_json: str | None = None) -> None:
    st.session_state[UPLOAD_STATE] = tuple((f.name, f.getvalue()) for f in files)
    st.session_state[UPLOAD_MAPPING_STATE] = mapping_json


def use_pending_upload(mapping_json: str) -> None:
    """The files awaiting confirmation become this session's data, mapped as confirmed."""
    st.session_state[UPLOAD_STATE] = st.session_state.get(PENDING_STATE, ())
    st.session_state[UPLOAD_MAPPING_STATE] = mapping_json
    st.session_state[PENDING_STATE] = ()


def uploaded_files() -> tuple[tuple[str, bytes], ...]:
    return st.session_state.get(UPLOAD_STATE, ())


def shared_result(files: tuple[tuple[str, bytes], ...], label: str, time_origin: str = "") -> LoadResult:
    """A saved dataset (canonical files), with where its event times start when it was saved saying so
    (an upload's time-to-event table, e.g. counting from the first dose; the canonical files cannot say it)."""
    return _session_result(
        SHARED,
        files,
        f"{label}\n{time_origin}",
        2,
        "Opening the saved dataset ...",
        lambda: _with_time_origin(load_tables(dict(files), source=label), time_origin),
    )


def _with_time_origin(result: LoadResult, time_origin: str) -> LoadResult:
    if result.cohort is None or not time_origin:
        return result
    return replace(result, cohort=replace(result.cohort, time_origin=time_origin))


def remember_shared(files: dict[str, bytes], label: str, settings: dict | None = None) -> None:
    st.session_state[SHARED_STATE] = (label, tuple(files.items()))
    st.session_state[SHARED_ORIGIN_STATE] = str((settings or {}).get(TIME_ORIGIN_SETTING) or "")


def forget_shared() -> None:
    st.session_state.pop(SHARED_STATE, None)


def shared_files() -> tuple[str, tuple[tuple[str, bytes], ...]] | None:
    return st.session_state.get(SHARED_STATE)


def active_result(source: str) -> LoadResult:
    _session_store()  # every session, demo or not, is ended when its tab has closed (_release_session)
    with loading_progress():
        if source == UPLOAD and uploaded_files():
            return uploaded_result(uploaded_files(), st.session_state.get(UPLOAD_MAPPING_STATE))
        if source == SHARED and shared_files():
            label, files = shared_files()
            return shared_result(files, label, st.session_state.get(SHARED_ORIGIN_STATE, ""))
        if source == CONFIGURED and (configured := configured_source()):
            return configured_result(configured)
        return demo_result()


@contextmanager
def loading_progress():
    """While a dataset loads (a million courses take a while), a line names the stage it is at."""
    line = st.empty()
    with reporting_stages(lambda stage: line.caption(f":material/hourglass_top: {stage} ...")):
        try:
            yield
        finally:
            line.empty()
