"""The sidebar every page shares: data source and cohort filters, bound to the URL."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from analysis.cohort.filters import CATEGORICAL_FILTERS, COLUMN_LABELS, FilterSpec, filter_choices
from analysis.cohort.filters import filtered as filtered_cohort
from analysis.cohort.loading import LoadResult
from analysis.cohort.model import Cohort

from .access import sign_out_control
from .data_source import (
    CONFIGURED,
    DEMO,
    SHARED,
    UPLOAD,
    active_result,
    configured_source,
    shared_files,
    uploaded_files,
)
from .presenter import presenter_controls, shown_count
from .sharing import open_linked_dataset, sharing_controls

FILTER_LABELS = COLUMN_LABELS
CUSTOM_PREFIX = "x_"
VIEW_STATE = "view"


@dataclass
class View:
    """What the current page shows: the loaded data, the filters, and the filtered cohort."""

    result: LoadResult
    cohort: Cohort | None
    filtered: Cohort | None
    filters: FilterSpec

    def key(self, table: str) -> tuple:
        """What a page's kept results depend on: the dataset, the filters and the filtered rows of
        `table` (counted without cutting the table from the whole cohort's)."""
        whole, shown = self.cohort, self.filtered
        return (
            whole.fingerprint,
            whole.source,
            whole.n_courses,
            self.filters.describe(),
            shown.n_courses,
            shown.n_rows(table),
        )


def render_sidebar() -> View:
    open_linked_dataset()
    source = _source_picker()
    result = active_result(source)
    cohort = result.cohort
    if cohort is None:
        st.sidebar.error("The data could not be loaded. The Data page says why.")
        view = View(result, None, None, FilterSpec())
    else:
        spec = _filter_widgets(cohort)
        filtered = filtered_cohort(cohort, spec)  # the same object on a rerun: its results are reused
        _count_line(filtered, cohort)
        view = View(result, cohort, filtered, spec)
    st.session_state[VIEW_STATE] = view
    sharing_controls(view)
    presenter_controls()
    sign_out_control()
    return view


def current_view() -> View:
    return st.session_state[VIEW_STATE]


def _source_picker() -> str:
    """The administrator's configured source first (the dataset the server is for), then the demo."""
    configured = configured_source()
    choices = ([CONFIGURED] if configured else []) + [DEMO]
    choices += ([UPLOAD] if uploaded_files() else []) + ([SHARED] if shared_files() else [])
    labels = {DEMO: "Synthetic demo cohort", UPLOAD: "My uploaded files", SHARED: "Saved dataset (shared link)"}
    labels[CONFIGURED] = configured.label if configured else ""
    st.sidebar.header("Data")
    return st.sidebar.radio(
        "Data source",
        choices,
        format_func=labels.get,
        key="source",
        bind="query-params",
        help="Upload your own files on the Data page.",
    )


def _filter_widgets(cohort: Cohort) -> FilterSpec:
    st.sidebar.header("Filters")
    options = filter_choices(cohort)
    values = {}
    for key in CATEGORICAL_FILTERS:
        if key in options:
            values[key] = _multiselect(FILTER_LABELS[key], key, options[key])
    custom = [c for c in cohort.custom_columns if c in options]
    if custom:
        with st.sidebar.expander("More filters (your columns)"):
            for column in custom:
                values[column] = _multiselect(column, CUSTOM_PREFIX + column, options[column], container=st)
    return FilterSpec(values=values, start_year=_year_slider(cohort))


def _multiselect(label: str, key: str, options: list, container=None) -> tuple:
    by_text = {str(v): v for v in options}
    target = container or st.sidebar
    chosen = target.multiselect(label, list(by_text), key=key, bind="query-params", placeholder="All")
    return tuple(by_text[c] for c in chosen if c in by_text)


def _year_slider(cohort: Cohort) -> tuple[int, int] | None:
    years = cohort.courses["start_year"].dropna()
    if years.nunique() < 2:
        return None
    low, high = int(years.min()), int(years.max())
    chosen = st.sidebar.slider("Start year", low, high, (low, high), key="start_year", bind="query-params")
    return None if tuple(chosen) == (low, high) else (int(chosen[0]), int(chosen[1]))


def _count_line(filtered: Cohort, cohort: Cohort) -> None:
    st.sidebar.markdown(f"**{shown_count(filtered.n_courses)} of {shown_count(cohort.n_courses)} courses** selected")
    if cohort.synthetic:
        st.sidebar.caption("Synthetic demo data: generated, not real patients.")
