"""The report download on the Overview page: offered with suppression on, private only when asked, never private when presenting."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from analysis.cohort.filters import FilterSpec, apply_filters
from analysis.cohort.loading import load_demo
from ui.report_download import SUPPRESS_KEY, report_bytes
from ui.sidebar import View

ROOT = Path(__file__).resolve().parent.parent


def overview(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def report_button(at: AppTest):
    return [b for b in at.get("download_button") if b.proto.label == "Download the report (HTML)"]


def test_the_overview_offers_the_report_with_small_counts_hidden_by_default():
    at = overview()
    assert not at.exception
    assert len(report_button(at)) == 1
    assert at.toggle(key=SUPPRESS_KEY).value is True
    assert not [w for w in at.warning if "Private report" in w.value]


def test_turning_suppression_off_warns_that_the_report_is_private():
    at = overview(**{SUPPRESS_KEY: "false"})
    assert not at.exception
    assert at.toggle(key=SUPPRESS_KEY).value is False
    assert [w for w in at.warning if "Private report" in w.value]


def test_in_presenter_mode_the_report_is_always_suppressed():
    at = overview(presenter="1")
    assert not at.exception
    assert len(report_button(at)) == 1
    assert not [t for t in at.toggle if t.key == SUPPRESS_KEY]


def test_the_report_describes_the_filtered_view_with_the_dataset_beside_it():
    result = load_demo()
    spec = FilterSpec(values={"sex": ("M",)})
    view = View(result, result.cohort, apply_filters(result.cohort, spec), spec)
    html = report_bytes(view, {"clearance.missing": "nri"}, True, 5).decode("utf-8")
    assert "sex in M" in html and "clearance.missing = nri" in html
    assert f"<th>Courses in the dataset</th><td>{result.cohort.n_courses:,}</td>" in html
    assert f"<th>Courses in this report</th><td>{view.filtered.n_courses:,}</td>" in html
