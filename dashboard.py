"""Entry point: page routing and the sidebar every page shares.

Run with `make run` (or `streamlit run dashboard.py`).
"""
import streamlit as st

from ui.sidebar import render_sidebar

st.set_page_config(page_title="Isotretinoin outcomes", page_icon=":material/clinical_notes:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", url_path="overview", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/table:", url_path="data"),
]

page = st.navigation(PAGES)
render_sidebar()
page.run()
