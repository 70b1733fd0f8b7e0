"""Which dataset the session looks at: the bundled demo, or files this session uploaded.

The demo is public and read-only, so one copy serves every session. Uploads are cached per
session and keyed on their bytes, never on their names: two people uploading different files
called `courses.csv` never see each other's rows.
"""
from __future__ import annotations

import streamlit as st

from analysis.loading import LoadResult, load_demo, load_tables

DEMO = "demo"
UPLOAD = "upload"
UPLOAD_STATE = "uploaded_files"


@st.cache_resource(show_spinner="Loading the synthetic demo cohort ...")
def demo_result() -> LoadResult:
    return load_demo()


@st.cache_resource(scope="session", max_entries=4, show_spinner="Reading and validating your files ...")
def uploaded_result(files: tuple[tuple[str, bytes], ...]) -> LoadResult:
    return load_tables(dict(files), source=", ".join(name for name, _ in files))


def remember_upload(files: list) -> None:
    st.session_state[UPLOAD_STATE] = tuple((f.name, f.getvalue()) for f in files)


def uploaded_files() -> tuple[tuple[str, bytes], ...]:
    return st.session_state.get(UPLOAD_STATE, ())


def active_result(source: str) -> LoadResult:
    if source == UPLOAD and uploaded_files():
        return uploaded_result(uploaded_files())
    return demo_result()
