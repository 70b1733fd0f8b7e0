"""Presenter mode: a clean, large view for a projector, in which no small count is shown.

Switched on by the sidebar toggle or by `?presenter=1` in a link (the address keeps it while on). While it is on, every table the
app shows, every chart it draws (figures take `suppress_below=chart_suppression()`) and every
download it offers goes through small-cell suppression (`analysis.stats.suppression`): counts below the
threshold (default 5, settable) read "<5", and values that would reveal them read "suppressed";
charts of single courses are not drawn. Counts and shares written in words (metrics, captions,
sentences) go through `shown_count`, `shown_of`, `shown_share` and `shown_text` for the same rule.
The Course timeline page is hidden (a single course is the easiest thing to recognise) and the
sidebar starts collapsed.
"""

from __future__ import annotations

import copy

import pandas as pd
import streamlit as st

from analysis.stats.suppression import (
    DEFAULT_THRESHOLD,
    SUPPRESSED,
    hidden_shares,
    is_small,
    numerator_labels,
    redact_small_counts,
    suppress_any_table,
    suppress_count,
)

PRESENTER_KEY = "presenter"
SLIDE_PARAM = "slide"  # ?slide=3: presenting the findings as slides, at slide 3
THRESHOLD_KEY = "presenter_threshold"
ON_TEXTS = ("1", "true", "yes", "on")
HIDDEN_PAGES = ("timeline",)  # url paths not offered in presenter mode

# Large type, no decoration, and charts that share a row stacked one per row.
# A constant: user data never reaches this block.
PRESENTER_CSS = """
<style>
[data-testid="stMain"] { font-size: 1.2rem; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li,
[data-testid="stMain"] [data-testid="stCaptionContainer"] { font-size: 1.2rem; }
[data-testid="stMain"] [data-testid="stMetricValue"],
[data-testid="stMain"] [data-testid="stMetricValue"] p { font-size: 2.8rem; line-height: 1.15; }
[data-testid="stMain"] [data-testid="stMetricLabel"] p { font-size: 1.3rem; }
[data-testid="stMain"] [data-testid="stMetricDelta"],
[data-testid="stMain"] [data-testid="stMetricDelta"] p { font-size: 1.2rem; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] span.stMarkdownBadge { font-size: 1.1rem !important; }  /* Streamlit sets 0.875rem inline */
[data-testid="stMain"] h1 { font-size: 3rem; }
[data-testid="stMain"] h2 { font-size: 2.2rem; }
[data-testid="stMain"] h3 { font-size: 1.8rem; }
[data-testid="stMainBlockContainer"] { padding-top: 2rem; max-width: 1500px; }
[data-testid="stDecoration"] { display: none; }
[data-testid="stHorizontalBlock"]:has([data-testid="stPlotlyChart"]) { flex-direction: column; }
[data-testid="stHorizontalBlock"]:has([data-testid="stPlotlyChart"]) > [data-testid="stColumn"] {
    width: 100% !important; flex: 1 1 100% !important; }
</style>
"""


def presenter_requested() -> bool:
    """Presenter mode as the URL asks for it (slides are always presented); readable before any widget exists
    (page config, navigation)."""
    return str(st.query_params.get(PRESENTER_KEY, "")).lower() in ON_TEXTS or SLIDE_PARAM in st.query_params


def presenter_on() -> bool:
    """Whether this session's page is in presenter mode (the toggle once drawn, else the URL)."""
    try:
        if PRESENTER_KEY in st.session_state:
            return bool(st.session_state[PRESENTER_KEY])
        return presenter_requested()
    except Exception:  # outside a running app (a notebook, the command line): nothing is presented
        return False


def suppression_threshold() -> int:
    try:
        return int(st.session_state.get(THRESHOLD_KEY) or DEFAULT_THRESHOLD)
    except Exception:
        return DEFAULT_THRESHOLD


def chart_suppression() -> int | None:
    """The `suppress_below` every figure function takes: the threshold in presenter mode, else None."""
    return suppression_threshold() if presenter_on() else None


def initial_sidebar_state() -> str:
    return "collapsed" if presenter_requested() else "auto"


def visible_pages(pages: list) -> list:
    """The pages for the navigation: in presenter mode the Course timeline leaves the menu."""
    if not presenter_on():
        return pages
    return [_hidden_from_menu(page) if page.url_path in HIDDEN_PAGES else page for page in pages]


def stop_if_hidden(page) -> None:
    """In presenter mode a hidden page (opened by its address) shows only why, and nothing of its content."""
    if presenter_on() and page.url_path in HIDDEN_PAGES:
        st.info(
            "This page is hidden in presenter mode: a single patient's course is never shown to an audience "
            "or included in shared reports. Leave presenter mode (sidebar) to open it."
        )
        st.stop()


def _hidden_from_menu(page):
    hidden = copy.copy(page)
    hidden._visibility = "hidden"  # what st.Page(..., visibility="hidden") sets
    return hidden


def presenter_controls() -> bool:
    """The sidebar switch and, when on, the threshold and the layout.

    The switch keeps `presenter=1` in the address itself (rather than through a widget binding,
    which would write `true` and drop a link's `1`), so links in either form keep working.
    """
    if PRESENTER_KEY not in st.session_state:
        st.session_state[PRESENTER_KEY] = presenter_requested()
    st.sidebar.header("Presenting")
    on = st.sidebar.toggle(
        "Presenter mode",
        key=PRESENTER_KEY,
        help='Large type and one chart per row for a projector. Counts below the threshold show as "<5" in every table, '
        'chart and download, and percentages that would reveal them as "suppressed". The Course timeline and charts '
        "of single courses are hidden.",
    )
    _keep_in_url(on)
    st.sidebar.button(
        "Present as slides",
        icon=":material/slideshow:",
        on_click=go_to_slide,
        args=(1,),
        help="One finding per screen, in presenter mode: the claims scorecard, then each area's headline chart with "
        "its finding and the verdicts it bears on. The arrow keys step through them.",
    )
    if on:
        st.sidebar.number_input(
            "Hide counts below",
            min_value=2,
            max_value=100,
            value=DEFAULT_THRESHOLD,
            step=1,
            key=THRESHOLD_KEY,
            bind="query-params",
            help='Counts from 1 up to this number minus one are shown as "<N". Zero is shown as 0.',
        )
        st.markdown(PRESENTER_CSS, unsafe_allow_html=True)
    return on


def go_to_slide(number: int | None) -> None:
    """Opens slide `number` in presenter mode (None: back to the page)."""
    if number is None:
        st.query_params.pop(SLIDE_PARAM, None)
        return
    st.session_state[PRESENTER_KEY] = True
    st.query_params[PRESENTER_KEY] = "1"
    st.query_params[SLIDE_PARAM] = str(number)


def _keep_in_url(on: bool) -> None:
    if on and st.query_params.get(PRESENTER_KEY) != "1":
        st.query_params[PRESENTER_KEY] = "1"
    elif not on and PRESENTER_KEY in st.query_params:
        del st.query_params[PRESENTER_KEY]


def suppression_note() -> str:
    threshold = suppression_threshold()
    return (
        f'Presenter mode: counts from 1 to {threshold - 1} show as "<{threshold}", and numbers that would reveal them '
        f'(percentages, intervals, a complementary count) as "suppressed", in text, tables, charts and downloads. Zero is shown as 0. '
        f"In charts, hatched bars stand for hidden counts."
    )


def shown_count(n) -> str:
    """A count for a line of text: "<5" for 1-4 in presenter mode, with thousands separators otherwise.

    Zero is shown as 0 even in presenter mode: it names nobody, and "no course had X" is often the
    finding itself.
    """
    if presenter_on():
        value = suppress_count(n, suppression_threshold())
        return value if isinstance(value, str) else f"{value:,}"
    return f"{n:,}"


def any_small(*counts) -> bool:
    """In presenter mode, whether any of `counts` (None ignored) is from 1 to threshold - 1."""
    return presenter_on() and any(is_small(n, suppression_threshold()) for n in counts if n is not None)


def withheld(numerator, n) -> bool:
    """In presenter mode, whether a share `numerator` of `n` would give a small count back: n, the
    numerator or the rest (n - numerator) from 1 to threshold - 1 (9% of 33 is 3; 30 of 33 leaves 3)."""
    if not presenter_on():
        return False
    return bool(hidden_shares([numerator if numerator is not None else float("nan")], [n], suppression_threshold())[0])


def shown_share(text: str, numerator, n) -> str:
    """`text` (a share, an interval, a difference) or "suppressed" where the counts behind it are small."""
    return SUPPRESSED if withheld(numerator, n) else text


def shown_of(numerator, n) -> str:
    """ "k of n" for a line of text: in presenter mode k reads "<5" when small and "suppressed" when
    n - k is small (18 of 20 would reveal the 2 without it), and n reads "<5" when small."""
    k = numerator or 0
    shown_k = str(numerator_labels([k], [n], suppression_threshold())[0]) if presenter_on() else f"{k:,}"
    return f"{shown_k} of {shown_count(n)}"


def shown_text(text: str) -> str:
    """Words written elsewhere (a claim's explanation, a model's notes) with small counts next to
    count words ("3 courses", "n = 2", "3 of 40", "38 of 40") made "<5" or "suppressed" in presenter mode."""
    return redact_small_counts(text, suppression_threshold()) if presenter_on() else text


ESTIMATE_FIGURES = ["estimate", "ci_low", "ci_high", "explanation"]


def withheld_rows(table: pd.DataFrame) -> pd.Series:
    """Rows of a table of estimates (the claims scorecard, its sensitivity) whose share gives a small
    count back in presenter mode, judged on estimate × n since such tables carry no numerator."""
    return pd.Series(
        [withheld(None if pd.isna(e) else round(e * n), n) for e, n in zip(table["estimate"], table["n"])],
        index=table.index,
        dtype=bool,
    )


def presentable_estimates(table: pd.DataFrame, hidden: pd.Series) -> pd.DataFrame:
    """A table of estimates as a presenter may share it: the `hidden` rows' estimate, interval and
    explanation read "suppressed", and small counts in the other explanations are redacted."""
    if not presenter_on():
        return table
    shown = table.assign(explanation=table["explanation"].map(shown_text)) if "explanation" in table else table.copy()
    figures = [c for c in ESTIMATE_FIGURES if c in shown]
    shown[figures] = shown[figures].astype(object)
    shown.loc[hidden, figures] = SUPPRESSED
    return shown


# ---------------------------------------------------------------------------------------------
# Every table shown in presenter mode is suppressed, whichever page draws it


def presentable_table(table: pd.DataFrame, column_config: dict | None = None) -> tuple[pd.DataFrame, dict | None]:
    """The table suppressed for showing: a column holding "<5" or "suppressed" becomes text, its
    numbers written as its number format would show them."""
    shown = suppress_any_table(table, suppression_threshold())
    config = dict(column_config or {})
    for column in shown.columns:
        if not _numbers_and_words(shown[column]):
            continue
        setting = config.get(column)
        number_format = _number_format(setting)
        shown[column] = shown[column].map(
            lambda value, number_format=number_format: (
                value if isinstance(value, str) else _as_text(value, number_format)
            )
        )
        if setting is None or isinstance(setting, (str, dict)):
            label = setting if isinstance(setting, str) else (setting or {}).get("label")
            help_text = (setting or {}).get("help") if isinstance(setting, dict) else None
            config[column] = st.column_config.TextColumn(label, help=help_text)
    return shown, config or None


def _numbers_and_words(cells: pd.Series) -> bool:
    """Whether a column mixes numbers with words ("<5", "suppressed"): it must be shown as text."""
    if cells.dtype != object:
        return False
    kinds = cells.map(
        lambda value: (
            "word"
            if isinstance(value, str)
            else "number"
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not pd.isna(value)
            else "other"
        )
    )
    return bool(kinds.eq("word").any() and kinds.eq("number").any())


def _number_format(setting) -> str | None:
    if isinstance(setting, dict):
        return (setting.get("type_config") or {}).get("format")
    return None


def _as_text(value, number_format: str | None) -> str:
    if value is None or pd.isna(value):
        return ""
    if number_format == "percent":
        return f"{float(value):.1%}"
    if number_format and number_format.startswith("%"):
        try:
            return number_format % value
        except (TypeError, ValueError):
            pass
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):,.4g}"
