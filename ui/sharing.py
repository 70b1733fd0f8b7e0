"""Share a view: "Save and share" keeps an uploaded dataset in the store and gives a link that
reopens the dataset, the page, every filter and every definition in any browser.

A link is the page's address with its query parameters (bound widgets write themselves there)
plus `dataset=<token>`. Opening it loads the saved dataset into that
browser session only. A link whose dataset expired or was deleted says plainly that the data
must be uploaded again; whoever holds a link may delete its dataset.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import streamlit as st

from analysis.outputs.store import DatasetStore, DatasetUnavailable, cohort_files

from .access import signed_in_email
from .data_source import (
    DEMO,
    SHARED,
    TIME_ORIGIN_SETTING,
    UPLOAD,
    UPLOAD_MAPPING_STATE,
    forget_shared,
    remember_shared,
)

DATASET_PARAM = "dataset"
CLAIMS_SETTING = "claims"  # the saved settings' entry holding the claim set in use (TOML), when not the article's
SOURCE_KEY = "source"
LINK_STATE = "shared_link"
FAILED_STATE = "shared_link_failed"
NOTICE_STATE = "shared_link_notice"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SharedLink:
    token: str
    label: str
    saved_by: str | None
    expires_at: datetime


@st.cache_resource(show_spinner=False)
def dataset_store() -> DatasetStore:
    """One store per server process (its location comes from the environment)."""
    return DatasetStore.from_environment()


def open_linked_dataset() -> None:
    """Loads the dataset a `?dataset=<token>` link names into this session (before the data source is picked)."""
    token = st.query_params.get(DATASET_PARAM)
    link = st.session_state.get(LINK_STATE)
    if not token or (link is not None and link.token == token):
        return
    if st.session_state.get(FAILED_STATE, (None,))[0] == token:
        st.warning(st.session_state[FAILED_STATE][1], icon=":material/link_off:")
        return
    try:
        saved = dataset_store().open(token)
    except DatasetUnavailable as refused:
        _refuse(token, str(refused))
        return
    except Exception:
        log.exception("the store could not be opened")
        _refuse(
            token,
            "The store of saved datasets could not be reached, so this link's data cannot be opened now. "
            "Try again later, or upload the data again on the Data page.",
        )
        return
    remember_shared(saved.files, f"Saved dataset: {saved.label}", saved.settings)
    st.session_state[LINK_STATE] = SharedLink(token, saved.label, saved.saved_by, saved.expires_at)
    st.session_state[SOURCE_KEY] = SHARED
    open_saved_claim_set(saved.settings)


def open_saved_claim_set(settings: dict) -> None:
    """The claim set saved with the dataset becomes the one in use (a set that no longer reads says so)."""
    text = (settings or {}).get(CLAIMS_SETTING)
    if not text:
        return
    from .claim_sets import read_into_session  # the claims engine loads only when needed: the sidebar stays light

    problem = read_into_session(text, "the saved claim set")
    if problem:
        st.warning(
            f"The dataset opened, but its claim set could not be used, so the article's claims are shown: {problem}"
        )


def sharing_controls(view) -> None:
    """The sidebar's Share section: save and share an upload, or the link and delete button of a saved dataset."""
    st.sidebar.header("Share")
    notice = st.session_state.pop(NOTICE_STATE, None)
    if notice:
        st.sidebar.success(notice)
    link = st.session_state.get(LINK_STATE)
    source = st.session_state.get(SOURCE_KEY, DEMO)
    _keep_token_in_url(link if source == SHARED else None)
    if source == SHARED and link is not None:
        _saved_dataset_panel(link)
    elif source == UPLOAD and view.cohort is not None:
        _save_button(view)
    else:
        st.sidebar.caption(
            "The address in the browser holds this page, the filters and the definitions: copy it to share "
            "this view. Your own files can be saved and shared once uploaded on the Data page."
        )


def view_link(token: str) -> str:
    """The current page's address with its query parameters and the dataset's token.

    The data source is left out: opening a token selects the saved dataset by itself.
    """
    pairs = [
        (key, value)
        for key in st.query_params
        for value in st.query_params.get_all(key)
        if key not in (DATASET_PARAM, SOURCE_KEY)
    ]
    pairs.append((DATASET_PARAM, token))
    return f"{st.context.url or ''}?{urlencode(pairs)}"


def _save_button(view) -> None:
    try:
        days = dataset_store().share_days
    except Exception:
        log.exception("the store of saved datasets could not be opened")
        st.sidebar.caption(
            "Saving and sharing is unavailable: the app's store of saved datasets cannot be opened. "
            "Whoever runs the app can check ISOTRET_DATA_DIR or ISOTRET_DATABASE_URL."
        )
        return
    st.sidebar.button(
        "Save and share",
        icon=":material/share:",
        key="share_save",
        on_click=_save,
        args=(view.cohort,),
        help=f"Keeps a copy of the loaded data in this app's store for {days:g} days (only the columns the app kept; none "
        "refused as identifiers) and gives a link to this view. Anyone with the link can open the data until it "
        "expires or is deleted.",
    )


def _save(cohort) -> None:
    settings = {
        "query": {key: st.query_params.get_all(key) for key in st.query_params if key != DATASET_PARAM},
        "mapping": st.session_state.get(UPLOAD_MAPPING_STATE),
    }
    if cohort.time_origin:  # the saved canonical files cannot say where the event times start
        settings[TIME_ORIGIN_SETTING] = cohort.time_origin
    from .claim_sets import active_claim_set, using_bundled_set  # loaded on saving only: the sidebar stays light

    if not using_bundled_set():
        settings[CLAIMS_SETTING] = active_claim_set().to_toml()  # the link opens the claims it was saved with
    try:
        files = cohort_files(cohort)
        token = dataset_store().save(files, cohort.source, settings=settings, saved_by=signed_in_email())
        saved = dataset_store().open(token)
    except Exception:
        log.exception("saving a dataset failed")
        st.toast(
            "The dataset could not be saved: the store is not writable. Ask whoever runs the app to check its data folder.",
            icon=":material/error:",
        )
        return
    remember_shared(saved.files, f"Saved dataset: {saved.label}", saved.settings)
    st.session_state[LINK_STATE] = SharedLink(token, saved.label, saved.saved_by, saved.expires_at)
    st.session_state[SOURCE_KEY] = SHARED
    st.session_state[NOTICE_STATE] = "Saved. Copy the link below; it opens this view with this data in any browser."


def _saved_dataset_panel(link: SharedLink) -> None:
    by = f" by {link.saved_by}" if link.saved_by else ""
    st.sidebar.markdown(f"Saved dataset{by}, kept until **{link.expires_at:%d %b %Y}**.")
    st.sidebar.caption("Link to this view (page, filters, definitions and data):")
    st.sidebar.code(view_link(link.token), language=None, wrap_lines=True)
    st.sidebar.button(
        "Delete the saved dataset",
        icon=":material/delete:",
        key="share_delete",
        on_click=_delete,
        args=(link.token,),
        help="Removes the data from the store now: the link stops working for everyone.",
    )


def _delete(token: str) -> None:
    try:
        dataset_store().delete(token)
    except Exception:
        log.exception("deleting a dataset failed")
        st.toast("The saved dataset could not be deleted now; try again later.", icon=":material/error:")
        return
    st.session_state.pop(LINK_STATE, None)
    st.query_params.pop(DATASET_PARAM, None)
    forget_shared()
    st.session_state[SOURCE_KEY] = DEMO
    st.session_state[FAILED_STATE] = (token, "This link's saved dataset was deleted. The data must be uploaded again.")
    st.session_state[NOTICE_STATE] = "The saved dataset was deleted: its link no longer opens it."


def _keep_token_in_url(link: SharedLink | None) -> None:
    """The token is not a widget, so a page change drops it from the address: it is put back while in use."""
    current = st.query_params.get(DATASET_PARAM)
    if link is not None and current != link.token:
        st.query_params[DATASET_PARAM] = link.token
    elif link is None and current is not None and current == getattr(st.session_state.get(LINK_STATE), "token", None):
        del st.query_params[DATASET_PARAM]


def _refuse(token: str, message: str) -> None:
    st.session_state[FAILED_STATE] = (token, message)
    st.warning(message, icon=":material/link_off:")
