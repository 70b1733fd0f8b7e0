"""The claim set in use in this browser session: the bundled article's, or one the user imported or built.

The set is held in the session (never written to disk unless its dataset is saved and shared); the
scorecard, the report download and the pages' article lines all read it from here.
"""

from __future__ import annotations

import streamlit as st

from analysis.areas.claims import compute as claims

CLAIM_SET_STATE = "claim_set"


def active_claim_set() -> claims.ClaimSet:
    chosen = st.session_state.get(CLAIM_SET_STATE)
    return chosen if isinstance(chosen, claims.ClaimSet) else claims.bundled_claim_set()


def using_bundled_set() -> bool:
    return active_claim_set() == claims.bundled_claim_set()


def choose_claim_set(claim_set: claims.ClaimSet | None) -> None:
    """Makes the set active (None: back to the bundled article)."""
    if claim_set is None or claim_set == claims.bundled_claim_set():
        st.session_state.pop(CLAIM_SET_STATE, None)
    else:
        st.session_state[CLAIM_SET_STATE] = claim_set


def with_claim_set(settings: dict) -> dict:
    """The settings the analysis reads, with the active set when it is not the bundled one."""
    if using_bundled_set():
        return dict(settings)
    return {**settings, claims.CLAIM_SET_KEY: active_claim_set()}
