"""An area's declared sections drawn on its page: each chart with its notes and its table, for this
session's audience (presenter mode suppresses as a shared report does)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.areas.base import Audience, Drawing, Section, Table
from analysis.cohort.grouping import grouping_options
from analysis.stats.suppression import suppress_table

from .charts import show_chart
from .page import csv_download, show_table
from .presenter import chart_suppression, presenter_on, shown_text, suppression_threshold


def page_audience(lines=None, group_by: str | None = None) -> Audience:
    """The audience of this page: suppressed in presenter mode, with the article lines the claims tested allow."""
    if lines is None:
        return Audience(chart_suppression(), group_by=group_by)
    return Audience(chart_suppression(), lines, group_by)


def show_sections(sections: tuple[Section, ...], cohort, result, audience: Audience) -> None:
    """Every section in order; a section marked `beside_next` shares a row with the one after it."""
    pending: Section | None = None
    for section in sections:
        if section.beside_next:
            pending = section
            continue
        if pending is None:
            show_section(section, cohort, result, audience)
            continue
        left, right = st.columns(2)
        with left:
            show_section(pending, cohort, result, audience)
        with right:
            show_section(section, cohort, result, audience)
        pending = None
    if pending is not None:
        show_section(pending, cohort, result, audience)


def show_section(section: Section, cohort, result, audience: Audience) -> None:
    if section.group_choice:
        audience = chosen_group(section, cohort, audience)
        if audience is None:
            return
    drawing = section.draw(cohort, result, audience)
    if drawing.missing:
        st.info(drawing.missing)
        return
    if drawing.figure is not None:
        show_chart(drawing.figure, drawing.name or section.title, key=section.key)
    for note in drawing.notes:
        st.caption(shown_text(note))
    if drawing.table is not None:
        with st.expander(f"{drawing.table.title} (table)"):
            show_declared_table(drawing, section.key)


def chosen_group(section: Section, cohort, audience: Audience) -> Audience | None:
    """The grouping picked on the page (kept in the link), or None after saying there is none to pick."""
    st.subheader("Compare groups")
    options = grouping_options(cohort)
    if not options:
        st.info(
            "No grouping field has at least two values in the selected courses (sex, age, baseline IGA, dose bands, site, ...)."
        )
        return None
    key = st.selectbox(
        section.group_choice, list(options), format_func=options.get, key=section.group_key, bind="query-params"
    )
    return Audience(audience.suppress_below, audience.lines, key)


def show_declared_table(drawing: Drawing, name: str) -> None:
    """The section's table as the page shows and downloads it: counts the declaration names suppressed
    in presenter mode, shares as percentages, columns under their labels."""
    table = drawing.table
    frame = shown_frame(table)
    config = {
        column: st.column_config.NumberColumn(table.labels.get(column), format="percent")
        for column in table.shares
        if column in frame.columns and pd.api.types.is_numeric_dtype(frame[column])
    }
    labels = {column: label for column, label in table.labels.items() if column not in config}
    show_table(frame.rename(columns=labels), hide_index=True, width="stretch", column_config=config or None)
    if table.note:
        st.caption(shown_text(table.note))
    csv_download(frame.rename(columns=table.labels), f"{name}.csv", key=f"{name}_csv")


def shown_frame(table: Table) -> pd.DataFrame:
    if not presenter_on():
        return table.frame
    return suppress_table(table.frame, table.counts, suppression_threshold(), table.derived, table.denominators)
