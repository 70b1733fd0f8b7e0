"""The HTML report: every section and chart, plotly.js once, nothing remote, data escaped, small counts suppressed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pandas as pd
import plotly.offline
import pytest
from csv_bundles import bundle

from analysis import __version__
from analysis.areas.timeline import compute as timeline
from analysis.areas.timeline import figures as timeline_figures
from analysis.cohort.loading import load_demo, load_tables
from analysis.cohort.model import build_cohort
from analysis.demo import generate_cohort
from analysis.outputs import report
from analysis.stats.suppression import suppress_table

SECTIONS = ["dataset", "definitions", "claims", "clearance", "side-effects", "relapse", "labs", "overview"]
# Every chart of every outcome page, by the name the report gives it (the timeline is never one of them).
CHARTS = {
    "claims": ["claims-scorecard"],
    "clearance": [
        "clearance-by-month",
        "lesion-change",
        "iga-distribution",
        "initial-flare",
        "time-to-clearance",
        "clearance-by-sex",
    ],
    "side-effects": [
        "named-side-effects",
        "incidence",
        "onset",
        "grade",
        "resolution",
        "side-effects-per-course",
        "side-effects-by-sex",
    ],
    "relapse": [
        "relapse-free",
        "relapse-literature",
        "relapse-by-cumulative-dose-band",
        "further-course",
        "further-course-literature",
    ],
    "labs": [
        "new-out-of-range",
        "trend-alt",
        "trend-ast",
        "trend-tg",
        "trend-tc",
        "above-the-limit",
        "grades",
        "edish",
        "individual-alt",
        "monitoring",
    ],
    "overview": ["demographics", "dose", "duration", "completeness"],
}
INDIVIDUAL_CHARTS = {"edish", "individual-alt"}  # one mark per course: in a private report only
WHEN = datetime(2024, 1, 2, 3, 4, tzinfo=UTC)
MARKUP_TERM = "<script>alert(1)</script>"
MARKUP_SITE = "<b>North</b><img src=x onerror=alert(2)>"
MARKUP_SOURCE = "clinic <i>export</i>"


class Parsed(HTMLParser):
    """Tags with their attributes, the text of each script, table cells, and which section each chart sits in."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self.cells: list[str] = []
        self.chart_sections: dict[str, str] = {}
        self._section = None
        self._in_script = self._in_cell = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "section":
            self._section = attributes.get("id")
        if tag == "figure" and "data-chart" in attributes:
            self.chart_sections[attributes["data-chart"]] = self._section
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        if tag == "td":
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False
        if tag == "td":
            self._in_cell = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        if self._in_cell:
            self.cells[-1] += data


@pytest.fixture(scope="module")
def demo():
    return load_demo().cohort


@pytest.fixture(scope="module")
def shared(demo):
    return report.build_report(demo, {}, "sex in F, M", generated_at=WHEN)


@pytest.fixture(scope="module")
def private(demo):
    return report.build_report(demo, {}, "all courses", suppress=False, generated_at=WHEN)


@pytest.fixture(scope="module")
def small():
    """Three courses read by the loader, with visits but no side effects or lab results."""
    return load_tables(bundle(adverse_events=None, labs=None), "three courses").cohort


@pytest.fixture(scope="module")
def marked_up():
    """A small generated cohort whose data carry markup in a term, a site and the source label."""
    tables = generate_cohort(300, 5)
    tables["adverse_events"].loc[tables["adverse_events"].index[:40], "term"] = MARKUP_TERM
    tables["courses"]["site"] = tables["courses"]["site"].where(tables["courses"].index % 2 == 0, MARKUP_SITE)
    cohort = build_cohort(tables, source=MARKUP_SOURCE, fingerprint="ab" * 32)
    return report.build_report(cohort, {}, f"site in {MARKUP_SITE}", group_by="site", generated_at=WHEN)


def test_every_section_is_present_in_order(shared):
    assert re.findall(r'<section id="([^"]+)"', shared) == SECTIONS
    assert "could not be produced" not in shared


def test_every_chart_of_every_outcome_page_is_present_in_its_section(shared, private):
    expected = {chart: section for section, charts in CHARTS.items() for chart in charts}
    assert Parsed(private).chart_sections == expected
    shared_expected = {chart: section for chart, section in expected.items() if chart not in INDIVIDUAL_CHARTS}
    assert Parsed(shared).chart_sections == shared_expected
    assert all(f'id="chart-{chart}"' in shared for chart in shared_expected)


def test_plotly_js_is_included_once_and_every_chart_is_drawn_by_it(shared):
    parsed = Parsed(shared)
    library = plotly.offline.get_plotlyjs()
    assert sum(library in script for script in parsed.scripts) == 1
    assert shared.count(library[:200]) == 1
    assert sum("Plotly.newPlot" in script for script in parsed.scripts) == sum(
        len(charts) for charts in CHARTS.values()
    ) - len(INDIVIDUAL_CHARTS)


def test_no_tag_loads_anything_from_outside_the_file(shared):
    parsed = Parsed(shared)
    loading = {"src", "href", "srcset", "poster", "data", "action", "background"}
    remote = [
        (tag, name, value)
        for tag, attributes in parsed.tags
        for name, value in attributes.items()
        if name in loading and value and not value.startswith(("#", "data:"))
    ]
    assert remote == []
    assert not [tag for tag, _ in parsed.tags if tag in ("link", "img", "iframe", "object", "embed", "base")]
    styles = re.findall(r"<style>(.*?)</style>", shared, re.S)
    assert styles and not any(re.search(r"url\(|@import", style) for style in styles)
    assert "default-src 'none'" in shared  # and the Content Security Policy forbids any request the page might try


def test_the_fingerprint_version_date_and_size_are_stated(shared, demo):
    assert demo.fingerprint and shared.count(demo.fingerprint) >= 2  # in the facts and in the footer
    assert f"software version {__version__}" in shared
    assert "2024-01-02 03:04 UTC" in shared
    facts = shared[shared.index('id="dataset"') : shared.index('id="definitions"')]
    assert f"<th>Courses in this report</th><td>{demo.n_courses:,}</td>" in facts
    assert f"<th>Patients in this report</th><td>{demo.n_patients:,}</td>" in facts
    assert f"<th>Rows of visits</th><td>{len(demo.visits):,}</td>" in facts


def test_the_filters_definitions_and_synthetic_nature_are_stated(shared, demo):
    definitions = shared[shared.index('id="definitions"') : shared.index('id="claims"')]
    assert "sex in F, M" in definitions
    assert "Clear = IGA 0/1; missed visits: observed cases only" in definitions
    assert "the defaults throughout" in definitions
    footer = shared[shared.index("<footer>") :]
    assert "Synthetic data." in footer and "no real patient" in footer


def test_changed_settings_are_used_and_listed(demo):
    html = report.build_report(
        demo.subset(demo.courses["course_idx"][:400]), {"clearance.definition": "iga_success"}, "first 400"
    )
    assert "clearance.definition = iga_success" in html
    assert "Clear = IGA 0/1 and at least 2 grades better than baseline" in html


def test_bad_settings_are_refused_before_anything_is_built(demo):
    with pytest.raises(ValueError, match="clearance definition"):
        report.build_report(demo, {"clearance.definition": "nonsense"}, "all courses")


def test_every_claim_has_a_row_with_its_verdict_badge(shared):
    rows = re.findall(
        r'<tr data-claim="(C\d\d)"><td><span class="badge" style="background:#[0-9a-f]{6}">(\w[\w ]*)</span>', shared
    )
    assert [claim for claim, _ in rows] == [f"C{i:02d}" for i in range(1, 21)]
    assert {verdict for _, verdict in rows} <= {
        "Supported",
        "Contradicted",
        "Inconclusive",
        "Described",
        "Not testable",
        "Depends on the reading",
    }
    c01 = shared[shared.index('<tr data-claim="C01">') : shared.index('<tr data-claim="C02">')]
    assert "Supported under every reading." in c01
    assert "Read as most courses end with at least 80% fewer lesions:" in c01
    assert "Read as 80-100% of courses end clear or almost clear (IGA 0/1):" in c01
    assert "(a) &gt; 50%<br>(b) ≥ 80%" in c01
    charts = re.sub(r"\\u([0-9a-f]{4})", lambda code: chr(int(code.group(1), 16)), shared)  # JSON escapes
    charts = re.sub(r"<br>", " ", charts)  # long labels wrap
    for line in (  # the outcome charts draw a claim only as a reading of the scorecard, named
        "Article, read as 80-100% of courses end clear or almost clear (IGA 0/1) (C01b): ≥ 80%",
        "Article, read as most courses end with at least 80% fewer lesions (C01): median at -80%",
        "Article, read as under 1 in 1,000 courses (C13, C14)",
    ):
        assert line in charts, line


def test_data_values_are_escaped_so_markup_shows_as_text(marked_up):
    parsed = Parsed(marked_up)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in marked_up  # the term, as text in a table
    assert (
        "&lt;b&gt;North&lt;/b&gt;&lt;img src=x onerror=alert(2)&gt;" in marked_up
    )  # the site, in the filters and a group table
    assert "clinic &lt;i&gt;export&lt;/i&gt;" in marked_up
    assert MARKUP_TERM in parsed.cells  # the parser reads the escaped cell back as the plain text
    assert not [tag for tag, _ in parsed.tags if tag in ("b", "i", "img")]
    assert not [script for script in parsed.scripts if script.strip().startswith("alert")]
    assert "alert(1)</script>" not in marked_up.replace("\\u003c", "<")  # the charts' JSON escapes it too


def test_small_counts_are_shown_as_under_5_in_a_shared_report_only(shared, private):
    shared_cells, private_cells = Parsed(shared).cells, Parsed(private).cells
    assert "<5" in shared_cells and "suppressed" in shared_cells
    assert "<5" not in private_cells and "suppressed" not in private_cells
    assert {1, 2, 3, 4} & {int(cell.replace(",", "")) for cell in private_cells if cell.replace(",", "").isdigit()}
    assert "Private report: every count is shown" in private


COUNT_NAME = re.compile(r"(^|_)(n|courses|patients|events|cases|count|met|total)(_|$)")


def test_every_count_column_of_every_table_is_declared_and_hidden_when_small(demo, monkeypatch):
    tables = []
    original = report.Report.table
    monkeypatch.setattr(report.Report, "table", lambda self, table: (tables.append(table), original(self, table)))
    report.build_report(demo.subset(demo.courses["course_idx"][:500]), {}, "first 500")
    assert len(tables) > 25
    for table in tables:
        named_like_counts = {
            c
            for c in table.frame.columns
            if COUNT_NAME.search(str(c)) and pd.api.types.is_numeric_dtype(table.frame[c])
        }
        assert named_like_counts <= set(table.counts), (
            f"{table.title}: {named_like_counts - set(table.counts)} not declared as counts"
        )
        shown = suppress_table(table.frame, table.counts, 5, table.derived, table.denominators)
        for column in table.counts:
            assert not pd.to_numeric(shown[column], errors="coerce").between(1, 4).any(), f"{table.title}: {column}"


def test_the_suppression_threshold_can_be_changed(demo):
    selected = demo.subset(demo.courses["course_idx"][:300])
    html = report.build_report(selected, {}, "first 300", threshold=11)
    cells = Parsed(html).cells
    assert "<11" in cells and "<5" not in cells
    assert "counts from 1 to 10 are shown as &quot;&lt;11&quot;" in html


def test_a_table_is_suppressed_with_its_shares():
    shared_report, private_report = report.Report(), report.Report(suppress=False)
    table = report.Table(
        "t",
        pd.DataFrame(
            {"group": ["a", "b", "c"], "n": [40, 30, 20], "cases": [3, 12, 0], "share": [3 / 40, 12 / 30, 0.0]}
        ),
        counts=("n", "cases"),
        derived=("share",),
        shares=("share",),
        denominators={"cases": "n"},
    )
    shared_report.table(table)
    private_report.table(table)
    assert Parsed(shared_report.parts[0]).cells == [
        "a",
        "40",
        "<5",
        "suppressed",
        "b",
        "30",
        "suppressed",
        "suppressed",
        "c",
        "20",
        "0",
        "0.0%",
    ]
    assert Parsed(private_report.parts[0]).cells == [
        "a",
        "40",
        "3",
        "7.5%",
        "b",
        "30",
        "12",
        "40.0%",
        "c",
        "20",
        "0",
        "0.0%",
    ]


def test_a_claim_resting_on_a_small_count_is_withheld_in_a_shared_report(small):
    html = report.build_report(small, {}, "all courses")
    assert "withheld: fewer than 5 courses on one side" in html
    assert "not drawn (counts under 5)" in html


def test_no_patient_identifier_appears_in_a_shared_report(demo, shared, private):
    ids = set(demo.courses["patient_id"])

    def found(html: str) -> set:
        return ids & set(re.findall(r"P\d{6}", html))  # the demo's pseudonymous ids look like P000123

    assert found(private)  # the private report's eDISH and individual-course charts name the course on hover
    assert not found(shared)
    assert "is not shown in presenter mode or in a shared report" in shared  # the eDISH and individual-course charts


def test_the_course_timeline_is_never_part_of_a_report(small, monkeypatch):
    assert timeline.INCLUDE_IN_REPORTS is False

    def refuse(*args, **kwargs):
        raise AssertionError("the course timeline was drawn for a report")

    monkeypatch.setattr(timeline_figures, "course_timeline_figure", refuse)
    html = report.build_report(small, {}, "all courses")
    assert "timeline" not in " ".join(re.findall(r'data-chart="([^"]+)"', html))


def test_a_dataset_without_side_effects_labs_or_follow_up_says_so_and_builds(small):
    html = report.build_report(small, {}, "all courses", suppress=False)
    assert "could not be produced" not in html
    assert "no adverse events recorded" in html
    assert "The data has no lab results" in html
    assert "no follow-up after the course" in html
    assert re.findall(r'<section id="([^"]+)"', html) == SECTIONS


def test_no_course_selected_gives_a_short_report(small):
    empty = small.subset([])
    html = report.build_report(empty, {}, "sex in nobody")
    assert html.count("No course matches the filters") == len(SECTIONS) - 2


def test_a_part_that_fails_is_named_and_the_rest_is_kept(small, monkeypatch):
    from analysis.areas.overview import figures as overview_figures

    def broken(cohort, **options):
        raise RuntimeError("boom")

    monkeypatch.setattr(overview_figures, "demographics_figure", broken)
    html = report.build_report(small, {}, "all courses")
    assert "This part could not be produced (RuntimeError: boom)." in html
    assert 'id="chart-clearance-by-month"' in html


def test_the_unfiltered_dataset_size_is_given_beside_the_selection(demo):
    selected = demo.subset(demo.courses.loc[demo.courses["sex"] == "M", "course_idx"])
    html = report.build_report(selected, {}, "sex in M", full_cohort=demo)
    assert f"<th>Courses in the dataset</th><td>{demo.n_courses:,}</td>" in html
    assert f"<th>Courses in this report</th><td>{selected.n_courses:,}</td>" in html


def test_cells_are_formatted_for_reading():
    assert report.format_cell(1234567) == "1,234,567"
    assert report.format_cell(0.1234, share=True) == "12.3%"
    assert report.format_cell(0.00012, share=True) == "0.012%"
    assert report.format_cell(3.0) == "3"
    assert report.format_cell(0.0001234) == "0.0001234"
    assert report.format_cell(float("nan")) == report.format_cell(None) == report.format_cell(pd.NA) == "–"
    assert report.format_cell(True) == "yes"
    assert report.format_cell("<x>") == "&lt;x&gt;"
