"""Presenter mode: no count from 1 to 4 in any text a page writes (metrics, markdown, captions, notes,
expander titles, table cells), on a small cohort where such counts abound; without presenter mode
the same pages do show them, so the check can fail."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest
from apptest import open_page

from analysis.cohort.model import build_cohort
from analysis.demo import generate_cohort, write_demo
from analysis.outputs.report import build_report
from ui import presenter

PAGES = ["overview", "clearance", "side_effects", "relapse", "labs", "data"]
COUNT_WORDS = r"of|courses?|patients?|episodes?|events?|results?|rows|relapses?|cases"
# "3 courses", "2 of 40", "n = 4", "12 of 3": a count from 1 to 4 written next to a count word.
SMALL_IN_TEXT = re.compile(
    rf"(?<![\w.,\-+<])[1-4](?![\d.,%])\**\s*({COUNT_WORDS})\b"
    r"|\bn\s*=\s*[1-4](?![\d.,])|\bof\s+[1-4](?![\d.,%])(?!\s+in\b)"
)  # not "a rate of 1 in 1,000"
FOUR_COURSES = {"sex": "M", "site": "North"}  # a filter leaving 4 of the 40 courses
COUNT_COLUMN = re.compile(
    r"(^|[^a-z])(n|courses|patients|events|episodes|results|cases|count)([^a-z]|$)", re.IGNORECASE
)


@pytest.fixture(scope="module")
def small_files(tmp_path_factory) -> tuple:
    """40 synthetic courses: most subgroups, side effects and lab findings count 1 to 4."""
    folder = tmp_path_factory.mktemp("small")
    write_demo(folder, n_courses=40, seed=3)
    return tuple((path.name, path.read_bytes()) for path in sorted(folder.glob("*.csv")))


def page_texts(at) -> list[str]:
    """Every text a viewer can read on the page, tooltips included."""
    texts = [
        element.value
        for kind in ("markdown", "caption", "info", "warning", "success", "error")
        for element in at.get(kind)
        if isinstance(element.value, str)
    ]
    texts += [element.label for element in at.get("expander")]
    for metric in at.get("metric"):
        texts += [metric.proto.body, metric.proto.delta, metric.proto.help]
    return texts


def small_table_cells(at) -> list[tuple]:
    """(column, value) of every table cell from 1 to 4 in a column of counts."""
    found = []
    for frame in (element.value for element in at.dataframe):
        for column in frame.columns:
            if COUNT_COLUMN.search(str(column)):
                numbers = frame[column].map(lambda v: v if isinstance(v, (int, float)) else None).dropna()
                found += [(column, v) for v in numbers if 1 <= v <= 4 and float(v).is_integer()]
    return found


def leaks(at) -> list[str]:
    """Texts with a small count next to a count word, and metrics whose value is a bare small count ("Courses 3")."""
    found = [text for text in page_texts(at) if SMALL_IN_TEXT.search(text)]
    return found + [f"{m.label}: {m.proto.body}" for m in at.get("metric") if re.fullmatch(r"[1-4]", m.proto.body)]


@pytest.mark.parametrize("query", [{}, FOUR_COURSES], ids=["all 40 courses", "4 courses"])
@pytest.mark.parametrize("page", PAGES)
def test_no_small_count_in_any_text_in_presenter_mode(page, query, small_files):
    at = open_page(f"views/{page}.py", {"presenter": "1", **query}, files=small_files)
    assert any("Presenter mode: counts from 1 to 4" in c.value for c in at.caption), (
        "the page does not say that it suppresses"
    )
    assert leaks(at) == []
    assert small_table_cells(at) == []


@pytest.mark.parametrize("page", PAGES)
def test_the_same_pages_show_small_counts_without_presenter_mode(page, small_files):
    at = open_page(f"views/{page}.py", FOUR_COURSES, files=small_files)
    assert leaks(at), "the page writes no small count to hide: the presenter test proves nothing"
    assert small_table_cells(at) or page == "data"


# ---------------------------------------------------------------------------------------------
# The helpers, outside a running app and with presenter mode on


@pytest.fixture
def presenting(monkeypatch):
    monkeypatch.setattr(presenter, "presenter_on", lambda: True)
    monkeypatch.setattr(presenter, "suppression_threshold", lambda: 5)


@pytest.mark.parametrize("n, shown", [(0, "0"), (1, "<5"), (4, "<5"), (5, "5"), (1234, "1,234")])
def test_shown_count_edges(presenting, n, shown):
    assert presenter.shown_count(n) == shown


def test_shown_count_outside_presenter_mode_is_the_number():
    assert presenter.shown_count(3) == "3" and presenter.shown_count(1234) == "1,234"


@pytest.mark.parametrize(
    "k, n, hidden",
    [
        (3, 40, True),
        (5, 40, False),
        (0, 40, False),
        (36, 40, True),
        (35, 40, False),
        (0, 3, True),
        (None, 40, False),
        (None, 3, True),
    ],
)
def test_a_share_is_withheld_when_its_count_its_rest_or_its_total_is_small(presenting, k, n, hidden):
    assert presenter.withheld(k, n) is hidden
    assert presenter.shown_share("7.5%", k, n) == ("suppressed" if hidden else "7.5%")


def test_shown_of_writes_small_counts_and_small_rests(presenting):
    assert presenter.shown_of(3, 40) == "<5 of 40"
    assert presenter.shown_of(38, 40) == "suppressed of 40"
    assert presenter.shown_of(0, 3) == "suppressed of <5"  # as a chart writes it: the rest, 3, is small
    assert presenter.shown_of(20, 40) == "20 of 40"


def test_shown_text_redacts_counts_in_words_written_elsewhere(presenting):
    assert presenter.shown_text("not fitted: 3 relapses among 40 courses") == "not fitted: <5 relapses among 40 courses"
    assert (
        presenter.shown_text("n = 2; 1 of 40 courses; 38 of 40 courses")
        == "n = <5; <5 of 40 courses; suppressed of 40 courses"
    )
    assert (
        presenter.shown_text("0 of 40 courses, 12.5% of 40, 10 per term") == "0 of 40 courses, 12.5% of 40, 10 per term"
    )


def test_claim_explanations_and_the_sensitivity_table_hide_small_counts(small_files):
    query = {**FOUR_COURSES, "claims_explain": "true", "claims_sensitivity": "true"}
    plain = open_page("views/overview.py", query, files=small_files)
    assert any("of 4 courses" in text for text in page_texts(plain))  # the explanations quote the counts
    at = open_page("views/overview.py", {"presenter": "1", **query}, files=small_files)
    assert any("Details suppressed in presenter mode" in text for text in page_texts(at))
    assert leaks(at) == [] and small_table_cells(at) == []


def test_a_table_of_estimates_withholds_rows_whose_share_gives_a_small_count_back(presenting):
    table = pd.DataFrame(
        {
            "id": ["C01", "C12", "C11", "C07"],
            "estimate": [0.5, 0.025, 0.0, None],
            "ci_low": [0.3, 0.004, 0.0, None],
            "ci_high": [0.7, 0.13, 0.07, None],
            "n": [40, 40, 40, 3],
            "explanation": ["20 of 40 courses", "2.5% of 40 courses", "0 of 40 courses", "3 courses"],
        }
    )
    hidden = presenter.withheld_rows(table)
    assert hidden.tolist() == [False, True, False, True]  # 1 of 40; n of 3
    shown = presenter.presentable_estimates(table, hidden)
    assert shown["estimate"].tolist()[:3] == [0.5, "suppressed", 0.0]
    assert shown["explanation"].tolist() == ["20 of 40 courses", "suppressed", "0 of 40 courses", "suppressed"]
    assert table["estimate"].iloc[1] == 0.025  # the input is left alone


def test_a_shown_column_of_numbers_and_words_is_text_in_its_number_format(presenting):
    table = pd.DataFrame({"what": ["a", "b"], "estimate": ["suppressed", 12.345]}).astype({"estimate": object})
    shown, config = presenter.presentable_table(
        table, {"estimate": {"label": "Estimate (%)", "type_config": {"format": "%.1f"}}}
    )
    assert shown["estimate"].tolist() == ["suppressed", "12.3"]


def test_the_report_made_in_presenter_mode_writes_no_small_count():
    """The report download passes presenter mode's threshold (ui.report_download): its words, not only its tables, hide small counts."""
    cohort = build_cohort(generate_cohort(40, 3), "small")
    four = cohort.subset(
        cohort.courses.loc[(cohort.courses["sex"] == "M") & (cohort.courses["site"] == "North"), "course_idx"]
    )
    assert four.n_courses == 4
    body = re.sub(
        r"<script.*?</script>",
        " ",
        build_report(four, {}, "sex M, site North", True, threshold=5).split("<body>", 1)[1],
        flags=re.S,
    )
    cells = [html.unescape(text) for text in re.split(r"<[^>]+>", body) if text.strip()]
    assert [text for text in cells if SMALL_IN_TEXT.search(text)] == []
    assert any("· <5 courses ·" in text for text in cells)  # the heading's count of courses
