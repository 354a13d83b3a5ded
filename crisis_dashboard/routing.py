"""The pages, and the state app.py hands to the page it runs.

app.py declares the navigation, sets up once (page config, state, sidebar, heading, banner) and
runs the page inside `routed(state)`; the page reads that state with `page_state()`.

Every page file is named as its address (pages/browse.py is /browse), so a link opened in a new
tab finds its page. On the first visit after a server start, Streamlit runs the file of the
address straight from the pages/ folder (its convention for apps without st.navigation) before
app.py has declared the navigation; `page_state()` then hands the run over to app.py.
"""

from __future__ import annotations

import contextlib
import runpy
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from crisis_dashboard.state import AppState

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = REPO_ROOT / "app.py"


@dataclass(frozen=True)
class PageSpec:
    url: str  # the address, and the file's name in pages/
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


def navigation():
    """The sidebar's pages; the Overview is the default page (/) and also answers at /overview
    (Streamlit names pages by their address, so the default one is "home" inside)."""
    overview = PAGES[0]
    pages = [
        st.Page(f"pages/{overview.url}.py", title=overview.title, icon=overview.icon, url_path="home", default=True)
    ]
    pages += [
        st.Page(
            f"pages/{spec.url}.py",
            title=spec.title,
            icon=spec.icon,
            url_path=spec.url,
            visibility="hidden" if spec is overview else "visible",
        )
        for spec in PAGES
    ]
    return st.navigation(pages)


_current = threading.local()  # Streamlit runs each session's script in a thread of its own


@contextlib.contextmanager
def routed(state: AppState) -> Iterator[None]:
    """The state of this script run, for the page app.py runs inside."""
    _current.state = state
    try:
        yield
    finally:
        _current.state = None


def page_state() -> AppState:
    """The state app.py set up for this run. A page file that Streamlit ran directly (the first
    visit after a server start) runs app.py instead, which routes back to it, then stops."""
    state = getattr(_current, "state", None)
    if state is None:
        runpy.run_path(str(APP), run_name="__main__")
        st.stop()
    return state
