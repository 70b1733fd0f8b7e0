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
SCORECARD_WIDTHS = "1.4fr 4.8fr 2.1fr 1.3fr 2.1fr 1.6fr"  # the threshold column holds "threshold" unbroken at 1440 px
# A row is one block of markdown and a page link: the markdown's paragraphs are the row's parts, in the
# order verdict, estimate, threshold, published figure, words (the words last: the tooltip closes them).
# Their wrappers step aside (display: contents) so that each paragraph is a cell of the row's grid.
ROWS = f'.st-key-{HEADER_KEY}, [class*="st-key-{CARD_KEY}"]'
ROW_MARKDOWN = ", ".join(
    f'{row} > [data-testid="stElementContainer"]:has([data-testid="stMarkdown"]){inner}'
    for row in (f".st-key-{HEADER_KEY}", f'[class*="st-key-{CARD_KEY}"]')
    for inner in (
        "",
        ' [data-testid="stMarkdown"]',
        ' [data-testid="stMarkdown"] > div',
        ' [data-testid="stMarkdownContainer"]',
    )
)
CELL = '> [data-testid="stElementContainer"] > [data-testid="stMarkdown"] [data-testid="stMarkdownContainer"] > p'
ROW_CELLS = f'.st-key-{HEADER_KEY} {CELL}, [class*="st-key-{CARD_KEY}"] {CELL}'
CARD_CELL = f'[class*="st-key-{CARD_KEY}"] {CELL}'  # the row's parts, not the page link's words
CARD_LINK = f'[class*="st-key-{CARD_KEY}"] > [data-testid="stElementContainer"]:has([data-testid="stPageLink"])'
CARD_PARTS = (1, 3, 4, 5, 2)  # the column of each paragraph of a row (the words, last, in the second column)
CARD_CELLS = "\n".join(
    f"{CARD_CELL}:nth-child({number}) {{ grid-column: {column}; }}" for number, column in enumerate(CARD_PARTS, start=1)
)
HEADER_CELLS = "\n".join(
    f".st-key-{HEADER_KEY} {CELL}:nth-child({number}) {{ grid-column: {number}; }}"
    for number in range(1, len(SCORECARD_COLUMNS) + 1)
)
CARD_LABELS = "\n".join(  # on a phone: each part, in the order shown, under its label
    f"    {CARD_CELL}:nth-child({number}) {{ order: {SCORECARD_COLUMNS.index(label)}; }}\n"
    f'    {CARD_CELL}:nth-child({number})::before {{ content: "{label}"; }}'
    for number, label in enumerate([SCORECARD_COLUMNS[column - 1] for column in CARD_PARTS], start=1)
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
{ROWS} {{
    display: grid; grid-template-columns: {SCORECARD_WIDTHS}; column-gap: 1rem; align-items: center; }}
{ROW_MARKDOWN} {{ display: contents; }}
{ROW_CELLS} {{ grid-row: 1; margin: 0; min-width: 0; overflow-wrap: anywhere; }}
{CARD_LINK} {{ grid-row: 1; grid-column: 6; min-width: 0; margin-top: 0; }}
{CARD_CELLS}
{HEADER_CELLS}
@media (max-width: {PHONE_MAX_WIDTH}px) {{
    .st-key-{HEADER_KEY} {{ display: none; }}
    [class*="st-key-{CARD_KEY}"] {{
        display: flex; flex-direction: column; align-items: stretch;
        border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.75rem; gap: 0.25rem; }}
    {CARD_CELL}, {CARD_LINK} {{ grid-row: auto; grid-column: auto; width: 100%; }}
    {CARD_LINK} {{ order: {len(SCORECARD_COLUMNS)}; }}
    {CARD_CELL}::before {{
        display: block; font-size: 0.875rem; font-weight: 600; opacity: 0.6; overflow-wrap: anywhere; }}
{CARD_LABELS}
}}
</style>
"""


def layout_css() -> None:
    """The shared rules on the page (drawn once per run by the page header)."""
    st.markdown(LAYOUT_CSS, unsafe_allow_html=True)
