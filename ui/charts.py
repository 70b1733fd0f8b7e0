"""Charts on a page, each with PNG and SVG downloads for slides and papers.

The image is drawn only when its button is clicked (a download button with a callable), so a
page with twenty charts costs nothing until someone wants a picture of one.
"""

from __future__ import annotations

import re

import plotly.graph_objects as go
import streamlit as st

from analysis.areas.charts import for_projector
from analysis.outputs import images
from ui.presenter import presenter_on


def show_chart(fig: go.Figure, name: str, key: str | None = None, container=None, **plotly_options) -> None:
    """Draws the chart (`st.plotly_chart`, full width) and offers it as PNG and SVG under an Export button.

    `name` becomes the file name ("clearance_by_month.png"); `container` is a column or other
    container to draw in (the page itself when None). In presenter mode the chart is drawn, and
    exported, in projector type (`for_projector`).
    """
    target = container if container is not None else st
    if presenter_on():
        fig = for_projector(fig)
    target.plotly_chart(fig, width=plotly_options.pop("width", "stretch"), key=key, **plotly_options)
    export_buttons(fig, name, key or name, target)


def export_buttons(fig: go.Figure, name: str, key: str, container=None) -> None:
    target = container if container is not None else st
    stem = file_stem(name)
    with target.popover(
        "Export", icon=":material/download:", help="Save this chart as an image for slides (PNG) or papers (SVG)."
    ):
        if not images.export_available():
            st.info(images.NO_BROWSER_MESSAGE)
            return
        for fmt, mime in images.FORMATS.items():
            st.download_button(
                f"{fmt.upper()} image",
                data=lambda fmt=fmt: images.figure_image(fig, fmt),
                file_name=f"{stem}.{fmt}",
                mime=mime,
                key=f"export-{fmt}-{key}",
                on_click="ignore",
                icon=":material/image:",
            )
        st.caption("PNG for slides, SVG for papers. The image is drawn on this machine when you click.")


def file_stem(name: str) -> str:
    """A file name from a chart's name: 'Clearance by month' -> 'clearance_by_month'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "chart"
