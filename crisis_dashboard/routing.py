"""The pages, and how app.py runs them: `run_app()` names the pages in the sidebar first, shows the
page's heading and a loading notice while the dashboard's code is imported, resolves the state and
runs the page, whose file shows its view with that state (`show_page`).

Only Streamlit and the standard library are imported here: the page names and the notice are on
the screen before torch, transformers and plotly are imported (seconds on a server's first run).

Beside app.py, the pages/ folder is also Streamlit's older multipage convention: until a script run
calls `st.navigation`, a server's first run lists the files' names (app, analyse, ...) and runs the
address's file itself, without app.py. So the names in the sidebar are links drawn here, not
Streamlit's automatic list (`client.showSidebarNavigation = false` in .streamlit/config.toml hides
both), and a page file run by itself starts the app (`show_page`), which routes back to it.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from crisis_dashboard.state import AppState

PAGES_DIR = "pages"
LOADING = "Loading CrisisLens…"
PREPARING = "Preparing the models and the data…"


@dataclass(frozen=True)
class PageSpec:
    url: str  # the address, the file's name in pages/ and the view's in crisis_dashboard.views
    title: str  # in the navigation and the browser tab
    heading: str  # at the top of the page
    icon: str


PAGES = (
    PageSpec("overview", "Overview", "CrisisLens overview", ":material/dashboard:"),
    PageSpec("browse", "Browse predictions", "Browse predictions", ":material/table_view:"),
    PageSpec("situation", "Situation over time", "The situation over time", ":material/timeline:"),
    PageSpec("analyse", "Analyse a post", "Analyse a post", ":material/edit_note:"),
    PageSpec("attention", "Attention & routing", "Attention & routing", ":material/hub:"),
    PageSpec("review", "Review", "Review the model's answers", ":material/rule:"),
    PageSpec("guide", "How to read CrisisLens", "How to read CrisisLens", ":material/menu_book:"),
)
HEADINGS = {spec.title: spec.heading for spec in PAGES}


def page_file(url: str) -> str:
    """The file of the page at /url, as st.Page, st.page_link and AppTest's switch_page take it."""
    return f"{PAGES_DIR}/{url}.py"


def navigation() -> st.Page:
    """The pages, and their links at the top of the sidebar; the Overview is the default page (/)
    and also answers at /overview (Streamlit names pages by their address, so the default one is
    "home" inside)."""
    overview = PAGES[0]
    pages = [st.Page(page_file(overview.url), title=overview.title, icon=overview.icon, url_path="home", default=True)]
    pages += [
        st.Page(
            page_file(spec.url),
            title=spec.title,
            icon=spec.icon,
            url_path=spec.url,
            visibility="hidden" if spec is overview else "visible",
        )
        for spec in PAGES
    ]
    page = st.navigation(pages, position="hidden")
    with st.sidebar:
        for link in pages[:1] + pages[2:]:  # the Overview once: not its hidden /overview twin
            st.page_link(link, label=link.title, icon=link.icon)
    return page


def run_app() -> None:
    """app.py: the navigation, the page's tab title and heading, a loading notice while the
    dashboard's code is imported, the state (which run and data; trains the demo on a first start),
    the sidebar and the banner, then the page. A signed-out visitor of a server with sign-in sees
    the sign-in alone (crisis_dashboard.sign_in)."""
    from crisis_dashboard import sign_in  # Streamlit alone

    if sign_in.signed_out():
        st.set_page_config(page_title="Sign in · CrisisLens", page_icon=":material/satellite_alt:", layout="centered")
        st.title("CrisisLens")
        sign_in.show_sign_in()
        return
    page = navigation()
    st.set_page_config(page_title=f"{page.title} · CrisisLens", page_icon=":material/satellite_alt:", layout="wide")
    st.title(HEADINGS[page.title])
    notice = st.empty()
    notice.info(LOADING, icon=":material/hourglass_top:")
    # the dashboard's code: torch, transformers and plotly are imported with it
    from crisis_dashboard import access
    from crisis_dashboard.state import banner, load_server, resolve_state, sidebar

    server = load_server()
    visitor = access.current_visitor(server)
    access.sidebar(visitor)
    access.banner(visitor)  # stops a signed-in account without a role here
    # the demo's check imports the training code (a second or more on a busy machine); on a first
    # start the demo's training shows its progress under this notice
    notice.info(PREPARING, icon=":material/hourglass_top:")
    state = resolve_state(server, visitor)
    notice.empty()  # what is slow from here on says so itself: a spinner, the page drawing
    sidebar(state)
    banner(state)
    with _routed(state):
        page.run()


_current = threading.local()  # Streamlit runs each session's script in a thread of its own


@contextlib.contextmanager
def _routed(state: AppState) -> Iterator[None]:
    """The state of this script run, for the page run_app runs inside."""
    _current.state = state
    try:
        yield
    finally:
        _current.state = None


def show_page(url: str) -> None:
    """The page file's one call: crisis_dashboard.views.<url>.show with the state run_app set up;
    run_app itself, which routes back here, where Streamlit ran the page file without app.py."""
    state = getattr(_current, "state", None)
    if state is None:  # Streamlit ran the page file itself (the pages/ convention, a server's first run)
        run_app()
        return
    importlib.import_module(f"crisis_dashboard.views.{url}").show(state)
