"""Sharing in the app: save and share, open by `?dataset=`, delete, wrong links; presenter mode; sign-in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.outputs.store import DatasetStore
from tests import apptest
from ui import sharing
from ui.data_source import UPLOAD, UPLOAD_STATE

ROOT = Path(__file__).resolve().parent.parent
TOKEN_IN_LINK = re.compile(r"[?&]dataset=([A-Za-z0-9_-]+)")

# 30 courses at two sites; 3 are men, so "M" is a small subgroup.
COURSES = (
    "patient_id,sex,age,site,end_day\n"
    + "\n".join(
        f"P{i:03d},{'M' if i < 3 else 'F'},{18 + i % 20},{'North' if i % 2 else 'South'},{150 + i}" for i in range(30)
    )
    + "\n"
)
VISITS = (
    "patient_id,day,iga,inflammatory_lesions,noninflammatory_lesions\n"
    + "\n".join(
        f"P{i:03d},{day},{iga},{lesions},{lesions}"
        for i in range(30)
        for day, iga, lesions in ((0, 3, 40), (150, 1, 5))
    )
    + "\n"
)
FILES = (("courses.csv", COURSES.encode()), ("visits.csv", VISITS.encode()))


@pytest.fixture(autouse=True)
def private_store(tmp_path, monkeypatch):
    """Every test gets its own store folder (the app keeps one store per process)."""
    monkeypatch.setenv("ISOTRET_DATA_DIR", str(tmp_path / "store"))
    monkeypatch.delenv("ISOTRET_DATABASE_URL", raising=False)
    sharing.dataset_store.clear()
    yield
    sharing.dataset_store.clear()


def _app(query: dict | None = None, upload: bool = False) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    if upload:
        at.session_state[UPLOAD_STATE] = FILES
        at.session_state["source"] = UPLOAD
    at.run()
    assert not at.exception, at.exception
    return apptest.open_every_table(at)


def _saved_link(at: AppTest) -> str:
    codes = [c.value for c in at.sidebar.code if "dataset=" in c.value]
    assert codes, "no share link shown"
    return codes[0]


def _save(at: AppTest) -> str:
    at.button(key="share_save").click().run()
    assert not at.exception, at.exception
    return TOKEN_IN_LINK.search(_saved_link(at)).group(1)


def _header(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_save_then_open_the_link_in_another_session():
    first = _app({"sex": "F"}, upload=True)
    assert "30** courses" not in _header(first)  # the filter applies
    token = _save(first)
    assert len(token) >= 32
    assert first.radio(key="source").value == "shared"
    assert any("Saved" in s.value for s in first.sidebar.success)
    assert DatasetStore.from_environment().count() == 1

    second = _app({"dataset": token, "sex": "F"})
    assert second.radio(key="source").value == "shared"
    header = _header(second)
    assert "Saved dataset: courses.csv, visits.csv" in header
    assert "**27** of 30 courses" in header
    assert second.multiselect(key="sex").value == ["F"]
    second.switch_page("views/clearance.py").run()
    assert not second.exception
    assert "**27** of 30 courses" in _header(second)


def test_the_link_carries_page_filters_and_definitions():
    at = _app({"sex": "F", "claims_min_n": "10"}, upload=True)
    token = _save(at)
    link = _saved_link(at)
    assert f"dataset={token}" in link
    assert "sex=F" in link and "claims_min_n=10" in link
    assert "source=" not in link  # a token selects the saved dataset by itself


def test_a_wrong_or_expired_link_says_the_data_must_be_uploaded_again():
    at = _app({"dataset": "A" * 32})
    warnings = " ".join(w.value for w in at.warning)
    assert "uploaded again" in warnings
    assert at.radio(key="source").value == "demo"
    assert "Synthetic demo cohort" in _header(at)


def test_delete_by_the_link_holder():
    first = _app(upload=True)
    token = _save(first)
    first.button(key="share_delete").click().run()
    assert not first.exception
    assert any("deleted" in s.value for s in first.sidebar.success)
    assert first.radio(key="source").value == "demo"
    assert DatasetStore.from_environment().count() == 0
    again = _app({"dataset": token})
    assert any("uploaded again" in w.value for w in again.warning)


def test_demo_data_offers_the_address_as_the_link():
    at = _app()
    assert not [b for b in at.button if b.key == "share_save"]
    assert any("copy it to share" in c.value for c in at.sidebar.caption)


def test_presenter_mode_shows_small_counts_as_less_than_five():
    at = _app({"presenter": "1"}, upload=True)
    assert at.toggle(key="presenter").value is True
    demographics = next(df.value for df in at.dataframe if "characteristic" in df.value.columns)
    men = demographics[demographics["level"].astype(str) == "M"]
    assert men["courses"].tolist() == ["<5"]
    assert men["percent"].tolist() == ["suppressed"]
    assert any("Presenter mode" in c.value for c in at.caption)


def test_presenter_mode_suppresses_a_small_filtered_cohort_in_the_header():
    at = _app({"presenter": "1", "sex": "M"}, upload=True)
    assert "**<5** of 30 courses" in _header(at)


def test_without_presenter_mode_counts_are_shown():
    at = _app(upload=True)
    demographics = next(df.value for df in at.dataframe if "characteristic" in df.value.columns)
    men = demographics[demographics["level"].astype(str) == "M"]
    assert men["courses"].tolist() == [3]


@pytest.mark.parametrize("page", ["clearance", "side_effects", "relapse", "labs", "data"])
def test_presenter_mode_renders_every_page(page):
    at = _app({"presenter": "1"})
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    assert apptest.open_every_table(at).dataframe or page == "data"  # the tables drawn when opened render too


def test_presenter_mode_hides_the_course_timeline():
    at = _app({"presenter": "1"})
    assert at.toggle(key="presenter").value is True
    at.switch_page("views/timeline.py").run()
    assert not at.get("plotly_chart") and not at.dataframe
    assert any("hidden in presenter mode" in i.value for i in at.info)


def test_presenter_threshold_is_settable():
    at = _app({"presenter": "true", "presenter_threshold": "10"}, upload=True)
    demographics = next(df.value for df in at.dataframe if "characteristic" in df.value.columns)
    assert "<10" in demographics["courses"].tolist()


def test_csv_download_is_suppressed_in_presenter_mode():
    def script():
        import pandas as pd
        import streamlit as st

        from ui.page import shareable_table
        from ui.presenter import presenter_controls

        presenter_controls()
        table = pd.DataFrame({"group": ["a", "b", "c"], "courses": [3, 40, 50], "percent": [3.2, 43.0, 53.8]})
        st.code(shareable_table(table).to_csv(index=False))
        st.code(shareable_table(table, count_columns=["courses"], percent_columns=["percent"]).to_csv(index=False))

    at = AppTest.from_function(script)
    at.query_params["presenter"] = "1"
    at.run()
    for code in at.code:
        assert "a,<5,suppressed" in code.value and "b,suppressed,suppressed" in code.value
    plain = AppTest.from_function(script)
    plain.run()
    assert "a,3,3.2" in plain.code[0].value


def test_local_use_is_stated_on_the_data_page():
    at = _app()
    at.switch_page("views/data.py").run()
    assert any("runs for local use" in c.value for c in at.caption)


def test_sign_in_is_required_when_configured():
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x",
        "client_id": "id",
        "client_secret": "secret",
        "server_metadata_url": "https://accounts.example.org/.well-known/openid-configuration",
    }
    at.user = {"is_logged_in": False}
    at.query_params["dataset"] = "A" * 32
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe and not at.get("plotly_chart") and not at.sidebar.radio
    assert "sign in" in " ".join(m.value for m in at.markdown).lower()


def test_signed_in_user_reaches_pages_and_is_recorded_as_saver():
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x",
        "client_id": "id",
        "client_secret": "secret",
        "server_metadata_url": "https://accounts.example.org/.well-known/openid-configuration",
    }
    at.user = {"is_logged_in": True, "email": "dr.lee@example.org", "name": "Dr Lee"}
    at.session_state[UPLOAD_STATE] = FILES
    at.session_state["source"] = UPLOAD
    at.run()
    assert not at.exception, at.exception
    token = _save(at)
    assert DatasetStore.from_environment().open(token).saved_by == "dr.lee@example.org"
    assert any("dr.lee@example.org" in m.value for m in at.sidebar.markdown)
    at.switch_page("views/data.py").run()
    assert any("Sign-in is required" in c.value for c in at.caption)


def test_an_unusable_store_disables_saving_without_breaking_the_page(monkeypatch):
    monkeypatch.setenv("ISOTRET_DATABASE_URL", "mysql://nowhere/db")
    sharing.dataset_store.clear()
    at = _app(upload=True)
    assert not [b for b in at.button if b.key == "share_save"]
    assert any("Saving and sharing is unavailable" in c.value for c in at.sidebar.caption)
    linked = _app({"dataset": "A" * 32})
    assert any("could not be reached" in w.value for w in linked.warning)


def test_a_saved_trial_keeps_where_its_event_times_start():
    """Saved as canonical files, a CDISC upload would lose what its ADTTE said (time from the first dose);
    the saved dataset keeps it, so the relapse page opened from the link counts from there too."""
    pilot = ROOT.parent / "shared" / "external" / "cdisc_pilot"
    if not (pilot / "adtte.csv").exists():
        pytest.skip(f"CDISC pilot data not found at {pilot}")
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.session_state[UPLOAD_STATE] = tuple((n, (pilot / n).read_bytes()) for n in ("adsl.csv", "adtte.csv"))
    at.session_state["source"] = UPLOAD
    token = _save(at.run())
    second = _app({"dataset": token})
    second.switch_page("views/relapse.py").run()
    assert not second.exception
    assert any("Time counts from **the first dose**" in m.value for m in second.markdown)
    assert not any("left out of the relapse estimate" in e.label for e in second.expander)
