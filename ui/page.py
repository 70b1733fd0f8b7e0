"""Page furniture: the header with the dataset's label, downloads, and empty-state messages."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

import pandas as pd
import streamlit as st

from analysis.outputs.tables import csv_bytes, excel_bytes
from analysis.stats.suppression import suppress_any_table, suppress_table

from .layout import layout_css
from .presenter import presentable_table, presenter_on, shown_count, suppression_note, suppression_threshold
from .sidebar import View, current_view

EXCEL_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def page_header(title: str, intro: str = "") -> View:
    view = current_view()
    layout_css()
    st.title(title)
    if view.cohort is not None:
        badge = ":orange-badge[Synthetic demo data]" if view.cohort.synthetic else ":blue-badge[Your data]"
        st.markdown(
            f"{badge} {view.cohort.source} · **{shown_count(view.filtered.n_courses)}** of "
            f"{shown_count(view.cohort.n_courses)} courses · filters: {view.filters.describe()}"
        )
    if presenter_on():
        st.caption(suppression_note())
    if intro:
        st.caption(intro)
    return view


def require_data(view: View) -> bool:
    """False (after saying why) when there is nothing to analyse."""
    if view.cohort is None:
        st.error("No dataset is loaded: the files could not be read. Open the **Data** page for the validation report.")
        return False
    if view.filtered.n_courses == 0:
        st.warning("No course matches the current filters. Widen them in the sidebar.")
        return False
    return True


def shareable_table(
    table: pd.DataFrame,
    suppress: bool = False,
    count_columns: Iterable[str] | None = None,
    percent_columns: Iterable[str] = (),
) -> pd.DataFrame:
    """The table as it may leave the app: small counts suppressed in presenter mode or when asked.

    With `count_columns` the caller names the counts (and the percentages derived from them);
    otherwise they are recognised by name and content (`analysis.stats.suppression.suppress_any_table`).
    """
    if not (suppress or presenter_on()):
        return table
    if count_columns is not None:
        return suppress_table(table, count_columns, suppression_threshold(), percent_columns)
    return suppress_any_table(table, suppression_threshold())


def csv_download(
    table: pd.DataFrame,
    file_name: str,
    label: str = "Download CSV",
    key: str | None = None,
    suppress: bool = False,
    count_columns: Iterable[str] | None = None,
    percent_columns: Iterable[str] = (),
) -> None:
    """CSV and Excel downloads of a table: formula-looking text made inert, small counts suppressed in presenter mode."""
    shared = shareable_table(table, suppress, count_columns, percent_columns)
    row = st.container(horizontal=True, gap="small")
    row.download_button(
        label,
        lambda: csv_bytes(shared),  # built only when clicked
        file_name=file_name,
        mime="text/csv",
        key=key or f"download-{file_name}",
        on_click="ignore",
        icon=":material/download:",
    )
    excel_download(
        shared,
        str(PurePath(file_name).with_suffix(".xlsx")),
        key=f"{key or 'download-' + file_name}-xlsx",
        container=row,
        already_shared=True,
    )


def excel_download(
    table: pd.DataFrame,
    file_name: str,
    label: str = "Download Excel",
    key: str | None = None,
    suppress: bool = False,
    container=None,
    already_shared: bool = False,
) -> None:
    """An Excel (.xlsx) download, built only when clicked; text is never run as a formula."""
    shared = table if already_shared else shareable_table(table, suppress)
    target = container if container is not None else st
    target.download_button(
        label,
        lambda: excel_bytes(shared, PurePath(file_name).stem),
        file_name=file_name,
        mime=EXCEL_MIME,
        key=key or f"download-{file_name}",
        on_click="ignore",
        icon=":material/table_view:",
    )


OPENED_KEY = "opened_"  # the key of every expander whose content is drawn only while it is open


def opened(label: str, key: str):
    """An expander whose content is drawn only while it is open: closed, the browser gets its label alone
    (opening it reruns the page, which then draws the content). The expander when open, else None."""
    box = st.expander(label, key=f"{OPENED_KEY}{key}", on_change="rerun")
    return box if box.open else None


MAX_TABLE_ROWS = 1_000  # a page never sends a million rows to the browser; downloads hold them all


BLANK = ""  # how every table shows a cell with nothing in it (Streamlit's default writes "None")


def show_table(table: pd.DataFrame, **options) -> None:
    """`st.dataframe`, with small counts suppressed while presenter mode is on, long tables shown a
    page of MAX_TABLE_ROWS rows at a time (a page number picks which), and blank cells left empty."""
    options.setdefault("placeholder", BLANK)
    if presenter_on():
        table, config = presentable_table(table, options.get("column_config"))
        if config is not None:
            options["column_config"] = config
    if len(table) > MAX_TABLE_ROWS:
        table = _page_of(table)
    return st.dataframe(table, **options)


def _page_of(table: pd.DataFrame) -> pd.DataFrame:
    """One page of a long table. The page number is keyed on the table's columns and length, so a
    filter that changes the table starts again at page 1."""
    pages = -(-len(table) // MAX_TABLE_ROWS)
    key = "table_page_" + "|".join(map(str, table.columns)) + f"|{len(table)}"
    page = st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1, step=1, key=key)
    start = (int(page) - 1) * MAX_TABLE_ROWS
    st.caption(
        f"Rows {start + 1:,}-{min(start + MAX_TABLE_ROWS, len(table)):,} of {len(table):,}; the download below holds them all."
    )
    return table.iloc[start : start + MAX_TABLE_ROWS]
