"""The floor for `browser_timing.py`: the dashboard's pages with the same titles, addresses and number of
plotly charts, and no computation at all. What the browser and Streamlit need to draw that many charts
is the least a page of the dashboard can take.

    FLOOR_CHARTS='{"start": 10, "data": 0}' .venv/bin/streamlit run benchmarks/floor_app.py

FLOOR_CHARTS maps each page's address (url_path) to its number of charts (JSON); a page not named draws none.
"""

import json
import os

import plotly.graph_objects as go
import streamlit as st

PAGES = {  # url_path: title, as in dashboard.py
    "start": "Overview",
    "data": "Data",
    "clearance": "Clearance",
    "side-effects": "Side effects",
    "relapse": "Relapse",
    "labs": "Labs",
    "timeline": "Course timeline",
}
CHARTS = json.loads(os.environ.get("FLOOR_CHARTS") or "{}")
FIGURE = go.Figure(go.Scatter(x=list(range(12)), y=[v * v % 7 for v in range(12)], mode="lines+markers"))
FIGURE.update_layout(title="A chart", height=360)


def page(url_path: str, title: str):
    def draw() -> None:
        st.title(title)
        for number in range(int(CHARTS.get(url_path, 0))):
            st.plotly_chart(FIGURE, width="stretch", key=f"chart_{number}")

    draw.__name__ = url_path.replace("-", "_")
    return st.Page(draw, title=title, url_path=url_path, default=url_path == "start")


st.set_page_config(page_title="Floor", layout="wide")
st.navigation([page(url_path, title) for url_path, title in PAGES.items()]).run()
