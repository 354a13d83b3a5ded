"""CrisisLens dashboard: `streamlit run app.py`.

The entry routes and sets up once, for every page (crisis_dashboard.routing.run_app): the page
names in the sidebar, the heading and a loading notice, the state (which run and data), the
sidebar's choices and the demo banner; then it runs the chosen page from pages/, whose body
is in crisis_dashboard/views/.
"""

from crisis_dashboard import routing

routing.run_app()
