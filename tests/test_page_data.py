"""The Data page's upload flow, headless: files -> recognised table and proposed mapping -> confirmed
-> validation report; saved mappings; identifiers; and two sessions never seeing each other's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.data_source import PENDING_STATE, UPLOAD, UPLOAD_MAPPING_STATE, UPLOAD_STATE

PAGE = "views/data.py"
EXPORT = (
    b"Patient ID;Gender;Age (years);Weight (kg);Start of treatment\n"
    b"A01;female;17;55,5;03/02/2021\nA02;male;22;80;15/03/2021\nA03;f;30;61;01/04/2021\n"
)
PILOT = Path(__file__).resolve().parents[2] / "shared" / "external" / "cdisc_pilot"


def data_page() -> AppTest:
    at = AppTest.from_file("../dashboard.py", default_timeout=90)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader(key="upload_widget").set_value([(name, data, "text/csv") for name, data in files]).run()
    assert not at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for e in [*at.markdown, *at.caption, *at.warning, *at.error, *at.info, *at.success]]
    return "\n".join(str(p) for p in parts)


def confirm(at: AppTest) -> AppTest:
    at.button(key="use_upload").click().run()
    assert not at.exception
    return at


def test_a_non_canonical_export_is_recognised_mapped_and_confirmed():
    at = upload(data_page(), ("clinic_export.csv", EXPORT))
    shown = texts(at)
    assert "Read as CSV, UTF-8, semicolon-separated, decimal commas." in shown
    assert "How sure the app is" in shown
    assert next(s for s in at.selectbox if s.label == "This file holds").value == "courses"
    assert at.session_state[PENDING_STATE][0][0] == "clinic_export.csv"
    assert [b.label for b in at.main.button] == ["Use this data"]
    at = confirm(at)
    assert at.session_state["source"] == UPLOAD
    saved = json.loads(at.session_state[UPLOAD_MAPPING_STATE])
    assert saved["files"][0]["columns"]["sex"]["source"] == "Gender"
    shown = texts(at)
    assert "clinic_export.csv · **3** of 3 courses" in shown
    assert "clinic_export.csv: 3 rows read, 3 kept." in shown
    at.switch_page("views/overview.py").run()
    assert not at.exception and ":blue-badge[Your data]" in texts(at)


def test_the_table_can_be_changed_and_the_proposal_follows():
    at = upload(data_page(), ("clinic_export.csv", EXPORT))
    table = next(s for s in at.selectbox if s.label == "This file holds")
    assert table.value == "courses"
    table.select("labs").run()
    assert not at.exception
    assert next(s for s in at.selectbox if s.label == "This file holds").value == "labs"


def test_a_saved_mapping_file_is_applied_and_a_bad_one_refused():
    at = upload(data_page(), ("clinic_export.csv", EXPORT))
    mapping = {
        "files": [
            {
                "file": "clinic_export.csv",
                "table": "courses",
                "keep_other_columns": False,
                "columns": {
                    "patient_id": {"source": "Patient ID"},
                    "sex": {"source": "Gender", "values": {"female": "F", "f": "F", "male": "other"}},
                    "age": {"source": "Age (years)"},
                },
            }
        ]
    }
    at.file_uploader(key="mapping_widget").set_value(
        ("mapping.json", json.dumps(mapping).encode(), "application/json")
    ).run()
    assert not at.exception
    at = confirm(at)
    assert "clinic_export.csv · **3** of 3 courses" in texts(at)
    assert json.loads(at.session_state[UPLOAD_MAPPING_STATE])["files"][0]["columns"]["sex"]["values"]["male"] == "other"

    at = upload(data_page(), ("clinic_export.csv", EXPORT))
    at.file_uploader(key="mapping_widget").set_value(("mapping.json", b"{not json", "application/json")).run()
    assert not at.exception and "cannot be used: the mapping file is not valid JSON" in texts(at)


def test_identifier_columns_are_shown_as_dropped_and_a_names_only_file_refused():
    with_email = b"patient_id,sex,age,email\nP1,F,17,ann@example.org\nP2,M,30,bo@example.org\n"
    names_only = b"Patient,sex,age\nJane Smith,F,17\nOmar Haddad,M,22\nLi Wei,F,30\nAnna Berg,F,19\nJohn Doe,M,40\n"
    at = upload(data_page(), ("courses.csv", with_email), ("other.csv", names_only))
    warnings = " ".join(w.value for w in at.warning)
    assert "column email holds e-mail addresses" in warnings and "dropped" in warnings
    errors = " ".join(e.value for e in at.error)
    assert "This file is not used" in errors and "people's names" in errors
    at = confirm(at)
    assert "email" not in at.session_state[UPLOAD_MAPPING_STATE]
    assert "courses.csv, other.csv · **2** of 2 courses" in texts(at)


def test_unreadable_files_are_named_on_the_page():
    at = upload(
        data_page(),
        ("scan.csv", b"%PDF-1.7 ..."),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
        ("courses.csv", b"patient_id,sex,age\nP1,F,20\n"),
    )
    shown = texts(at)
    assert "**scan.csv** cannot be read: the file is a PDF document, not a table." in shown
    assert (
        "**old.xls** cannot be read: the file is an old-style Office file (Excel .xls or Word .doc); save it as .xlsx or CSV."
        in shown
    )


def test_two_sessions_uploading_files_of_the_same_name_each_see_only_their_own():
    first, second = data_page(), data_page()
    upload(first, ("courses.csv", b"patient_id,sex,age\nALPHA-1,F,20\nALPHA-2,M,31\n"))
    upload(second, ("courses.csv", b"patient_id,sex,age\nBETA-1,F,40\n"))
    confirm(first)
    confirm(second)
    assert "courses.csv · **2** of 2 courses" in texts(first)
    assert "courses.csv · **1** of 1 courses" in texts(second)
    assert first.session_state[UPLOAD_STATE] != second.session_state[UPLOAD_STATE]
    first.run()  # a rerun of the first session still sees its own rows after the second loaded the same name
    assert "courses.csv · **2** of 2 courses" in texts(first) and "BETA" not in texts(first)
    first.switch_page("views/timeline.py").run()
    assert not first.exception
    assert "BETA-1" not in str([s.options for s in first.selectbox])


def test_a_cdisc_upload_needs_no_mapping():
    if not (PILOT / "adsl.csv").exists():
        pytest.skip(f"CDISC pilot data not found at {PILOT}")
    at = upload(data_page(), *((name, (PILOT / name).read_bytes()) for name in ("adsl.csv", "adae.csv", "adtte.csv")))
    shown = texts(at)
    assert "Recognised as **CDISC ADaM ADSL**" in shown and "Recognised as **CDISC ADaM ADAE**" in shown
    assert any(c.label.startswith("Leave out not treatment-emergent") for c in at.checkbox)
    at = confirm(at)
    assert "254 courses of 254 patients" in texts(at)


def test_a_redcap_export_and_a_wide_workbook_show_one_mapping_per_table():
    import io

    import pandas as pd

    redcap = (
        b"record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,sex,age,iga,ae_term,ae_onset_day\n"
        b"1,baseline_arm_1,,,F,17,4,,\n1,month_3_arm_1,,,,,2,,\n1,month_3_arm_1,side_effects,1,,,,Dry lips,20\n"
    )
    buffer = io.BytesIO()
    pd.DataFrame(
        {"Patient ID": ["W1", "W2"], "Sex": ["F", "M"], "Age": [19, 23], "iga_m0": [4, 3], "iga_m6": [1, 0]}
    ).to_excel(buffer, index=False, sheet_name="Trial")
    at = upload(data_page(), ("export.csv", redcap), ("trial.xlsx", buffer.getvalue()))
    tables = [s.value for s in at.selectbox if s.label == "This file holds"]
    assert tables == ["courses", "visits", "adverse_events", "courses", "visits"]
    at = confirm(at)
    shown = texts(at)
    assert "1 courses of 1 patients" in shown and "export.csv (visits): 2 rows read, 2 kept." in shown
    issues = at.dataframe[0].value
    second = issues[issues["file"] == "trial.xlsx [Trial] (courses)"]["message"].tolist()
    assert second == ["a second courses table; only export.csv (courses) is read"]


def test_the_loaded_files_can_be_mapped_again_from_their_mapping():
    at = confirm(upload(data_page(), ("clinic_export.csv", EXPORT)))
    at.button(key="reopen_upload").click().run()
    assert not at.exception
    assert "Use this data" in [b.label for b in at.button]
    table = next(s for s in at.selectbox if s.label == "This file holds")
    assert table.value == "courses"
    at = confirm(at)
    assert "clinic_export.csv · **3** of 3 courses" in texts(at)


def test_while_files_are_mapped_the_status_speaks_of_them_not_of_the_demo():
    at = data_page()
    shown = texts(at)
    assert "No problems found: every row was kept." in shown
    demo_fingerprint = next(c.value for c in at.caption if "fingerprint" in c.value)
    at = upload(at, ("clinic_export.csv", EXPORT))
    shown = texts(at)
    assert "Your files are not loaded yet" in shown and "the demo stays loaded until then" in shown
    assert "No problems found" not in shown  # the demo's verdict is not shown as if it were the upload's
    assert demo_fingerprint not in shown and "fingerprint" not in shown
    assert "Synthetic demo cohort (synthetic demo data) · **" not in shown  # nor its counts as "what is loaded"
    assert not at.dataframe or "clinic_export.csv" not in str(at.dataframe[-1].value)
    at = confirm(at)
    assert "No problems found: every row was kept." in texts(at)


def test_while_loaded_files_are_mapped_again_the_status_says_the_old_mapping_stays():
    at = confirm(upload(data_page(), ("clinic_export.csv", EXPORT)))
    at.button(key="reopen_upload").click().run()
    shown = texts(at)
    assert "Your files are not loaded with this mapping yet" in shown
    assert "No problems found" not in shown and "fingerprint" not in shown


def pilot_files() -> tuple[tuple[str, bytes], ...]:
    if not (PILOT / "adtte.csv").exists():
        pytest.skip(f"CDISC pilot data not found at {PILOT}")
    return tuple((name, (PILOT / name).read_bytes()) for name in ("adsl.csv", "adae.csv", "adtte.csv"))


def test_trial_files_confirmed_on_the_page_keep_where_their_time_starts():
    at = confirm(upload(data_page(), *pilot_files()))
    assert json.loads(at.session_state[UPLOAD_MAPPING_STATE])["files"][2]["time_origin"] == "start"
    at.switch_page("views/relapse.py").run()
    assert not at.exception
    assert any("Time counts from **the first dose**" in m.value for m in at.markdown)
    assert not any("left out of the relapse estimate" in e.label for e in at.expander)


@pytest.mark.parametrize("which", ["export", "cdisc"])
def test_the_fingerprint_shown_is_the_one_the_report_and_the_command_line_give(which):
    """The Data page's confirmed mapping lists the columns it leaves out; that list changes no data, so the
    fingerprint of files confirmed on the page is the one `load_tables` (the command line, the report) gives."""
    from analysis.cohort.loading import load_tables

    files = (("clinic_export.csv", EXPORT),) if which == "export" else pilot_files()
    at = confirm(upload(data_page(), *files))
    caption = next(c for c in at.caption if "fingerprint" in c.value)
    assert load_tables(dict(files), "the same files").cohort.fingerprint in caption.value
    assert "in the HTML report and on the command line" in caption.proto.help


def test_blank_cells_are_left_empty_and_column_names_shown_whole():
    """Tables write nothing in a blank cell (Streamlit's default writes "None"), and the mapping table is wide
    enough for the names and examples users check."""
    at = upload(data_page(), ("clinic_export.csv", EXPORT))
    mapping = next(d for d in at.dataframe if d.key and d.key.endswith("_columns"))
    columns = json.loads(mapping.proto.columns)
    for name, longest in (("column", "Start of treatment"), ("examples", "03/02/2021, 15/03/2021, 01/04/2021")):
        assert isinstance(columns[name]["width"], int) and columns[name]["width"] >= 8 * len(longest), columns[name]
    at = confirm(upload(data_page(), ("courses.csv", b"patient_id,sex,age\nP1,F,20\nP2,X,abc\n"), ("visits.csv", b"")))
    issues = at.dataframe[0].value
    assert issues["row"].isna().any() and issues["column"].isna().any()  # blanks the table must not print as "None"
    assert all(d.proto.HasField("placeholder") and d.proto.placeholder == "" for d in at.dataframe)
