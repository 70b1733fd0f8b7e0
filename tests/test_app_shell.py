"""The app shell in AppTest: the demo opens, filters change the counts shown, the Data page reports."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def open_app(**query) -> AppTest:
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def sidebar_text(app: AppTest) -> str:
    return " ".join(m.value for m in app.sidebar.markdown)


def test_opens_on_the_synthetic_demo():
    app = open_app()
    assert not app.exception
    assert "2,000 of 2,000 courses" in sidebar_text(app)
    assert any("Synthetic demo data" in c.value for c in app.sidebar.caption)
    assert app.title[0].value == "Overview"


def test_a_filter_changes_the_counts_shown():
    app = open_app()
    app.multiselect(key="sex").select("F").run()
    assert not app.exception
    text = sidebar_text(app)
    assert "of 2,000 courses" in text and "2,000 of 2,000" not in text
    shown = int(text.split(" of ")[0].strip("* ").replace(",", ""))
    assert 800 < shown < 1400


def test_filters_are_restored_from_the_url():
    app = open_app(sex="M", site="North")
    assert app.multiselect(key="sex").value == ["M"]
    assert app.multiselect(key="site").value == ["North"]
    assert "2,000 of 2,000" not in sidebar_text(app)


def test_a_filter_matching_nothing_says_so():
    app = open_app(sex="F", course_number="2", baseline_iga="0")
    assert not app.exception
    if "0 of 2,000" in sidebar_text(app):
        assert any("No course matches" in w.value for w in app.warning)


def test_data_page_shows_report_and_dictionary():
    app = open_app()
    app.switch_page("views/data.py").run()
    assert not app.exception
    assert app.title[0].value == "Data"
    frames = [d.value for d in app.dataframe]
    dictionary = next(f for f in frames if "meaning" in f.columns)
    assert {"courses.csv", "visits.csv", "adverse_events.csv", "labs.csv"} <= set(dictionary["file"])
