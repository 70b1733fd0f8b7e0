"""Page furniture: the header with the dataset's label, downloads, and empty-state messages."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from .sidebar import View, current_view


def page_header(title: str, intro: str = "") -> View:
    view = current_view()
    st.title(title)
    if view.cohort is not None:
        badge = ":orange-badge[Synthetic demo data]" if view.cohort.synthetic else ":blue-badge[Your data]"
        st.markdown(f"{badge} {view.cohort.source} · **{view.filtered.n_courses:,}** of {view.cohort.n_courses:,} courses · filters: {view.filters.describe()}")
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


def csv_download(table: pd.DataFrame, file_name: str, label: str = "Download CSV", key: str | None = None) -> None:
    st.download_button(label, table.to_csv(index=False).encode("utf-8"), file_name=file_name, mime="text/csv",
                       key=key or f"download-{file_name}", on_click="ignore")
