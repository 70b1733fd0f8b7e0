"""Chart images: PNG and SVG bytes from kaleido with the system chromium, drawn offline, and a clear message without a browser."""

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from analysis.outputs import images

needs_browser = pytest.mark.skipif(
    not images.export_available(), reason="no Chrome or Chromium on this machine (kaleido needs one)"
)


def small_figure() -> go.Figure:
    fig = go.Figure(go.Bar(x=["IGA 0/1", "IGA 2+"], y=[12, 30], name="courses"))
    return fig.update_layout(title="Clear at the end of the course", height=360)


@needs_browser
def test_a_chart_becomes_png_bytes_at_twice_the_size_for_sharp_slides():
    png = images.figure_image(small_figure(), "png", width=400)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (400 * images.PNG_SCALE, 360 * images.PNG_SCALE)


@needs_browser
def test_a_chart_becomes_svg_with_its_title_as_text():
    svg = images.figure_image(small_figure(), "svg").decode("utf-8")
    assert svg.lstrip().startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "Clear at the end of the course" in svg


@needs_browser
def test_kaleido_is_asked_not_to_fetch_mathjax_from_a_cdn(monkeypatch):
    import kaleido

    started = []
    real_start = kaleido.start_sync_server
    monkeypatch.setattr(kaleido, "start_sync_server", lambda *a, **k: (started.append(k), real_start(*a, **k))[1])
    images.figure_image(small_figure(), "svg")
    assert started and all(call["mathjax"] is False for call in started)


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="png, svg"):
        images.figure_image(small_figure(), "gif")


def test_without_a_browser_the_export_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chromium"))
    assert images.browser_path() is None and not images.export_available()
    with pytest.raises(images.ImageExportUnavailable, match="Chrome or Chromium"):
        images.figure_image(small_figure(), "png")


def chart_page():
    import plotly.graph_objects as go

    from ui.charts import show_chart

    left, right = __import__("streamlit").columns(2)
    show_chart(go.Figure(go.Bar(x=["a"], y=[1])), "Clearance by month", key="by_month", container=left)
    show_chart(go.Figure(go.Bar(x=["b"], y=[2])), "Side effects per course", container=right)


def test_show_chart_draws_the_chart_with_png_and_svg_buttons(monkeypatch):
    monkeypatch.setattr(images, "export_available", lambda: True)
    at = AppTest.from_function(chart_page, default_timeout=30).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
    buttons = at.get("download_button")
    assert [b.proto.label for b in buttons] == ["PNG image", "SVG image"] * 2
    popovers = at.get("popover")
    assert len(popovers) == 2 and [b.proto.label for b in popovers[0].get("download_button")] == [
        "PNG image",
        "SVG image",
    ]


def test_show_chart_without_a_browser_says_so_instead_of_offering_buttons(monkeypatch):
    monkeypatch.setattr(images, "export_available", lambda: False)
    at = AppTest.from_function(chart_page, default_timeout=30).run()
    assert not at.exception
    assert not at.get("download_button")
    assert [info.value for info in at.info] == [images.NO_BROWSER_MESSAGE] * 2


def test_file_names_come_from_the_chart_names():
    from ui.charts import file_stem

    assert file_stem("Clearance by month") == "clearance_by_month"
    assert file_stem("ALT: individual courses (n < 5)") == "alt_individual_courses_n_5"
    assert file_stem("***") == "chart"
