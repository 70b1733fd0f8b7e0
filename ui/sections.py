"""An area's declared sections drawn on its page: each chart with its notes and its table, for this
session's audience (presenter mode suppresses as a shared report does)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import pandas as pd
import streamlit as st

from analysis.areas.base import Audience, Choice, Drawing, Section, Table
from analysis.stats.suppression import suppress_table

from .charts import file_stem, show_chart
from .kept import kept
from .page import csv_download, opened, show_table
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
    if section.heading:
        st.subheader(section.heading)
    if section.choices is not None:
        audience = with_choices(section.choices(cohort, result), audience)
    drawing = drawn(section, cohort, result, audience)
    if drawing.missing:
        st.info(drawing.missing)
    elif drawing.figure is None and not drawing.more_figures:  # a table on its own is the section itself
        for name, table in named_tables(section, drawing):
            st.markdown(f"**{table.title}**")
            show_declared_table(table, name)
        show_notes(drawing)
    else:
        show_charts(section, drawing)
        show_notes(drawing)
        for name, table in named_tables(section, drawing):
            box = opened(f"{table.title} (table)", name)
            if box is not None:
                with box:
                    show_declared_table(table, name)


def show_charts(section: Section, drawing: Drawing) -> None:
    """The section's chart at full width, then any further charts two to a row."""
    if drawing.figure is not None:
        show_chart(drawing.figure, drawing.name or section.title, key=section.key)
    if drawing.more_figures:
        columns = st.columns(2)
        for number, (name, figure) in enumerate(drawing.more_figures):
            with columns[number % 2]:
                show_chart(figure, name, key=f"{section.key}_{file_stem(name)}")


def named_tables(section: Section, drawing: Drawing) -> list[tuple[str, Table]]:
    """Each table with the name its download and widgets take: the section's key, then key_2, key_3, ..."""
    return [(section.key if n == 0 else f"{section.key}_{n + 1}", table) for n, table in enumerate(drawing.tables)]


DRAWINGS_KEPT = 48  # per cohort: every section of every page, for a few audiences and results


def drawn(section: Section, cohort, result, audience: Audience) -> Drawing:
    """`section.draw(...)`, kept with the cohort (`ui.kept`) for the same result object and audience: a
    rerun or a return to the page sends the figures it built before instead of building them again."""
    wanted = audience_key(audience)
    if wanted is None:
        return section.draw(cohort, result, audience)
    key = (section.key, id(section), wanted, id(result))  # sections are module constants: their id stays
    held, drawing = kept(
        cohort, "drawings", key, lambda: (_holder(result), section.draw(cohort, result, audience)), DRAWINGS_KEPT
    )
    if held() is not result:  # the result this was drawn from is gone and another took its id
        drawing = section.draw(cohort, result, audience)
    return drawing


def _holder(result) -> Callable:
    """Gives back `result` while it lives: weakly when it can be (a large analysis is not kept alive
    by its drawings), else strongly (a list of claims)."""
    try:
        return weakref.ref(result)
    except TypeError:
        return lambda: result


def audience_key(audience: Audience):
    """What of the audience a drawing depends on, as a hashable key (None when it cannot be one)."""
    lines = audience.lines
    if isinstance(lines, partial):
        lines = (lines.func, lines.args, tuple(sorted(lines.keywords.items())))
    chosen = tuple(sorted((key, tuple(v) if isinstance(v, list) else v) for key, v in audience.chosen.items()))
    key = (audience.suppress_below, lines, audience.group_by, chosen, audience.report)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def show_notes(drawing: Drawing) -> None:
    for note in drawing.notes:
        st.caption(shown_text(note))


def with_choices(choices: tuple[Choice, ...], audience: Audience) -> Audience:
    """The audience with the reader's picks, one select box per choice side by side (kept in the link)."""
    offered = [choice for choice in choices if choice.options]
    chosen = dict(audience.chosen)
    for column, choice in zip(st.columns(max(len(offered), 1)), offered):
        chosen[choice.key] = choice_widget(choice, column)
    return replace(audience, chosen=chosen)


def choice_widget(choice: Choice, column):
    shown = {"format_func": lambda value, options=choice.options: str(options[value]), "key": choice.key}
    if choice.multiple:
        return column.multiselect(
            choice.label, list(choice.options), default=list(choice.default), bind="query-params", **shown
        )
    return column.selectbox(choice.label, list(choice.options), bind="query-params", **shown)


def show_declared_table(table: Table, name: str) -> None:
    """The section's table as the page shows and downloads it: counts the declaration names suppressed
    in presenter mode, shares as percentages, columns under their labels."""
    frame = shown_frame(table)
    labels = table.column_labels()
    config = {
        column: st.column_config.NumberColumn(labels[column], format="percent")
        for column in table.shares
        if column in frame.columns and pd.api.types.is_numeric_dtype(frame[column])
    }
    shown = frame.rename(columns={column: label for column, label in labels.items() if column not in config})
    show_table(shown, hide_index=True, width="stretch", column_config=config or None)
    if table.note:
        st.caption(shown_text(table.note))
    csv_download(frame.rename(columns=labels), f"{name}.csv", key=f"{name}_csv")


def shown_frame(table: Table) -> pd.DataFrame:
    if not presenter_on():
        return table.frame
    return suppress_table(table.frame, table.counts, suppression_threshold(), table.derived, table.denominators)
