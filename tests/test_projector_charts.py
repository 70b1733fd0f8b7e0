"""Charts in presenter mode (`for_projector`): every figure the app draws gets projector type and thicker
marks, on a copy, and the copy is what the page draws and exports."""

import plotly.graph_objects as go
import pytest

from analysis.areas.charts import PROJECTOR_FONT, PROJECTOR_LINE_WIDTH, PROJECTOR_MIN_HEIGHT, for_projector
from tests.test_chart_suppression import figure_builders


@pytest.fixture(scope="module")
def figures(small):
    return {name: build(suppress_below=5) for name, build in figure_builders(small).items()}


@pytest.fixture(scope="module")
def small():
    from analysis.cohort.model import build_cohort
    from analysis.demo import generate_cohort

    return build_cohort(generate_cohort(80, 3), source="small", fingerprint="cd" * 32)


def test_every_figure_gets_projector_type(figures):
    for name, fig in figures.items():
        big = for_projector(fig).layout
        assert big.title.font.size >= 28 and big.font.size >= 20, name
        assert big.legend.font.size >= 18 and big.height >= PROJECTOR_MIN_HEIGHT, name
        for axis in [big[key] for key in big if key.startswith(("xaxis", "yaxis"))]:
            assert axis.tickfont.size >= 20 and axis.title.font.size >= 20, (name, axis.plotly_name)
        assert all(note.font.size >= PROJECTOR_FONT["annotation"] for note in big.annotations), name


def test_drawn_lines_get_thicker_and_hidden_band_edges_stay_hidden(figures):
    for name, fig in figures.items():
        for before, after in zip(fig.data, for_projector(fig).data):
            width = getattr(getattr(before, "line", None), "width", None)
            if width == 0:
                assert after.line.width == 0, name
            elif width is not None:
                assert after.line.width >= max(width, PROJECTOR_LINE_WIDTH), name


def test_the_original_figure_is_left_as_it_was(figures):
    fig = figures["clearance_by_month"]
    before = fig.to_json()
    for_projector(fig)
    assert fig.to_json() == before


def test_the_exported_image_of_a_presenter_chart_carries_the_large_type():
    """The page hands the projector copy to the export buttons: its SVG holds 28 px title text."""
    from analysis.outputs import images

    if not images.export_available():
        pytest.skip(images.NO_BROWSER_MESSAGE)
    fig = for_projector(go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="a"), layout={"title": {"text": "T"}}))
    svg = images.figure_image(fig, "svg").decode()
    assert "font-size: 28px" in svg or 'font-size="28"' in svg or "font-size:28px" in svg
