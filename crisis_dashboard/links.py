"""What a link to the dashboard carries: the task shown and the post open, in the address's query
(`?task=damage&post=123`), so a link opened in a new tab, or sent to a colleague, shows the same.

A session reads the address when it has no choice of its own yet (its first run; a page that
opens a post for the first time), and every run writes its choice back, so the address always
says what is on the screen.
"""

from __future__ import annotations

import streamlit as st

TASK = "task"
POST = "post"


def linked(name: str) -> str | None:
    """The value the address gives `name`, or None."""
    return st.query_params.get(name) or None


def show_in_link(name: str, value: str | None) -> None:
    """Writes `value` into the address (None removes `name` from it)."""
    if value is None:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value
