"""Slides: one finding per screen, in the app (`?slide=N`) and saved as one HTML file for a talk."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from apptest import ROOT, open_app
from test_chart_suppression import small_counts_shown

from analysis.areas.charts import PROJECTOR_FONT, for_projector
from analysis.areas.registry import AREAS
from analysis.cohort.model import build_cohort
from analysis.demo import generate_cohort
from analysis.outputs.slides import SLIDE_AREAS, deck, slide_count, slides_html


@pytest.fixture(scope="module")
def small():
    """80 generated courses: plenty of counts under 5 for the slides to hide."""
    return build_cohort(generate_cohort(80, 3), source="small", fingerprint="cd" * 32)


@pytest.fixture(scope="module")
def small_deck(small):
    return deck(small, {})


def test_the_scorecard_comes_first_then_each_area_with_a_headline(small_deck):
    assert [slide.title for slide in small_deck] == [area.report_title for area in SLIDE_AREAS]
    assert small_deck[0].title == "The article's claims, tested on these courses"
    assert slide_count() == len(small_deck) == sum(1 for area in AREAS if area.headline) == 6


def test_each_slide_holds_a_finding_a_chart_and_the_verdicts_it_bears_on(small_deck):
    for slide in small_deck:
        assert slide.finding.endswith(".") and slide.figure is not None, slide.title
    clearance = next(slide for slide in small_deck if slide.title == "Clearance")
    assert {claim.id for claim in clearance.verdicts} == {"C01", "C02", "C03", "C04", "C15", "C16", "C17"}
    assert all(claim.page == "views/clearance.py" for claim in clearance.verdicts)
    assert re.match(r"Of 20 claims tested on these courses: \d+ supported", small_deck[0].finding)


def test_slides_are_suppressed_like_presenter_mode(small, small_deck):
    leaks = {slide.title: small_counts_shown(slide.figure)[:2] for slide in small_deck}
    assert not {title: found for title, found in leaks.items() if found}
    tiny = build_cohort(generate_cohort(4, 1), source="tiny", fingerprint="ab" * 32)
    overview = deck(tiny, {})[-1]
    assert overview.finding.startswith("<5 courses of <5 patients")  # and no median of a handful of courses
    assert "median" not in overview.finding


def test_a_share_on_a_small_count_is_withheld_in_the_finding():
    tiny = build_cohort(generate_cohort(12, 2), source="tiny", fingerprint="ab" * 32)
    findings = " ".join(slide.finding for slide in deck(tiny, {}))
    assert "withheld (a count under 5)" in findings


@pytest.fixture(scope="module")
def saved(small):
    return slides_html(small, {})


def test_the_saved_slides_are_one_file_that_requests_nothing(saved):
    assert "default-src 'none'" in saved  # the content policy forbids every fetch
    markup = re.sub(r"<script[^>]*>.*?</script>", "", saved, flags=re.DOTALL)  # plotly.js names sites in its code
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)
    assert len(re.findall(r'<section class="slide"', saved)) == slide_count()
    assert "ArrowRight" in saved and "location.hash" in saved


def test_the_saved_slides_draw_charts_in_projector_type(small):
    """Each slide's chart as the projector draws it: titles at 28 px, axis titles at 20 px at least."""
    for slide in deck(small, {}):
        layout = for_projector(slide.figure).layout
        assert layout.title.font.size >= PROJECTOR_FONT["title"] >= 28, slide.title
        assert layout.font.size >= 20, slide.title


def test_the_command_line_writes_slides_and_refuses_them_unsuppressed(tmp_path):
    out = tmp_path / "talk.html"
    run = [sys.executable, "-m", "analysis", "report", "demo", "--out", str(out)]
    done = subprocess.run([*run, "--slides"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.read_text().count('<section class="slide"') == slide_count()
    refused = subprocess.run([*run, "--slides", "--no-suppression"], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "always suppressed" in refused.stderr


# ---------------------------------------------------------------------------------------------
# In the app


def markdown(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_a_link_opens_the_talk_at_its_slide_in_presenter_mode():
    at = open_app({"slide": "2"})
    assert not at.exception
    assert [t.value for t in at.title] == ["Clearance"]
    assert "Slide 2 of 6" in markdown(at)
    assert "courses were clear at the end of the course" in markdown(at)
    assert ":green-badge[C01 supported]" in markdown(at)
    assert at.session_state["presenter"] is True


def test_next_previous_and_leave_step_through_the_slides():
    at = open_app({"slide": "1"})
    assert at.button[0].disabled  # no slide before the first
    at.button[1].click().run()
    assert at.query_params["slide"] == "2" and [t.value for t in at.title] == ["Clearance"]
    at.button[0].click().run()
    assert at.query_params["slide"] == "1"
    at.button[2].click().run()
    assert "slide" not in at.query_params and "Overview" in [t.value for t in at.title]


def test_a_slide_number_beyond_the_talk_opens_its_last_slide():
    at = open_app({"slide": "99"})
    assert "Slide 6 of 6" in markdown(at) and at.button[1].disabled


def test_the_sidebar_opens_the_slides_from_any_page():
    at = open_app()
    at.switch_page("views/labs.py").run()
    next(b for b in at.sidebar.button if b.label == "Present as slides").click().run()
    assert at.query_params["slide"] == "1" and at.query_params["presenter"] == "1"
    assert "Slide 1 of 6" in markdown(at)


def test_a_dataset_of_courses_alone_says_what_each_slide_lacks(tmp_path):
    from analysis.cohort.loading import load_bundle

    (tmp_path / "courses.csv").write_text("patient_id,sex,age,end_day\nP1,F,20,150\nP2,M,abc,160\nP3,F,25,\n")
    findings = {slide.title: (slide.finding, slide.missing) for slide in deck(load_bundle(tmp_path).cohort, {})}
    assert findings["Clearance"][0].startswith("The data has no visits table")
    assert findings["Side effects"][0].startswith("These courses have no adverse events recorded")
    assert findings["Labs"][0].startswith("The data has no lab results")
    assert findings["Relapse"] == (findings["Relapse"][0], "")  # said once, as the finding
    assert not any("not estimable" in finding for finding, _ in findings.values())
