"""What a link to the dashboard carries: the task shown and the post open, in the address's query
(`?task=damage&post=123`), so a link opened in a new tab, or sent to a colleague, shows the same.

A session reads the address when it has no choice of its own yet (its first run; a page that
opens a post for the first time), and every run writes its choice back, so the address always
says what is on the screen. A value the page cannot show (a task the run lacks, a post not in it)
is never dropped in silence: `refuse` says so on the page and takes it out of the address.
"""

from __future__ import annotations

from collections.abc import Collection

import streamlit as st

from crisis_dashboard import literal

TASK = "task"
POST = "post"


def linked(name: str) -> str | None:
    """The value the address gives `name`, or None."""
    return st.query_params.get(name) or None


def linked_in(name: str, known: Collection[str], where: str, instead: str) -> str | None:
    """The address's value of `name` when it is one of `known`; else None, and the page says that
    the value is not in `where` and what it shows `instead` (see `refuse`)."""
    value = linked(name)
    if value is None or value in known:
        return value
    refuse(name, where, instead)
    return None


def refuse(name: str, where: str, instead: str) -> None:
    """Says on the page that the address's value of `name` is not in `where` (e.g. "this run") and
    what the page shows `instead`, and takes the value out of the address."""
    value = linked(name)
    if value is None:
        return
    st.warning(f"The address asks for {name} {literal.inline(value)}, which is not in {where}: {instead}.",
               icon=":material/link_off:")  # fmt: skip
    show_in_link(name, None)


def show_in_link(name: str, value: str | None) -> None:
    """Writes `value` into the address (None removes `name` from it)."""
    if value is None:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value
