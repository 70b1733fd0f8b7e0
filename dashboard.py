"""Entry point: page routing and the sidebar every page shares.

Run with `make run` (or `streamlit run dashboard.py`), then open http://127.0.0.1:8501.
"""

import streamlit as st

from ui.access import refuse_open_network_without_sign_in, require_sign_in
from ui.presenter import initial_sidebar_state, stop_if_hidden, visible_pages
from ui.sidebar import render_sidebar

st.set_page_config(
    page_title="Isotretinoin outcomes", page_icon="💊", layout="wide", initial_sidebar_state=initial_sidebar_state()
)
refuse_open_network_without_sign_in()  # reachable from other machines without sign-in: nothing below runs
require_sign_in()  # when secrets.toml configures sign-in, nothing below runs before it

# Page scripts live in views/, not pages/: Streamlit would serve a pages/ script by deep link without this entry point.
PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", url_path="start", default=True),
    st.Page("views/data.py", title="Data", icon=":material/table:", url_path="data"),
    st.Page("views/clearance.py", title="Clearance", icon=":material/trending_down:", url_path="clearance"),
    st.Page("views/side_effects.py", title="Side effects", icon=":material/healing:", url_path="side-effects"),
    st.Page("views/relapse.py", title="Relapse", icon=":material/replay:", url_path="relapse"),
    st.Page("views/labs.py", title="Labs", icon=":material/science:", url_path="labs"),
    st.Page("views/timeline.py", title="Course timeline", icon=":material/timeline:", url_path="timeline"),
]

# Streamlit serves the default page at / and answers "Page not found" at its own path: /overview is a second address.
OVERVIEW_ADDRESS = st.Page("views/overview.py", title="Overview", url_path="overview", visibility="hidden")

page = st.navigation([*visible_pages(PAGES), OVERVIEW_ADDRESS])
view = render_sidebar()
# Imported after the sidebar has run: imported at the top, a value typed into a page's number field was
# dropped on its first rerun (tests/test_browser_links.py); why is not yet understood.
from ui.slides import requested_slide, show_slides  # noqa: E402

slide = requested_slide()
if slide is not None and view.filtered is not None and view.filtered.n_courses:
    show_slides(view, slide)  # presenting as slides, from whichever page the talk started
else:
    stop_if_hidden(page)
    page.run()
