"""The Review page's desk: the corrections database and the reviewer, where the session is in the
queue (the post on show, the posts skipped, the reviews it can undo, the last message), and the
clicks that change them (record, undo, next, skip), which the page's buttons call back.

Reviews go to the corrections database (crisis_model.corrections.store), chosen in the sidebar,
else $CRISISLENS_CORRECTIONS, else workspace/corrections.db beside runs/. A database that cannot be
used (not SQLite, a newer schema, held by another program, out of reach) is named in an error and
the queue stays readable; one that can be read but not written (a read-only file or folder) shows
its reviews, and recording is off; a lock that passes asks to try again in a moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd
import streamlit as st

from crisis_dashboard import literal, loaders, widgets
from crisis_dashboard.names import pretty, task_title
from crisis_dashboard.state import REPO_ROOT, chosen_path
from crisis_model.corrections import CorrectionStore, Review
from crisis_model.corrections import latest_reviews as in_force
from crisis_model.errors import CrisisLensError, DatabaseError
from crisis_model.predictions import POST_KEY_COLUMN
from crisis_model.run_folder import TaskRun

CORRECTIONS_ENV = "CRISISLENS_CORRECTIONS"
DEFAULT_CORRECTIONS = REPO_ROOT / "workspace" / "corrections.db"

# The Review page's keys in the session state: the sidebar's choices (kept by state.persistent_input),
# then the session's place in the queue; the page's widgets' keys start with PREFIX too.
REVIEWER, CORRECTIONS_DB = "reviewer", "corrections_db"
PREFIX = "rv-"
CURRENT = PREFIX + "current"  # the post on show
SKIPPED = PREFIX + "skipped"  # posts skipped, left out of the queue until the page is reloaded
UNDO = PREFIX + "undo"  # (batch, post, what) of each review recorded, the last one first to undo
MESSAGE = PREFIX + "message"  # what the last click did, shown once
NO_REVIEWS = ["post_id", "task", "label_after", "reviewer"]


@dataclass
class Desk:
    """What one run of the page reviews with: the store (None: none usable) and the reviewer."""

    store: CorrectionStore | None
    reviewer: str

    @property
    def can_record(self) -> bool:
        return self.store is not None and not self.store.read_only

    @cached_property
    def history(self) -> pd.DataFrame | None:
        """Every review in the database, read once per run of the page (None: no database, or
        unreadable, said on the page); the progress, the post's reviews and the reviewed set use it."""
        if self.store is None:
            return None
        return widgets.guard(self.store.history, "read the corrections database")


def corrections_path() -> tuple[Path, str]:
    """(the corrections database, how it was chosen)."""
    return chosen_path(CORRECTIONS_DB, CORRECTIONS_ENV) or (DEFAULT_CORRECTIONS, "the default workspace")


def open_store(path: Path) -> CorrectionStore | None:
    """The corrections database, or None with the fault on the page (DatabaseError.kind)."""
    try:
        store = CorrectionStore(path)
    except DatabaseError as err:
        if err.kind == "locked":
            st.warning(f"{literal.inline(str(err))} Reload the page in a moment to record reviews.")
        else:
            st.error(
                f"Cannot record reviews: {literal.inline(str(err))} The queue below is read-only; choose "
                "another corrections database in the sidebar to record reviews."
            )
        return None
    if store.read_only:
        st.warning(
            f"{literal.inline(str(path))} can be read but not written here: its reviews are shown, and "
            "recording is off. Choose a database this server may write to record reviews."
        )
    return store


def latest_reviews(desk: Desk, task: str | None = None) -> pd.DataFrame:
    """The review in force of each post (for `task`; none without a database)."""
    if desk.history is None:
        return pd.DataFrame(columns=NO_REVIEWS)
    return in_force(desk.history, task)


def reviews_of(desk: Desk, post_id: str) -> dict[str, pd.Series]:
    """task -> the review in force for this post."""
    latest = latest_reviews(desk)
    return {str(r["task"]): r for _, r in latest[latest["post_id"] == post_id].iterrows()}


def current_post(queue: pd.DataFrame, done: pd.Series) -> str | None:
    """The post on show: the one the reviewer is on, else the queue's first not reviewed or skipped."""
    skipped = st.session_state.setdefault(SKIPPED, [])
    current = st.session_state.get(CURRENT)
    if current in set(queue["post_id"]):
        return current
    pending = queue[~done.to_numpy() & ~queue["post_id"].isin(skipped).to_numpy()]
    current = pending["post_id"].iloc[0] if len(pending) else None
    st.session_state[CURRENT] = current
    return current


def record(desk: Desk, run: TaskRun, members: list[str], row_group: str, answer: str, label: str) -> None:
    """One click: the review of the post, members[0] (and of its near-duplicates, the other
    members, when the group is chosen), each with the model's own answer for it where the run
    scored it."""
    try:
        scored = loaders.load_predictions(run)
        answers = dict(zip(scored["post_id"], scored["predicted_label"]))
        keys = dict(zip(scored["post_id"], scored[POST_KEY_COLUMN]))
    except CrisisLensError:
        answers, keys = {}, {}
    # a near-duplicate this task's run did not score has no answer the review could be about
    members = [members[0], *(post for post in members[1:] if post in answers)]
    group = str(row_group) if len(members) > 1 else None
    reviews = [
        Review(post, run.task, answer if post == members[0] else answers[post], label,
               str(run.folder.resolve()), desk.reviewer, group, keys.get(post))
        for post in members
    ]  # fmt: skip
    action = "accept" if label == answer else "correct"
    verb = "accepted as" if action == "accept" else "corrected to"
    what = f"{task_title(run.task)} of post {members[0]} {verb} {pretty(label)}"
    try:
        batch = desk.store.record(reviews, action)
    except CrisisLensError as err:
        st.session_state[MESSAGE] = f":red[Could not record the review: {literal.inline(str(err))}]"
        return
    st.session_state[UNDO].append((batch, members[0], what))
    st.session_state[MESSAGE] = f"Recorded: {what}" + (f" (and {len(members) - 1} near-duplicates)." if group else ".")


def undo(desk: Desk) -> None:
    """Takes back the session's last review; its post is shown again."""
    batch, post_id, what = st.session_state[UNDO].pop()
    try:
        desk.store.undo(batch, desk.reviewer or "unknown")
    except CrisisLensError as err:
        st.session_state[MESSAGE] = f":red[Could not undo: {literal.inline(str(err))}]"
        return
    st.session_state[CURRENT] = post_id
    st.session_state[MESSAGE] = f"Undone: {what}."


def leave(post_id: str | None, skip: bool) -> None:
    """Next post (or skip this one, which comes back when the page is reloaded)."""
    if skip and post_id is not None:
        st.session_state[SKIPPED].append(post_id)
    st.session_state[CURRENT] = None
    st.session_state.pop(MESSAGE, None)
