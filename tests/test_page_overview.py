"""The Overview page with the claims scorecard, driven headlessly."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.areas.clearance.compute import DEFINITIONS, MISSING_RULES
from analysis.cohort.loading import DEMO_DIR
from tests import apptest

ROOT = Path(__file__).resolve().parent.parent
PAGE = "views/overview.py"
IDS = [f"C{i:02d}" for i in range(1, 21)]
BADGES = {
    "supported": ":green-badge[Supported]",
    "contradicted": ":red-badge[Contradicted]",
    "inconclusive": ":orange-badge[Inconclusive]",
    "described": ":gray-badge[Described]",
    "not testable": ":violet-badge[Not testable]",
    "depends on the reading": ":blue-badge[Depends on the reading]",
}
pytestmark = pytest.mark.skipif(
    not (DEMO_DIR / "courses.csv").exists(), reason="the bundled demo cohort (data/demo) is not generated"
)


def open_page(query: dict | None = None, upload: bytes | None = None) -> AppTest:
    return apptest.open_page(PAGE, query, None if upload is None else (("courses.csv", upload),))


def row_of(at: AppTest, claim_id: str) -> list[str]:
    """The parts of the claim's row (one block of markdown): verdict, estimate, threshold, published
    figure, then the claim's words with its readings and explanation."""
    row = next(m.value for m in at.markdown if f"\n\n**{claim_id}** *“" in m.value)
    return row.split("\n\n")


def badge_of(at: AppTest, claim_id: str) -> str:
    """The verdict badge in the claim's row."""
    return row_of(at, claim_id)[0]


def parts(at: AppTest) -> list[str]:
    """Every part of every row of the scorecard."""
    return [part for claim_id in IDS for part in row_of(at, claim_id)]


@pytest.fixture(scope="module")
def default():
    return open_page()


def test_every_claim_has_a_row_with_a_verdict(default):
    for claim_id in IDS:
        assert badge_of(default, claim_id) in BADGES.values(), claim_id
    assert (
        badge_of(default, "C13") == BADGES["contradicted"]
    )  # "rare" liver enzyme changes: ~11% of normal-baseline courses
    assert badge_of(default, "C09") == BADGES["supported"]  # cheilitis and the others are common
    assert badge_of(default, "C20") == BADGES["not testable"]
    assert "Not testable: needs a scar score" in row_of(default, "C20")[4]  # the reason is always shown
    assert "87% (Patel, Baquerizo Nole, Fleischer 2021)" in row_of(default, "C02")[3]  # the published figure
    assert all(len(row_of(default, claim_id)) == 5 for claim_id in IDS)  # a claim's words never split its row


def test_explanations_can_be_shown_under_each_claim():
    at = open_page({"claims_explain": "true"})
    explanations = [
        line
        for claim_id in IDS
        for line in row_of(at, claim_id)[4].split("  \n")
        if "the article says" in line or "the article gives no figure" in line
    ]
    assert len(explanations) == 19  # all but the untestable C20
    assert any(text.endswith("(\\> 50%): supported.]]") for text in explanations)
    assert not any("the article says" in part for part in parts(open_page()))  # hidden unless asked for


def test_a_claim_read_two_ways_shows_each_reading_in_its_row(default):
    assert badge_of(default, "C01") == BADGES["supported"]
    words = row_of(default, "C01")[4]
    assert "  \nSupported under every reading:  \n" in words
    assert "(a) read as *most courses end with at least 80% fewer lesions*" in words
    assert "(b) read as *80-100% of courses end clear or almost clear (IGA 0/1)*" in words
    estimates = row_of(default, "C01")[1]
    assert estimates.startswith("(a) **7") and "(b) **8" in estimates  # 74% and 83%: each reading's own share
    assert default.number_input(key="claims_C01b_threshold").value == 80


def test_scorecard_comes_before_the_cohort_and_has_its_chart(default):
    titles = apptest.chart_titles(default)
    assert titles[0].startswith("The article's claims against the data")
    assert any(title.startswith("Who was treated") for title in titles)
    subheaders = [s.value for s in default.subheader]
    assert subheaders.index("The article's claims, tested on these courses") < subheaders.index("The courses")
    assert any(button.label == "Download the scorecard (CSV)" for button in default.get("download_button"))
    links = [link.proto.label for link in default.get("page_link")]
    assert {"Clearance", "Side effects", "Relapse", "Labs"} <= set(links) and len(links) == 20


def test_changing_a_threshold_changes_a_verdict(default):
    assert badge_of(default, "C01") == BADGES["supported"]
    stricter = open_page({"claims_C01_threshold": "90"})  # read as "most": now 90%; read as IGA 0/1: still >= 80%
    assert badge_of(stricter, "C01") == BADGES["depends on the reading"]
    readings = row_of(stricter, "C01")[4]
    assert "  \nDepends on the reading" in readings
    assert f"{BADGES['contradicted']} (a) read as *most courses end with at least 80% fewer lesions*" in readings
    assert f"{BADGES['supported']} (b) read as *80-100% of courses end clear or almost clear (IGA 0/1)*" in readings
    assert stricter.number_input(key="claims_C01_threshold").value == 90


def test_a_link_applies_its_settings_while_their_panel_is_closed():
    """Closed, the panel draws none of its widgets; the link's values still decide the verdicts, stay in
    the address (a value equal to its default leaves it), survive a page switch, and show when it opens."""
    at = apptest.open_page(PAGE, {"claims_C01_threshold": "90", "claims_min_n": "20"}, tables=False)
    assert not [field for field in at.number_input if field.key.startswith("claims_")]
    assert badge_of(at, "C01") == BADGES["depends on the reading"]
    assert at.query_params["claims_C01_threshold"] == "90" and "claims_min_n" not in at.query_params
    at.switch_page("views/clearance.py").run()
    del at.query_params["claims_C01_threshold"]  # a browser drops the page's own parameters on a page switch
    at.switch_page(PAGE).run()
    assert at.query_params["claims_C01_threshold"] == "90"  # written back from the session
    assert badge_of(at, "C01") == BADGES["depends on the reading"]
    apptest.open_every_table(at)
    assert at.number_input(key="claims_C01_threshold").value == 90
    at.number_input(key="claims_C01_threshold").set_value(50.0).run()  # back to the article's "most"
    assert "claims_C01_threshold" not in at.query_params
    assert badge_of(at, "C01") == BADGES["supported"]


def test_a_changed_setting_is_written_to_the_address():
    at = open_page()
    at.number_input(key="claims_min_n").set_value(500).run()
    at.toggle(key="claims_retreatment").set_value(False).run()
    assert at.query_params["claims_min_n"] == "500" and at.query_params["claims_retreatment"] == "false"
    reopened = open_page(dict(at.query_params))
    assert [badge_of(reopened, claim_id) for claim_id in IDS] == [badge_of(at, claim_id) for claim_id in IDS]
    assert reopened.number_input(key="claims_min_n").value == 500


def test_threshold_widget_changes_the_verdict_in_the_session(default):
    at = open_page()
    at.number_input(key="claims_C11_threshold").set_value(10.0).run()
    assert not at.exception
    assert badge_of(at, "C11") == BADGES["supported"]  # vision disorders are below 1 in 10


@pytest.mark.parametrize(
    "query",
    [
        {"claims_definition": DEFINITIONS["iga01"]},
        {"claims_definition": DEFINITIONS["iga_success"]},
        {"claims_definition": DEFINITIONS["lesion_reduction"]},
        {"claims_missing": MISSING_RULES["locf"]},
        {"claims_missing": MISSING_RULES["nri"]},
        {"claims_reduction": "50"},
        {"claims_retreatment": "false", "claims_treatment_emergent": "false", "claims_min_n": "500"},
    ],
)
def test_each_definition_option_renders(query):
    at = open_page(query)
    for key, value in query.items():
        widget = at.selectbox(key=key) if key in ("claims_definition", "claims_missing") else None
        if widget is not None:
            assert widget.format_func(widget.value) == value
    for claim_id in IDS:
        assert badge_of(at, claim_id) in BADGES.values()


def test_definition_shows_in_the_explanation(default):
    at = open_page(
        {"claims_missing": MISSING_RULES["nri"], "claims_definition": DEFINITIONS["iga01"], "claims_explain": "true"}
    )
    assert not any("ended the course at IGA 0/1" in part for part in parts(default))
    assert any("ended the course at IGA 0/1" in part for part in parts(at))


def test_sensitivity_view():
    at = open_page({"claims_sensitivity": "true"})
    table = next(frame.value for frame in at.dataframe if "variant" in frame.value.columns)
    assert set(table["id"]) >= set(IDS) and (table["in_use"] == "in use").sum() == table["id"].nunique() == 26
    verdict_line = (at.warning or at.success)[0].value
    assert verdict_line.startswith(("The verdict depends on the definition for: C", "No verdict changes"))
    assert any(button.label == "Download CSV" for button in at.get("download_button"))


def test_claims_follow_the_sidebar_filters(default):
    women = open_page({"sex": "F"})
    captions = [c.value for c in women.caption]
    assert not any("of 2,000 courses" in text for text in captions)
    assert badge_of(women, "C13") == BADGES["contradicted"]


def test_an_upload_without_visits_names_what_is_missing():
    courses = (DEMO_DIR / "courses.csv").read_bytes()
    at = open_page(upload=b"\n".join(courses.splitlines()[:301]))
    assert badge_of(at, "C02") == BADGES["not testable"]
    explanation = row_of(at, "C02")[4].split(":small[:gray[", 1)[1]  # the grey caption under the words
    assert "Not testable: no visit has an IGA grade; visits with iga (0-4) during the course would make" in explanation
    assert badge_of(at, "C05") != BADGES["not testable"]  # courses alone suffice
