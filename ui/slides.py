"""Presenting as slides: one finding per screen, stepped with buttons or the arrow keys, the slide number
in the link (`?slide=3`) so a link opens the talk where it was left. Slides turn presenter mode on:
large type, and small counts suppressed as in a shared report."""

from __future__ import annotations

from datetime import date

import streamlit as st

from analysis.areas.claims import compute as claims
from analysis.outputs.slides import build_slide, slide_audience, slide_count, slides_html

from .charts import show_chart
from .claim_sets import with_claim_set
from .presenter import SLIDE_PARAM, go_to_slide, suppression_threshold
from .sidebar import View
from .verdicts import verdict_badge

SETTINGS_STATE = "claims_settings_in_use"  # the thresholds and definitions the Overview last used


def requested_slide() -> int | None:
    """The slide the address asks for (clamped to the deck), or None when not presenting slides."""
    raw = st.query_params.get(SLIDE_PARAM)
    if raw is None:
        return None
    try:
        number = int(raw)
    except ValueError:
        number = 1
    return min(max(number, 1), slide_count())


def remember_claim_settings(settings: dict) -> None:
    """Keeps the claims' thresholds and definitions so the slides hold the same verdicts as the scorecard."""
    st.session_state[SETTINGS_STATE] = dict(settings)


@st.cache_data(scope="session", max_entries=4, show_spinner="Checking the article's claims ...")
def claim_results(key: tuple, settings: tuple, _cohort) -> list[claims.ClaimResult]:
    return claims.evaluate_claims(_cohort, dict(settings))


def show_slides(view: View, number: int) -> None:
    settings = st.session_state.get(SETTINGS_STATE) or with_claim_set({})
    cohort = view.filtered
    key = (cohort.fingerprint, cohort.source, view.filters.describe(), cohort.n_courses)
    results = claim_results(key, tuple(sorted(settings.items(), key=str)), cohort)
    audience = slide_audience(settings, suppression_threshold())
    slide = build_slide(number, cohort, settings, results, audience)
    controls(number)
    st.title(slide.title)
    st.markdown(f"### {slide.finding}")
    if slide.verdicts:
        st.markdown(" ".join(claim_badge(claim) for claim in slide.verdicts))
    if slide.figure is not None:
        show_chart(slide.figure, slide.title, key=f"slide_chart_{number}")
    elif slide.missing:
        st.info(slide.missing)
    if slide.verdicts:
        with st.expander("The article's words"):
            for claim in slide.verdicts:
                st.markdown(f"{claim_badge(claim)} “{claim.quote}”")
    save_button(view, settings)


def claim_badge(claim: claims.ClaimResult) -> str:
    return verdict_badge(claim.verdict, f"{claim.id} {claim.verdict}")


def controls(number: int) -> None:
    total = slide_count()
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
    row.button(
        "Previous",
        icon=":material/arrow_back:",
        shortcut="Left",
        disabled=number <= 1,
        on_click=go_to_slide,
        args=(number - 1,),
    )
    row.markdown(f"**Slide {number} of {total}**")
    row.button(
        "Next",
        icon=":material/arrow_forward:",
        shortcut="Right",
        disabled=number >= total,
        on_click=go_to_slide,
        args=(number + 1,),
    )
    row.button("Leave the slides", icon=":material/close:", shortcut="Esc", on_click=go_to_slide, args=(None,))


def save_button(view: View, settings: dict) -> None:
    threshold = suppression_threshold()
    st.download_button(
        "Save these slides (HTML, for a talk without a network)",
        data=lambda: slides_html(view.filtered, dict(settings), threshold=threshold).encode("utf-8"),
        file_name=f"isotretinoin_slides_{date.today():%Y-%m-%d}.html",
        mime="text/html",
        key="slides_download",
        on_click="ignore",
        icon=":material/download:",
    )
