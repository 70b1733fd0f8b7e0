"""Data: load your own files (each file's table and column mapping confirmed), what is loaded,
the validation report with what was kept and dropped, and the data dictionary."""

import streamlit as st

from analysis.ingest.progress import release_memory
from analysis.schema import data_dictionary
from ui.access import access_note
from ui.data_source import PENDING_STATE, UPLOAD, UPLOAD_MAPPING_STATE, UPLOAD_STATE, upload_plan
from ui.page import csv_download, page_header, show_table
from ui.presenter import shown_count, shown_text
from ui.upload_flow import (
    DRAFT_STATE,
    REFUSED_STATE,
    REOPENED,
    confirm_upload,
    hold_upload,
    new_uploader,
    plan_key,
    problems_table,
    render_plan,
    reopen_upload,
    saved_mapping_text,
    uploader_key,
)

FILE_TYPES = [
    "csv",
    "tsv",
    "txt",
    "tab",
    "xlsx",
    "xlsm",
    "xls",
    "parquet",
    "zip",
    "gz",
]  # .xls: to say how to convert it

view = page_header("Data", "Where the numbers come from, what was checked, and what was kept.")
result = view.result
limit_mb = st.get_option("server.maxUploadSize")


def _drop_refused(plan, pending: tuple, saved: str | None) -> None:
    """Files refused for a decompression limit (a compressed bomb) are dropped from the upload, and
    the refusal stays on the page until the next upload."""
    st.session_state[REFUSED_STATE] = [f"**{file}** cannot be read: {reason}." for file, reason in plan.problems]
    st.session_state[PENDING_STATE] = tuple(
        f for f in st.session_state.get(PENDING_STATE, ()) if f[0] not in plan.refused
    )
    new_uploader()
    upload_plan.clear(pending, saved)  # this plan only; other sessions' plans stay
    release_memory()
    st.rerun()


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


st.subheader("Load your own files")
st.file_uploader(
    "Your files: CSV or TSV (any delimiter, decimal commas too), Excel, Parquet, CDISC ADaM/SDTM, REDCap exports, "
    "or a zip holding several",
    type=FILE_TYPES,
    accept_multiple_files=True,
    key=uploader_key(),
    on_change=hold_upload,
    help="The app recognises what each file holds and proposes how its columns map; you confirm before anything is used.",
)
st.caption(
    f"Up to {limit_mb:,} MB per file; a larger export can be split, or loaded with the command line "
    "(`python -m analysis summary FOLDER --mapping FILE`). Uploaded files stay in this browser session's memory: "
    "nothing is written to disk or sent anywhere, and no other session can see them, unless you use "
    "**Save and share** in the sidebar. Columns holding names, e-mail addresses, phone numbers, street "
    "addresses, full dates of birth or health-insurance numbers are dropped on upload. " + access_note()
)

for refusal in st.session_state.get(REFUSED_STATE, []):
    st.error(refusal, icon=":material/block:")

pending = st.session_state.get(PENDING_STATE, ())
if pending:
    mapping_file = st.file_uploader(
        "Apply a saved mapping (optional)",
        type=["json"],
        key="mapping_widget",
        help="A mapping downloaded from this page earlier maps the same export the same way.",
    )
    saved = saved_mapping_text(mapping_file) or st.session_state.get(REOPENED)
    plan = upload_plan(pending, saved)
    if plan.refused:
        _drop_refused(plan, pending, saved)
    st.markdown("#### Check what each file holds and how its columns map")
    mapping = render_plan(plan, plan_key(pending, saved))
    st.session_state[DRAFT_STATE] = mapping.to_json()
    left, right = st.columns(2)
    left.button("Use this data", type="primary", on_click=confirm_upload, key="use_upload", icon=":material/check:")
    right.download_button(
        "Download this mapping (JSON)",
        mapping.to_json(),
        file_name="column_mapping.json",
        mime="application/json",
        on_click="ignore",
        key="download_draft_mapping",
    )
elif st.session_state.get("source") == UPLOAD and st.session_state.get(UPLOAD_STATE):
    left, right = st.columns(2)
    left.button("Change how the files map", on_click=reopen_upload, key="reopen_upload", icon=":material/edit:")
    if st.session_state.get(UPLOAD_MAPPING_STATE):
        right.download_button(
            "Download the mapping of the loaded files (JSON)",
            st.session_state[UPLOAD_MAPPING_STATE],
            file_name="column_mapping.json",
            mime="application/json",
            on_click="ignore",
            key="download_mapping",
        )


def _waiting_status() -> None:
    """While files are being mapped, the status speaks of them: nothing about them is loaded or checked yet,
    and what the pages show meanwhile is named, never given as their verdict."""
    if st.session_state.get("source") == UPLOAD and st.session_state.get(UPLOAD_STATE):
        st.info(
            "Your files are not loaded with this mapping yet: check the columns above and press **Use this data**; "
            "until then the pages keep showing your files as they were loaded before.",
            icon=":material/pending:",
        )
    else:
        meanwhile = (
            "the demo" if view.cohort is None or view.cohort.synthetic else f"**{view.cohort.source.replace('*', '')}**"
        )
        st.info(
            "Your files are not loaded yet: map the columns above and press **Use this data**; "
            f"{meanwhile} stays loaded until then.",
            icon=":material/pending:",
        )
    st.subheader("Validation report")
    st.caption(
        "Your files are checked when you press **Use this data**: the report then names every row and column "
        "that was not used as written."
    )


def _loaded_status(report) -> None:
    """What the pages show, and its validation report."""
    if view.cohort is not None:
        cohort = view.cohort
        st.markdown(
            f"**{cohort.label}** · {shown_count(cohort.n_courses)} courses of {shown_count(cohort.n_patients)} patients"
        )
        st.caption(
            f"SHA-256 fingerprint of the input: `{cohort.fingerprint}`",
            help="Computed from the files' contents and how their columns map (file names left out): the same files "
            "mapped the same way give the same fingerprint here, in the HTML report and on the command line.",
        )
    for line in report.summary_lines():
        st.markdown(f"- {shown_text(line)}")
    if report.read_as and not (view.cohort is not None and view.cohort.synthetic):
        st.caption("Read as: " + "; ".join(report.reading_lines()) + ".")
    notes = report.issues[report.issues["severity"] == "note"]
    if len(notes):
        with st.expander(f"What was done to your files ({len(notes)} notes)"):
            for note in notes.itertuples():
                st.markdown(f"- **{note.file}**: {shown_text(note.message)}")

    st.subheader("Validation report")
    issues = problems_table(report)
    if issues.empty:
        st.success("No problems found: every row was kept.")
    else:
        errors, warnings = report.error_count, report.warning_count
        st.markdown(
            f"**{_count(errors, 'error')}** and **{_count(warnings, 'warning')}**. Each names the file, the row as counted "
            "in the file (the header is row 1) and the column."
        )
        show_table(issues, hide_index=True, width="stretch")
        csv_download(issues, "validation_report.csv", "Download the validation report (CSV)")


st.subheader("What is loaded")
if pending:
    _waiting_status()
else:
    _loaded_status(result.report)

st.subheader("Data dictionary")
st.caption(
    "The canonical format. Only courses.csv is required; times are whole days from the first dose (day 0). "
    "Other names are mapped onto these on upload."
)
dictionary = data_dictionary()
show_table(dictionary, hide_index=True, width="stretch")
csv_download(dictionary, "data_dictionary.csv", "Download the data dictionary (CSV)")
