"""Layout rules every page shares, for any screen from a phone to a projector.

The browser's width is known only in the browser, so the rules are CSS media queries (a constant:
user data never reaches this block): text in metrics, links and badges wraps instead of being cut,
and on a phone (Streamlit stacks columns below 640 px) the claims scorecard becomes one card per
claim with a label on each of its parts (`card_label`), the header row above the table hidden.
"""

from __future__ import annotations

import streamlit as st

PHONE_MAX_WIDTH = 640  # px: Streamlit stacks columns below this width
CARD_KEY = "claim_card_"
LABEL_KEY = "card_label_"
HEADER_KEY = "scorecard_header"

LAYOUT_CSS = f"""
<style>
[data-testid="stMain"] [data-testid="stMetricValue"] > div,
[data-testid="stMain"] [data-testid="stMetricValue"] p,
[data-testid="stMain"] [data-testid="stMetricLabel"] p,
[data-testid="stMain"] [data-testid="stMetricLabel"] > div,
[data-testid="stMain"] [data-testid="stPageLink"] a,
[data-testid="stMain"] [data-testid="stPageLink"] a * {{
    white-space: normal; overflow: visible; text-overflow: clip; overflow-wrap: anywhere; }}
[data-testid="stMain"] [data-testid="stMarkdownContainer"] span.stMarkdownBadge {{
    white-space: normal; overflow: visible; text-overflow: clip; max-width: 100%; }}
[class*="st-key-{LABEL_KEY}"] {{ display: none; }}
@media (max-width: {PHONE_MAX_WIDTH}px) {{
    .st-key-{HEADER_KEY} {{ display: none; }}
    [class*="st-key-{LABEL_KEY}"] {{ display: block; }}
    [class*="st-key-{CARD_KEY}"] {{
        border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.75rem; gap: 0.25rem; }}
    [class*="st-key-{CARD_KEY}"] [data-testid="stColumn"] {{ min-width: 100% !important; }}
}}
</style>
"""


def layout_css() -> None:
    """The shared rules on the page (drawn once per run by the page header)."""
    st.markdown(LAYOUT_CSS, unsafe_allow_html=True)


def card_label(text: str, key: str) -> None:
    """A part's name inside a card, shown only on a phone (on a wider screen the header row names it)."""
    with st.container(key=f"{LABEL_KEY}{key}"):
        st.caption(f"**{text}**")
