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


def badge_of(at: AppTest, claim_id: str) -> str:
    """The verdict badge in the claim's row (the markdown just before its quote)."""
    texts = [m.value for m in at.markdown]
    row = next(i for i, text in enumerate(texts) if text.startswith(f"**{claim_id}**"))
    return texts[row - 1]


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
    captions = " ".join(c.value for c in default.caption)
    assert "Not testable: needs a scar score" in captions  # the reason is always shown
    assert "87% (Patel, Baquerizo Nole, Fleischer 2021)" in captions  # the published figure beside C02


def test_explanations_can_be_shown_under_each_claim():
    at = open_page({"claims_explain": "true"})
    explanations = [
        c.value for c in at.caption if "the article says" in c.value or "the article gives no figure" in c.value
    ]
    assert len(explanations) == 19  # all but the untestable C20
    assert any(text.endswith("(\\> 50%): supported.") for text in explanations)


def test_a_claim_read_two_ways_shows_each_reading_in_its_row(default):
    assert badge_of(default, "C01") == BADGES["supported"]
    texts = [m.value for m in default.markdown]
    readings = texts[texts.index(next(t for t in texts if t.startswith("**C01**"))) + 1]
    assert readings.startswith("Supported under every reading:")
    assert "(a) read as *most courses end with at least 80% fewer lesions*" in readings
    assert "(b) read as *80-100% of courses end clear or almost clear (IGA 0/1)*" in readings
    estimates = next(t for t in texts if t.startswith("(a) **7"))
    assert "(b) **8" in estimates  # 74% and 83%: each reading's own share, side by side
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
    readings = next(m.value for m in stricter.markdown if m.value.startswith("Depends on the reading"))
    assert f"{BADGES['contradicted']} (a) read as *most courses end with at least 80% fewer lesions*" in readings
    assert f"{BADGES['supported']} (b) read as *80-100% of courses end clear or almost clear (IGA 0/1)*" in readings
    assert stricter.number_input(key="claims_C01_threshold").value == 90


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
    assert not any("ended the course at IGA 0/1" in c.value for c in default.caption)
    assert any("ended the course at IGA 0/1" in c.value for c in at.caption)


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
    assert any(c.value.startswith("Not testable: no visit has an IGA grade; visits with iga") for c in at.caption)
    assert badge_of(at, "C05") != BADGES["not testable"]  # courses alone suffice
