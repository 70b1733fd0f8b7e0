"""Layout rules every page shares, for any screen from a phone to a projector.

The browser's width is known only in the browser, so the rules are CSS media queries (a constant:
user data never reaches this block): text in metrics, links and badges wraps instead of being cut,
and on a phone (Streamlit stacks columns below 640 px) the claims scorecard becomes one card per
claim with a label above each of its parts (written by these rules, so a row sends no element for
them), the header row above the table hidden.
"""

from __future__ import annotations

import streamlit as st

PHONE_MAX_WIDTH = 640  # px: Streamlit stacks columns below this width
CARD_KEY = "claim_card_"
HEADER_KEY = "scorecard_header"
SCORECARD_COLUMNS = (  # the scorecard's header row; on a phone, the label of each part of a card
    "Verdict",
    "The article's words (hover ? for the explanation)",
    "Estimate (95% CI)",
    "Article's threshold",
    "Published figure",
    "Details",
)
CARD_COLUMN = f'[class*="st-key-{CARD_KEY}"] [data-testid="stHorizontalBlock"] > [data-testid="stColumn"]'
CARD_LABELS = "\n".join(
    f'    {CARD_COLUMN}:nth-child({number})::before {{ content: "{label}"; }}'
    for number, label in enumerate(SCORECARD_COLUMNS[:5], start=1)
)

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
@media (max-width: {PHONE_MAX_WIDTH}px) {{
    .st-key-{HEADER_KEY} {{ display: none; }}
    [class*="st-key-{CARD_KEY}"] {{
        border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.75rem; gap: 0.25rem; }}
    [class*="st-key-{CARD_KEY}"] [data-testid="stColumn"] {{ min-width: 100% !important; }}
    {CARD_COLUMN}::before {{ font-size: 0.875rem; font-weight: 600; opacity: 0.6; overflow-wrap: anywhere; }}
{CARD_LABELS}
}}
</style>
"""


def layout_css() -> None:
    """The shared rules on the page (drawn once per run by the page header)."""
    st.markdown(LAYOUT_CSS, unsafe_allow_html=True)
