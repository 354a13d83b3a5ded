"""The Review page's team part: Cohen's kappa between reviewers per task (crisis_model.corrections.
agreement), the posts two reviewers labelled differently, which an admin settles (the settled label
wins for training), and who is on which post now."""

from __future__ import annotations

import streamlit as st

from crisis_dashboard import literal, retrain_panel, widgets
from crisis_dashboard.names import pretty, task_title
from crisis_dashboard.review_desk import PREFIX, Desk
from crisis_dashboard.state import AppState
from crisis_model.corrections import claims
from crisis_model.corrections.agreement import MIN_SHARED, disagreements, kappa_table

SHOWN = 10  # open disagreements listed to settle at once


def show(state: AppState, desk: Desk) -> None:
    """Agreement for everyone; settling, who is on which post, and retraining for admins."""
    st.divider()
    st.subheader("Agreement between reviewers")
    _kappa(desk)
    _disagreements(state, desk)
    if state.visitor.may("admin") and (held := widgets.guard(lambda: claims.live_claims(desk.store), "read claims")):
        st.caption("On show now: " + "; ".join(
            f"{literal.inline(c.reviewer)} on post {literal.inline(c.post_id)} ({task_title(c.task)})" for c in held
        ))  # fmt: skip
    if state.visitor.may("admin"):
        retrain_panel.show(state, desk.store.path)


def _kappa(desk: Desk) -> None:
    table = kappa_table(desk.history)
    if table.empty:
        st.caption(f"Cohen's kappa is shown per task for two reviewers once they share {MIN_SHARED} reviewed posts.")
        return
    names = {"task": "Task", "reviewer_a": "Reviewer", "reviewer_b": "and reviewer",
             "shared_posts": "Posts both reviewed", "agreed": "Same label", "kappa": "Cohen's kappa"}  # fmt: skip
    shown = table.assign(task=table["task"].map(task_title)).rename(columns=names)
    st.dataframe(shown.style.format({"Cohen's kappa": "{:.2f}"}), hide_index=True, width="stretch")
    st.caption("Cohen's kappa: 1 when two reviewers always agree, 0 when they agree as often as chance would; "
               f"only pairs sharing at least {MIN_SHARED} posts of a task.")  # fmt: skip


def _disagreements(state: AppState, desk: Desk) -> None:
    settlements = widgets.guard(desk.store.settlements, "read the settled labels")
    if settlements is None:
        return
    table = disagreements(desk.history, settlements)
    open_ = table[table["settled"] == ""]
    if table.empty:
        st.caption("No post has two reviewers' labels that differ.")
        return
    st.markdown(f"**{len(open_):,} posts labelled differently by two reviewers** ({len(table) - len(open_):,} settled)")
    if not state.visitor.may("admin"):
        st.caption("An admin settles them; until then the latest review counts for training.")
        return
    for _, row in open_.head(SHOWN).iterrows():
        key = f"{PREFIX}settle-{row['task']}-{row['post_id']}"
        c1, c2, c3 = st.columns([3, 2, 1])
        post = literal.inline(row["post_id"])
        said = "; ".join(f"{literal.inline(reviewer)}: *{pretty(label)}*" for reviewer, label in row["labels"])
        c1.markdown(f"Post {post} ({task_title(row['task'])}): {said}")
        label = c2.selectbox("Settled label", row["options"], key=key + "-label", format_func=pretty,
                             label_visibility="collapsed")  # fmt: skip
        c3.button("Settle", key=key, on_click=_settle, args=(desk, row["task"], row["post_id"], label, state))


def _settle(desk: Desk, task: str, post_id: str, label: str, state: AppState) -> None:
    widgets.guard(lambda: desk.store.settle(task, post_id, label, state.visitor.email or desk.reviewer or "admin"),
                  "settle the label")  # fmt: skip
