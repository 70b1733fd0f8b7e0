"""Charts shown to an audience (presenter mode) or shared (the report) hold no count from 1 to 4.

Every figure function takes `suppress_below`; these tests build each one on a small cohort with
plenty of small cells, look at every string a viewer can see (hover text, labels, axis ticks,
titles, notes) and at the drawn values, and check that nothing changes without a threshold.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from apptest import open_app, open_page

from analysis.areas.base import Audience
from analysis.areas.charts import count_bars, empty_figure, histogram_bars, plain_title
from analysis.areas.clearance import compute as clearance
from analysis.areas.clearance import figures as cf
from analysis.areas.labs import compute as labs
from analysis.areas.labs import figures as lf
from analysis.areas.overview import figures as overview_figures
from analysis.areas.registry import AREAS
from analysis.areas.relapse import compute as relapse
from analysis.areas.relapse import figures as rf
from analysis.areas.side_effects import compute as se
from analysis.areas.side_effects import figures as sf
from analysis.cohort.model import build_cohort
from analysis.demo import generate_cohort
from analysis.stats.suppression import (
    SUPPRESSED,
    bar_heights,
    count_label,
    count_labels,
    hidden_bars,
    hidden_cells,
    hidden_shares,
    numerator_labels,
    pooled,
)

T = 5
# "3 of 40", "2 courses", "n=4", "n = 1", "events 2": a small count written in a chart.
SMALL_IN_TEXT = re.compile(
    r"(?<![\d.,\-+<])[1-4](?![\d.%x])\s*(of|courses?|episodes|results|rows|at risk|events|cleared|patients)\b"
    r"|n\s*=\s*[1-4](?![\d.,])|events [1-4]\b"
)


def visible_strings(fig: go.Figure) -> list[tuple[str, str]]:
    """(where, text) for every string of the figure a viewer can read (the template's styling left out)."""
    spec = json.loads(fig.to_json())
    spec["layout"].pop("template", None)
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in ("bdata", "dtype", "shape"):
                    walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif isinstance(node, str):
            found.append((path, node))

    walk(spec, "")
    return found


def small_counts_shown(fig: go.Figure) -> list[tuple[str, str]]:
    """Strings showing a count from 1 to 4: a bare "3" given as hover data or a label, or "3 of 40", "n=3"."""
    hits = []
    for path, text in visible_strings(fig):
        bare = re.fullmatch(r"[1-4]", text.strip()) and (
            "customdata" in path or re.search(r"\.(text|hovertext)(\[|$)", path)
        )
        if bare or SMALL_IN_TEXT.search(text):
            hits.append((path, text))
    return hits


def marks_hidden(fig: go.Figure) -> bool:
    """Whether the figure says, somewhere, that it hid a count."""
    text = " ".join(t for _, t in visible_strings(fig))
    return any(
        word in text for word in (f"<{T}", SUPPRESSED, "Not drawn", "not drawn", "not shown", "Hatched", "withheld")
    )


# ---------------------------------------------------------------------------------------------
# The shared helpers


def test_counts_are_written_with_small_ones_as_under_the_threshold():
    assert list(count_labels([0, 1, 4, 5, 1234, None], T)) == ["0", "<5", "<5", "5", "1,234", "–"]
    assert list(count_labels([3, 1234])) == ["3", "1,234"]
    assert count_label(2, 11) == "<11" and count_label(2) == "2"


def test_a_share_is_hidden_when_its_count_or_its_complement_or_its_total_is_small():
    assert list(hidden_shares([3, 20, 18, 0, 2, 0], [40, 40, 20, 40, 3, 0], T)) == [
        True,
        False,
        True,
        False,
        True,
        False,
    ]
    assert not hidden_shares([3], [40], None).any()
    assert list(numerator_labels([3, 20, 18], [40, 40, 20], T)) == ["<5", "20", SUPPRESSED]


def test_a_lone_small_bar_takes_the_next_smallest_with_it():
    small, protecting = hidden_bars([0, 3, 10, 7, 20], T)
    assert list(small) == [False, True, False, False, False] and list(protecting) == [False, False, False, True, False]
    heights, texts, hatched = bar_heights([0, 3, 10, 7, 20], T)
    assert list(heights) == [0, 5, 10, 5, 20] and list(texts) == ["0", "<5", "10", SUPPRESSED, "20"]


def test_small_bars_that_the_total_would_pin_down_are_protected_too():
    assert hidden_bars([1, 1, 10, 7], T)[1].any()  # 2 hidden bars adding up to 2: each is 1
    assert hidden_bars([4, 4, 10, 7], T)[1].any()  # adding up to 8: each is 4
    assert not hidden_bars([1, 2, 10, 7], T)[1].any()  # 3 could be 1 + 2 or 2 + 1


def test_hidden_parts_of_a_stack_share_their_total():
    grid = pd.DataFrame({"a": [2, 10], "b": [8, 10], "c": [10, 10]})
    small, protecting = hidden_cells(grid, T)
    assert small.to_numpy().tolist() == [[True, False, False], [False, False, False]]
    assert protecting.to_numpy().tolist() == [[False, True, False], [False, False, False]]
    assert pooled(grid, small | protecting).to_numpy().tolist() == [[5, 5, 10], [10, 10, 10]]


# ---------------------------------------------------------------------------------------------
# Charts built from hand-made numbers


def _spec(fig: go.Figure) -> str:
    return json.dumps(json.loads(fig.to_json())["data"])


def test_clearance_by_month_leaves_gaps_where_a_count_is_small():
    by_month = pd.DataFrame({"month": [1, 2, 3, 4], "n": [40, 40, 20, 4], "cleared": [3, 20, 18, 4]})
    by_month["rate"] = by_month["cleared"] / by_month["n"]
    by_month["ci_low"], by_month["ci_high"] = by_month["rate"] - 0.1, (by_month["rate"] + 0.1).clip(upper=1)
    by_month["method"] = "Wilson interval"
    settings = clearance.ClearanceSettings()
    fig = cf.clearance_by_month_figure(by_month, settings, suppress_below=T)
    line = fig.data[-1]
    assert np.isnan(np.asarray(line.y, dtype=float)[[0, 2, 3]]).all() and line.y[1] == 0.5
    assert [row[0] for row in line.customdata] == ["<5", "20", SUPPRESSED, "<5"]
    assert fig.layout.xaxis.ticktext[3].endswith("><5</span>")  # n under month 4
    assert "Not drawn: months 1, 3, 4" in plain_title(fig.layout.title.text)
    assert not small_counts_shown(fig)
    plain = cf.clearance_by_month_figure(by_month, settings)
    assert list(plain.data[-1].y) == list(by_month["rate"]) and [row[0] for row in plain.data[-1].customdata] == [
        "3",
        "20",
        "18",
        "4",
    ]


def test_histogram_bins_of_few_courses_are_hatched_at_the_threshold():
    values = pd.Series([1.0] * 2 + [3.0] * 12 + [5.0] * 9 + [7.0] * 6)
    bars = histogram_bars(values, 2, start=0, suppress_below=T)
    assert list(bars.y) == [5, 12, 9, 5]  # 2 courses shown at 5, and 6 hidden with them (the total would reveal the 2)
    assert list(bars.marker.pattern.shape) == ["/", "", "", "/"]
    assert [row[1] for row in bars.customdata] == ["<5", "12", "9", SUPPRESSED]
    plain = histogram_bars(values, 2, start=0)
    assert list(plain.y) == [2, 12, 9, 6] and not plain.marker.pattern.shape


def test_category_bars_hide_the_small_one_and_its_share():
    bars = count_bars(pd.Series([30, 27, 1], index=["F", "M", "other"]), suppress_below=T)
    assert list(bars.y) == [30, 5, 5]
    assert [list(row) for row in bars.customdata] == [["30", "51.7%"], [SUPPRESSED, SUPPRESSED], ["<5", SUPPRESSED]]


def test_iga_stacks_keep_100_percent_with_hidden_grades_sharing_their_height():
    iga = pd.DataFrame(
        {"month": [1, 1, 1, 2, 2], "iga": [0, 1, 2, 1, 2], "courses": [2, 8, 10, 4, 1], "n": [20, 20, 20, 5, 5]}
    )
    iga["share"] = iga["courses"] / iga["n"]
    fig = cf.iga_distribution_figure(iga, suppress_below=T)
    stacked = sum(np.nan_to_num(np.asarray(trace.y, dtype=float)) for trace in fig.data)
    assert stacked.tolist() == pytest.approx([1.0, 1.0])
    grade_0, grade_1 = fig.data[0], fig.data[1]
    assert grade_0.y[0] == grade_1.y[0] == pytest.approx(0.25)  # 2 and 8 courses of 20 drawn as 5 and 5
    assert (grade_0.customdata[0][0], grade_1.customdata[0][0]) == ("<5", SUPPRESSED)
    assert not small_counts_shown(fig)


def test_a_kaplan_meier_curve_of_few_courses_is_left_out_and_small_numbers_at_risk_read_under_5(small):
    grouped = relapse.relapse_analysis(small, relapse.RelapseSettings(), "sex")
    sizes = {label: km.n for label, km in grouped.curves().items()}
    fig = rf.km_figure(grouped, suppress_below=T)
    names = " ".join(trace.name or "" for trace in fig.data)
    assert all((label in names) == (n >= T) for label, n in sizes.items())
    risk_text = [text for trace in fig.data if trace.mode == "text" for text in trace.text]
    assert "<5" in risk_text and not {"1", "2", "3", "4"} & set(risk_text)
    assert not small_counts_shown(fig)


def test_single_course_charts_are_not_drawn_for_an_audience(small):
    result = labs.analyse(small, labs.LabSettings())
    sample, total = labs.spaghetti_sample(result.data, "ALT")
    for fig in (
        lf.edish_figure(result.edish, suppress_below=T),
        lf.spaghetti_figure(sample, total, "ALT", suppress_below=T),
    ):
        assert not fig.data and "Not shown in presenter mode" in fig.layout.annotations[0].text
    assert lf.edish_figure(result.edish).data and lf.spaghetti_figure(sample, total, "ALT").data


def test_side_effects_of_few_courses_keep_their_row_without_a_point():
    table = pd.DataFrame(
        {
            "term": ["Cheilitis", "Alopecia"],
            "body_system": ["GI", "Skin"],
            "courses": [50, 2],
            "events": [55, 2],
            "at_risk": [80, 80],
            "recognised": [True, True],
            "rate": [50 / 80, 2 / 80],
            "ci_low": [0.5, 0.003],
            "ci_high": [0.7, 0.09],
            "interval": ["Wilson", "exact"],
            "band": ["very common", "common"],
            "ci_bands": ["very common", "uncommon to common"],
        }
    )
    fig = sf.incidence_figure(table, se.SideEffectSettings(), suppress_below=T)
    drawn = [y for trace in fig.data if trace.mode == "markers" for y in trace.y]
    assert drawn == ["Cheilitis"]
    note = next(trace for trace in fig.data if trace.mode == "text")
    assert list(note.y) == ["Alopecia"] and "<5 of 80 courses" in note.hovertext[0]
    assert "0.025" not in _spec(fig) and not small_counts_shown(fig)


def test_lab_grades_of_few_courses_are_named_not_drawn():
    grades = pd.DataFrame(
        {
            "test": ["ALT", "CK"],
            "courses": [57, 9],
            "grade_1_plus_n": [6, 3],
            "grade_2_plus_n": [0, 0],
            "grade_3_plus_n": [0, 0],
        }
    )
    for level in (1, 2, 3):
        grades[f"grade_{level}_plus"] = grades[f"grade_{level}_plus_n"] / grades["courses"]
    fig = lf.grade_figure(grades, suppress_below=T)
    grade_1 = fig.data[0]
    assert grade_1.x[0] == pytest.approx(6 / 57) and np.isnan(grade_1.x[1])
    labels = next(trace for trace in fig.data if trace.type == "scatter").text
    assert "grade 1: <5" in labels[1]
    assert not small_counts_shown(fig)


# ---------------------------------------------------------------------------------------------
# Every figure function on a small cohort


@pytest.fixture(scope="module")
def small():
    """80 generated courses: months, bins and groups of 1-4 courses in every area."""
    return build_cohort(generate_cohort(80, 3), source="small", fingerprint="cd" * 32)


def figure_builders(cohort) -> dict:
    """Every chart the app draws, as name -> builder(**options): each area's declared sections (the page and the
    report draw nothing else), drawn for an audience suppressing below `suppress_below`, grouped by sex.

    A section that withholds its chart from that audience (a chart of single courses) stands as the sentence
    the page shows instead. The figure functions of single courses are also built directly, since each
    withholds itself too."""
    builders = {}
    for area in AREAS:
        result = area.analyse(cohort, {})
        for section in area.sections:
            for number, (name, _) in enumerate(
                charts_of(section, section.draw(cohort, result, Audience(group_by="sex")))
            ):
                builders[name] = functools.partial(drawn_chart, cohort, result, section, number)
    data = labs.analyse(cohort, labs.LabSettings()).data
    sample, total = labs.spaghetti_sample(data, "ALT")
    builders["edish figure"] = lambda **o: lf.edish_figure(labs.analyse(cohort, labs.LabSettings()).edish, **o)
    builders["individual courses figure"] = lambda **o: lf.spaghetti_figure(sample, total, "ALT", **o)
    return builders


def charts_of(section, drawing) -> list[tuple[str, go.Figure]]:
    """A drawing's charts by name; the sentence said instead when it withholds its chart."""
    if drawing.missing:
        return [(section.key, empty_figure(section.title, drawing.missing))]
    first = [(drawing.name or section.key, drawing.figure)] if drawing.figure is not None else []
    return first + list(drawing.more_figures)


def drawn_chart(cohort, result, section, number: int, **options) -> go.Figure:
    audience = Audience(options.get("suppress_below"), group_by="sex")
    return charts_of(section, section.draw(cohort, result, audience))[number][1]


@pytest.fixture(scope="module")
def builders(small):
    return figure_builders(small)


@pytest.fixture(scope="module")
def built(builders):
    """Each figure drawn three ways: without the keyword, with None, and suppressed below 5."""
    return {name: (build(), build(suppress_below=None), build(suppress_below=T)) for name, build in builders.items()}


def test_every_suppressed_figure_shows_no_count_under_5(built):
    leaks = {name: small_counts_shown(suppressed)[:3] for name, (_, _, suppressed) in built.items()}
    assert not {name: found for name, found in leaks.items() if found}


def test_the_small_cohort_does_have_small_counts_to_hide(built):
    """Without suppression most charts show a count under 5, so the test above has something to catch."""
    showing = [name for name, (plain, _, _) in built.items() if small_counts_shown(plain)]
    assert len(showing) >= len(built) / 2, showing


def test_a_chart_that_showed_a_small_count_says_what_it_hid(built):
    for name, (plain, _, suppressed) in built.items():
        if small_counts_shown(plain):
            assert marks_hidden(suppressed), name


def test_without_a_threshold_every_figure_is_unchanged(built):
    for name, (plain, none, _) in built.items():
        assert plain.to_json() == none.to_json(), name


def test_no_drawn_value_gives_a_hidden_share_away(built):
    """A hidden share's value is absent from the suppressed figure: a viewer cannot read it from the JSON."""
    fig = built["clearance by sex"][2]
    line = fig.data[0]
    drawn = np.asarray(line.x, dtype=float)
    assert np.isnan(drawn[[i for i, name in enumerate(line.y) if "n=<5" in name]]).all()


# ---------------------------------------------------------------------------------------------
# The shared report and presenter mode


def test_the_shared_report_charts_hold_no_count_under_5(small):
    from analysis.outputs import report

    captured = []
    original = report.Report.chart
    try:
        report.Report.chart = lambda self, name, fig: (captured.append((name, fig)), original(self, name, fig))
        html = report.build_report(small, {}, "all courses")
    finally:
        report.Report.chart = original
    assert len(captured) > 20
    assert not {name: small_counts_shown(fig)[:2] for name, fig in captured if small_counts_shown(fig)}
    assert "Charts are drawn from the full numbers" not in html and "hatched bars stand for hidden counts" in html


# 30 uploaded courses at two sites; the North site has 15, one of them a man.
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
        for day, iga, lesions in ((0, 3, 40), (60, 2, 20), (150, 1, 5))
    )
    + "\n"
)
FILES = (("courses.csv", COURSES.encode()), ("visits.csv", VISITS.encode()))


def _chart_specs(at) -> list[str]:
    return [chart.proto.spec for chart in at.get("plotly_chart")]


def test_presenter_mode_draws_the_charts_of_a_small_filtered_upload_with_under_5():
    at = open_app({"presenter": "1", "site": "North"}, files=FILES)
    assert not at.exception, at.exception
    specs = _chart_specs(at)
    demographics = next(spec for spec in specs if "Who was treated" in spec)
    assert "\\u003c5" in demographics or "<5" in demographics  # the one man of the North site
    sex = json.loads(demographics)["data"][0]
    assert dict(zip(sex["y"], (row[0] for row in sex["customdata"])))["M"] == "<5"


def test_presenter_mode_clearance_groups_name_a_small_group_as_under_5():
    at = open_page("views/clearance.py", {"presenter": "1", "site": "North", "clearance_group": "sex"}, files=FILES)
    groups = json.loads(next(spec for spec in _chart_specs(at) if "Clear at the end of course, by" in spec))
    labels = [label for trace in groups["data"] for label in (trace.get("y") or [])]
    assert "M (n=<5)" in labels and not any(label == "M (n=1)" for label in labels)


def test_without_presenter_mode_the_same_chart_shows_the_count():
    at = open_app({"site": "North"}, files=FILES)
    sex = json.loads(next(spec for spec in _chart_specs(at) if "Who was treated" in spec))["data"][0]
    assert dict(zip(sex["y"], (row[0] for row in sex["customdata"])))["M"] == "1"


def test_a_cohort_without_any_dose_says_so_instead_of_drawing_empty_axes(small):
    from analysis.areas.overview.figures import NO_DOSE

    courses = small.courses.assign(daily_dose_mg_per_kg=np.nan, cumulative_dose_mg_per_kg=np.nan)
    fig = overview_figures.dose_figure(dataclasses.replace(small, courses=courses))
    assert [note.text for note in fig.layout.annotations] == [NO_DOSE] and not fig.data


def test_a_side_effect_group_withheld_for_its_complement_says_so():
    table = pd.DataFrame(
        {
            "group": ["F", "M", "other"],
            "courses": [40, 2, 26],
            "at_risk": [100, 60, 28],
            "rate": [0.4, 2 / 60, 26 / 28],
            "ci_low": [0.3, 0.01, 0.77],
            "ci_high": [0.5, 0.1, 0.98],
            "reference": "F",
        }
    )
    fig = sf.comparison_figure(table, "Cheilitis", "Sex", se.SideEffectSettings(), suppress_below=5)
    notes = dict(zip(fig.data[1].y, fig.data[1].text))
    assert notes == {
        "M": "count under 5: not shown",
        "other": "not shown: the rest of the group (without it) is under 5",
    }
