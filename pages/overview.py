"""Overview: the cohort at a glance."""
import streamlit as st

from analysis import overview
from ui.page import csv_download, page_header, require_data

view = page_header("Overview", "What the loaded courses look like: who was treated, with how much, for how long, and how complete the data is.")
if require_data(view):
    cohort = view.filtered
    facts = overview.profile(cohort)
    columns = st.columns(5)
    columns[0].metric("Courses", f"{facts['courses']:,}")
    columns[1].metric("Patients", f"{facts['patients']:,}")
    columns[2].metric("Female", "–" if facts["female_share"] is None else f"{facts['female_share']:.0%}")
    columns[3].metric("Median course length", "–" if facts["median_duration_days"] is None else f"{facts['median_duration_days']:.0f} days")
    columns[4].metric("Median cumulative dose", "–" if facts["median_cumulative_dose_mg_per_kg"] is None else f"{facts['median_cumulative_dose_mg_per_kg']:.0f} mg/kg")

    st.plotly_chart(overview.demographics_figure(cohort), width="stretch")
    left, right = st.columns(2)
    left.plotly_chart(overview.dose_figure(cohort), width="stretch")
    right.plotly_chart(overview.duration_figure(cohort), width="stretch")

    with st.expander("Demographics table"):
        table = overview.demographics_table(cohort)
        st.dataframe(table, hide_index=True, width="stretch")
        csv_download(table, "demographics.csv")
    completeness = overview.completeness(cohort)
    with st.expander("Data completeness per table and column"):
        st.plotly_chart(overview.completeness_figure(completeness), width="stretch")
        st.dataframe(completeness, hide_index=True, width="stretch")
        csv_download(completeness, "completeness.csv")
