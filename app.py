"""CrisisLens dashboard: `streamlit run app.py`.

The entry point routes and sets up once (page config, state, sidebar, heading, demo banner),
then runs the chosen page from pages/. The pages are thin: their code is in crisis_dashboard/.
"""

import streamlit as st

from crisis_dashboard import routing
from crisis_dashboard.state import banner, resolve_state, sidebar

page = routing.navigation()
st.set_page_config(page_title=f"{page.title} · CrisisLens", page_icon=":material/satellite_alt:", layout="wide")
state = resolve_state()
sidebar(state)
st.title(routing.HEADINGS.get(page.title, page.title))
banner(state)
with routing.routed(state):
    page.run()
