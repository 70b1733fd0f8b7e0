"""Data: what is loaded, the validation report, uploads of the canonical format, the data dictionary."""
import streamlit as st

from analysis.schema import data_dictionary
from ui.data_source import UPLOAD, remember_upload
from ui.page import csv_download, page_header

view = page_header("Data", "Where the numbers come from, what was checked, and what was kept.")
result = view.result


def _use_upload() -> None:
    files = st.session_state.get("upload_widget") or []
    if files:
        remember_upload(files)
        st.session_state["source"] = UPLOAD


st.subheader("Load your own files")
st.file_uploader(
    "Canonical CSV files (courses.csv, and optionally visits.csv, adverse_events.csv, labs.csv) or one zip holding them",
    type=["csv", "zip"], accept_multiple_files=True, key="upload_widget", on_change=_use_upload,
)
st.caption("Uploaded files stay in this browser session's memory: nothing is written to disk or sent anywhere, "
           "and no other session can see them. This app runs for local use (no sign-in configured).")

st.subheader("What is loaded")
if view.cohort is not None:
    cohort = view.cohort
    st.markdown(f"**{cohort.label}** · {cohort.n_courses:,} courses of {cohort.n_patients:,} patients")
    st.caption(f"SHA-256 fingerprint of the input: `{cohort.fingerprint}`")
for line in result.report.summary_lines():
    st.markdown(f"- {line}")

st.subheader("Validation report")
issues = result.report.to_frame()
if issues.empty:
    st.success("No problems found: every row was kept.")
else:
    errors, warnings = result.report.error_count, result.report.warning_count
    st.markdown(f"**{errors:,} errors** and **{warnings:,} warnings**. Each names the file, the row as counted in the file (the header is row 1) and the column.")
    st.dataframe(issues, hide_index=True, width="stretch")
    csv_download(issues, "validation_report.csv", "Download the validation report (CSV)")

st.subheader("Data dictionary")
st.caption("The canonical format. Only courses.csv is required; times are whole days from the first dose (day 0).")
dictionary = data_dictionary()
st.dataframe(dictionary, hide_index=True, width="stretch")
csv_download(dictionary, "data_dictionary.csv", "Download the data dictionary (CSV)")
