"""Claims from any source in the app: a chosen claim set drives the scorecard, a claim added on the
Overview is judged like the article's, presenter mode suppresses it, and a saved dataset's link
opens the claim set it was saved with."""

from __future__ import annotations

import pytest

from analysis.areas.claims import compute as claims
from analysis.cohort.loading import DEMO_DIR
from analysis.outputs.store import DatasetStore
from tests import apptest
from tests.test_claim_sets import USER_SET
from tests.test_page_sharing import TOKEN_IN_LINK, _app, _save, _saved_link, private_store  # noqa: F401
from ui.claim_sets import CLAIM_SET_STATE

PAGE = "views/overview.py"
needs_demo = pytest.mark.skipif(
    not (DEMO_DIR / "courses.csv").exists(), reason="the bundled demo cohort (data/demo) is not generated"
)


def rows(at) -> list[str]:
    """The claim ids of the scorecard's rows, in order (a row's last part starts with its id and words)."""
    words = [m.value.split("\n\n")[-1] for m in at.markdown if "** *“" in m.value]
    return [text.split("**")[1] for text in words if text.startswith("**")]


def with_set(at, claim_set) -> None:
    at.session_state[CLAIM_SET_STATE] = claim_set


@needs_demo
def test_the_chosen_claim_set_drives_the_scorecard_and_its_thresholds():
    at = apptest.open_page(PAGE)
    assert rows(at)[:2] == ["C01", "C02"]
    with_set(at, claims.load_claim_set(USER_SET, "leaflet.toml"))
    at.run()
    assert not at.exception
    assert rows(at) == ["L1", "L2", "L3", "L4"]
    assert any("from the claim set “Clinic leaflet, 2025”" in m.value for m in at.markdown)
    assert at.number_input(key="claims_L1b_threshold").value == 50
    assert at.selectbox(key="claims_set_2").value == "Clinic leaflet, 2025"  # the list holds the set in use


@needs_demo
def test_a_claim_added_on_the_overview_is_judged_like_the_articles():
    at = apptest.open_page(PAGE)
    at.selectbox(key="claims_add_measure").set_value("relapsed_by").run()
    at.text_area(key="claims_add_quote").input("Nine in ten never see their acne again.")
    at.text_input(key="claims_add_source").input("A forum post")
    at.text_input(key="claims_add_reads_as").input("fewer than 10% relapse within 2 years")
    at.number_input(key="claims_add_param_years").set_value(2.0)
    at.selectbox(key="claims_add_direction").set_value("<")
    at.number_input(key="claims_add_threshold").set_value(10.0)
    next(b for b in at.button if b.label == "Add the claim").click().run()
    assert not at.exception, at.exception
    assert rows(at) == ["U01"]
    badge = next(m.value for m in at.markdown if "\n\n**U01** *“" in m.value).split("\n\n")[0]
    assert badge == ":red-badge[Contradicted]"  # about 30% relapse within 2 years on the demo
    assert at.session_state[CLAIM_SET_STATE].title == "Your claims (A forum post)"


@needs_demo
def test_a_claim_without_words_is_refused_with_a_message():
    at = apptest.open_page(PAGE)
    next(b for b in at.button if b.label == "Add the claim").click().run()
    assert not at.exception
    assert any("Write the claim's words first" in e.value for e in at.error)


def test_a_saved_dataset_keeps_its_claim_set_and_the_link_opens_it():
    first = _app(upload=True)
    with_set(first, claims.load_claim_set(USER_SET, "leaflet.toml"))
    first.run()
    token = _save(first)
    assert "claims" in DatasetStore.from_environment().open(token).settings
    second = _app({"dataset": token})
    assert rows(second) == ["L1", "L2", "L3", "L4"]
    assert second.session_state[CLAIM_SET_STATE].title == "Clinic leaflet, 2025"


def test_presenter_mode_suppresses_small_counts_of_user_claims():
    small = USER_SET.replace(
        'params = { month = 5 }\ndefaults = { "clearance.definition" = "iga01" }', "params = { month = 5 }"
    )
    at = _app({"presenter": "1", "sex": "M"}, upload=True)  # three men
    with_set(at, claims.load_claim_set(small, "leaflet.toml"))
    at.run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "suppressed" in shown
    assert "of 3 courses" not in shown and "n = 3" not in shown
