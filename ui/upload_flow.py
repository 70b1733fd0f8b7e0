"""The Data page's upload flow: files -> what each holds -> its column mapping -> confirmed.

Every decision is the user's to check: the table each file holds (with how sure the app is),
which column becomes which, how coded values translate, and which rows are used. The result is a
`Mapping` that loads the data and can be downloaded to map the same export again.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pandas as pd
import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from analysis.ingest import mapping as mp
from analysis.ingest.mapping import FileMapping, Mapping, MappingError
from analysis.ingest.upload import SheetPlan, UploadPlan
from ui.data_source import PENDING_STATE, UPLOAD, UPLOAD_MAPPING_STATE, UPLOAD_STATE, use_pending_upload

from .page import BLANK

TABLE_CHOICES = ["courses", "visits", "adverse_events", "labs", mp.COURSE_EVENTS, ""]
DRAFT_STATE = "draft_mapping"
MAPPING_FILE_STATE = "applied_mapping_file"


REFUSED_STATE = "refused_upload"  # messages about files refused for a decompression limit
UPLOADER_GENERATION = "uploader_generation"
REOPENED = "reopened_mapping"

# The uploader's callbacks live here, not in the page script: Streamlit keeps every widget's callback
# for as long as the session lasts, and a callback defined in a page script would keep that run's
# variables (the loaded dataset, the upload's bytes) alive with it, upload after upload.


def uploader_key() -> str:
    """The uploader's key; a new one after each confirmed or refused upload, so that it starts empty."""
    generation = st.session_state.get(UPLOADER_GENERATION, 0)
    return "upload_widget" if generation == 0 else f"upload_widget_{generation}"


def new_uploader() -> None:
    """The next upload goes into a fresh, empty uploader; the files of this one leave Streamlit's upload
    store (their bytes stay only where this session keeps them: the upload awaiting confirmation or the
    data in use)."""
    forget_uploaded_files(st.session_state.get(uploader_key()) or [])
    st.session_state[UPLOADER_GENERATION] = st.session_state.get(UPLOADER_GENERATION, 0) + 1


def forget_uploaded_files(files: list) -> None:
    context = get_script_run_ctx()
    if context is None or not runtime.exists():
        return
    store = runtime.get_instance().uploaded_file_mgr
    for file in files:
        store.remove_file(context.session_id, file.file_id)


def hold_upload() -> None:
    """The uploaded files await the user's check of what they hold and how they map."""
    files = st.session_state.get(uploader_key()) or []
    st.session_state[PENDING_STATE] = tuple((f.name, f.getvalue()) for f in files)
    st.session_state.pop(REFUSED_STATE, None)


def confirm_upload() -> None:
    use_pending_upload(st.session_state[DRAFT_STATE])
    new_uploader()  # the next upload starts afresh instead of adding to the files just loaded
    st.session_state["source"] = UPLOAD
    st.session_state.pop(REOPENED, None)


def reopen_upload() -> None:
    """The loaded files back in the mapping step, starting from the mapping they were loaded with."""
    st.session_state[PENDING_STATE] = st.session_state.get(UPLOAD_STATE, ())
    st.session_state[REOPENED] = st.session_state.get(UPLOAD_MAPPING_STATE)


def plan_key(files: tuple[tuple[str, bytes], ...], mapping_json: str | None) -> str:
    """A short fingerprint of the upload, so that widgets start afresh for new files."""
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    digest.update((mapping_json or "").encode())
    return digest.hexdigest()[:10]


def saved_mapping_text(uploaded) -> str | None:
    """The text of an uploaded mapping file, or None after saying what is wrong with it."""
    if uploaded is None:
        return None
    text = uploaded.getvalue().decode("utf-8", errors="replace")
    try:
        Mapping.from_json(text)
    except MappingError as error:
        st.error(f"The mapping file {uploaded.name} cannot be used: {error}")
        return None
    return text


def render_plan(plan: UploadPlan, key: str) -> Mapping:
    """Shows each file's recognition and mapping for the user to confirm or change; returns the result."""
    for file, reason in plan.problems:
        st.error(f"**{file}** cannot be read: {reason}.")
    for entry in plan.saved_unused:
        st.warning(f"The mapping file has an entry for **{entry}**, but no uploaded file matches it.")
    mappings: list[FileMapping] = []
    for index, sheet_plan in enumerate(plan.sheets):
        with st.container(border=True):
            mappings += _sheet(sheet_plan, f"{key}_{index}")
    return Mapping(mappings)


def _sheet(sheet_plan: SheetPlan, key: str) -> list[FileMapping]:
    sheet = sheet_plan.sheet
    st.markdown(f"**{sheet.label}** · {sheet.n_rows:,} rows, {len(sheet.names)} columns")
    st.caption(f"Read as {sheet.detected()}.")
    for note in [*sheet.notes, *sheet.info]:
        st.caption(f"Note: {note}.")
    for found in sheet_plan.identifiers:
        st.warning(found.message(refused=bool(sheet_plan.refused)), icon=":material/privacy_tip:")
    if sheet_plan.refused:
        st.error(f"This file is not used. {sheet_plan.refused}.")
        return []
    chosen = []
    for number, mapping in enumerate(sheet_plan.mappings):
        chosen.append(_mapping(sheet_plan, mapping, f"{key}_{number}"))
    with st.expander("First rows of the file"):
        st.dataframe(sheet.preview(20), hide_index=True, width="stretch", placeholder=BLANK)
    return chosen


def _mapping(sheet_plan: SheetPlan, mapping: FileMapping, key: str) -> FileMapping:
    sheet = sheet_plan.sheet
    labels = mp.TABLE_LABELS
    table = st.selectbox(
        "This file holds",
        TABLE_CHOICES,
        index=TABLE_CHOICES.index(mapping.table),
        format_func=labels.get,
        key=f"{key}_table",
        help="What one row of the file is. Change it if the app guessed wrong.",
    )
    if table != mapping.table:
        mapping = mp.propose_file(sheet, table)[0] if table else FileMapping(sheet.file, sheet.sheet, "")
    if not table:
        st.caption("Not used." + (f" {mapping.reason}." if mapping.reason else ""))
        return mapping
    if mapping.format and mapping.format != "canonical":
        st.caption(f"Recognised as **{mapping.format}**: mapped without asking; check or change it below.")
    else:
        st.caption(
            f"How sure the app is: **{mapping.confidence:.0%}**" + (f" ({mapping.reason})." if mapping.reason else ".")
        )
    mapping = _columns_editor(sheet_plan, mapping, f"{key}_{table}")
    mapping = _values_editor(sheet_plan, mapping, f"{key}_{table}")
    return _filters(mapping, f"{key}_{table}")


def _columns_editor(sheet_plan: SheetPlan, mapping: FileMapping, key: str) -> FileMapping:
    sheet = sheet_plan.sheet
    rows = mp.mapping_rows(mapping, sheet)
    options = list(dict.fromkeys([*mp.target_choices(mapping.table), *rows["becomes"].tolist(), *mapping.columns]))
    edited = st.data_editor(
        rows,
        key=f"{key}_columns",
        hide_index=True,
        width="stretch",
        placeholder=BLANK,
        disabled=["column", "examples", "how", "confidence", "why"],
        column_config={
            "column": st.column_config.TextColumn("Your column", width=text_width(rows["column"]), pinned=True),
            "examples": st.column_config.TextColumn("Examples", width=text_width(rows["examples"])),
            "becomes": st.column_config.SelectboxColumn(
                "Becomes",
                options=options,
                required=True,
                width="medium",
                help="The dashboard's column it maps to: click to change",
            ),
            "how": st.column_config.TextColumn("Conversion", width="medium"),
            "confidence": st.column_config.ProgressColumn(
                "Confidence", min_value=0.0, max_value=1.0, format="percent", width="small"
            ),
            "why": st.column_config.TextColumn("Why", width="large"),
        },
    )
    constants = [f"{t} = {r.constant}" for t, r in mapping.columns.items() if r.constant is not None and not r.source]
    if constants:
        st.caption("Set for every row: " + ", ".join(constants) + ".")
    choices = dict(zip(edited["column"], edited["becomes"]))
    return mp.with_edits(mapping, sheet, choices)


CHARACTER_PX, PADDING_PX = 8, 28  # a generous average width of a character of the table's font, and a cell's padding
NARROWEST_PX, WIDEST_PX = 110, 360


def text_width(values: pd.Series) -> int:
    """A column width (pixels) that shows its longest text whole (names are what users check here),
    within bounds so that one very long value does not push the rest of the table out of view."""
    longest = int(values.astype("string").fillna("").str.len().max()) if len(values) else 0
    return max(NARROWEST_PX, min(WIDEST_PX, longest * CHARACTER_PX + PADDING_PX))


def _values_editor(sheet_plan: SheetPlan, mapping: FileMapping, key: str) -> FileMapping:
    values = mp.value_rows(mapping, sheet_plan.sheet)
    if values.empty:
        return mapping
    changed = int((values["becomes"] != values["value as written"]).sum())
    with st.expander(f"Values: how coded answers translate ({changed} translated)"):
        st.caption(
            "Each value as written in your file and what it becomes. Sex is F, M, other or unknown; IGA 0-4; "
            "yes/no columns yes or no; lab tests their usual code (ALT, AST, TG, TC, ...)."
        )
        edited = st.data_editor(
            values,
            key=f"{key}_values",
            hide_index=True,
            width="stretch",
            placeholder=BLANK,
            disabled=["column", "value as written", "rows"],
        )
    return mp.with_value_edits(mapping, edited)


def _filters(mapping: FileMapping, key: str) -> FileMapping:
    if not mapping.filters:
        return mapping
    kept = []
    for number, row_filter in enumerate(mapping.filters):
        label = _filter_words(row_filter)
        if not row_filter.reason:
            st.caption(f"Rows used: {label}.")
            kept.append(row_filter)
        elif st.checkbox(f"Leave out {row_filter.reason}", value=True, key=f"{key}_filter_{number}", help=label):
            kept.append(row_filter)
    return replace(mapping, filters=kept)


def _filter_words(row_filter: mp.RowFilter) -> str:
    if row_filter.keep:
        shown = ", ".join(v or "(empty)" for v in row_filter.keep)
        return f"rows where {row_filter.column} is {shown}"
    if row_filter.drop:
        return f"rows where {row_filter.column} is not {', '.join(row_filter.drop)}"
    if row_filter.drop_pattern:
        return f"rows where {row_filter.column} does not match {row_filter.drop_pattern}"
    return f"the first row of each {row_filter.column}"


def problems_table(report) -> pd.DataFrame:
    """Errors and warnings (notes are shown apart)."""
    issues = report.to_frame()
    return issues[issues["severity"] != "note"]
