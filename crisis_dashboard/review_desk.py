"""The Review page's desk: the corrections database and the reviewer, where the reviewer is in the
queue (the post on show, which they claim; the posts they skipped and the reviews they can undo,
both kept in the database), a conflict to choose on, the last message, and the clicks that change
them (record, undo, next, skip), which the page's buttons call back.

The reviewer is the signed-in identity (crisis_dashboard.access); without sign-in, the name typed
in the sidebar. Reviews go to the corrections database (crisis_model.corrections.store): the
server's configured one ($CRISISLENS_CORRECTIONS or its config file), else, on a laptop, the one
typed in the sidebar, else workspace/corrections.db beside runs/. A team server never opens a
database typed in the browser. A database that cannot be
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
from crisis_dashboard.server_config import DEFAULT_CORRECTIONS
from crisis_dashboard.state import AppState, chosen_path
from crisis_model.corrections import CorrectionStore, Review, claims
from crisis_model.corrections import latest_reviews as in_force
from crisis_model.corrections.store import settled
from crisis_model.errors import CrisisLensError, DatabaseError, ReviewConflict
from crisis_model.predictions import POST_KEY_COLUMN
from crisis_model.run_folder import TaskRun

CORRECTIONS_ENV = "CRISISLENS_CORRECTIONS"

# The Review page's keys in the session state: the sidebar's choices (kept by state.persistent_input),
# then the session's place in the queue; the page's widgets' keys start with PREFIX too.
REVIEWER, CORRECTIONS_DB = "reviewer", "corrections_db"
PREFIX = "rv-"
CURRENT = PREFIX + "current"  # the post on show
SEEN = PREFIX + "seen"  # the last review id in the database when the post on show was drawn
SKIPPED = PREFIX + "skipped"  # without a database to keep them: posts skipped in this session
CONFLICT = PREFIX + "conflict"  # a click refused because someone else reviewed the post: (args, their reviews)
MESSAGE = PREFIX + "message"  # what the last click did, shown once
NO_REVIEWS = ["post_id", "task", "label_after", "reviewer"]


@dataclass
class Desk:
    """What one run of the page reviews with: the store (None: none usable), the reviewer, whether
    they may record (a reviewer or admin), and how long a claim lasts."""

    store: CorrectionStore | None
    reviewer: str
    may_review: bool = True
    claim_s: float = claims.CLAIM_TTL_S

    @property
    def can_record(self) -> bool:
        return self.store is not None and not self.store.read_only and self.may_review

    @property
    def keeps_places(self) -> bool:
        """Claims, skips and undo are kept in the database for this reviewer."""
        return self.can_record and bool(self.reviewer)

    @cached_property
    def history(self) -> pd.DataFrame | None:
        """Every review in the database, read once per run of the page (None: no database, or
        unreadable, said on the page); the progress, the post's reviews and the reviewed set use it."""
        if self.store is None:
            return None
        return widgets.guard(self.store.history, "read the corrections database")

    @cached_property
    def undoable(self) -> pd.DataFrame:
        """The reviewer's clicks not undone yet, the last first (none without a database)."""
        if not self.keeps_places:
            return pd.DataFrame(columns=["batch", "post_id", "task", "label_after", "action"])
        return self.store.undoable(self.reviewer)


def corrections_path(state: AppState) -> tuple[Path, str]:
    """(the corrections database, how it was chosen): typed in the sidebar only on a laptop."""
    typed = () if state.visitor.team else (CORRECTIONS_DB,)
    return chosen_path(state.server, state.visitor, typed, "corrections", []) or (
        DEFAULT_CORRECTIONS,
        "the default workspace",
    )


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
    """task -> the review in force for this post, its label an admin's settled one where there is
    one (`settled_by`): the label training takes."""
    latest = latest_reviews(desk)
    found = widgets.guard(desk.store.settlements, "read the settled labels") if desk.history is not None else None
    if found is not None:
        latest = settled(latest, found)
    return {str(r["task"]): r for _, r in latest[latest["post_id"] == post_id].iterrows()}


def current_post(desk: Desk, task: str, queue: pd.DataFrame, done: pd.Series) -> str | None:
    """The post on show: the one the reviewer is on while it is still theirs, else the queue's first
    not reviewed, not skipped by them and not claimed by another reviewer, which they now claim."""
    skipped = set(skipped_posts(desk, task))
    current = st.session_state.get(CURRENT)
    pending = queue["post_id"][~done.to_numpy() & ~queue["post_id"].isin(skipped).to_numpy()]
    if desk.keeps_places:
        keep = current if current in set(queue["post_id"]) else None
        chosen = widgets.guard(
            lambda: claims.claim_next(desk.store, task, pending.tolist(), desk.reviewer, desk.claim_s, keep=keep),
            "claim the next post",
        )
    elif current in set(queue["post_id"]):
        chosen = current
    else:
        chosen = pending.iloc[0] if len(pending) else None
    if chosen != current or SEEN not in st.session_state:  # a post drawn anew: what the reviewer has seen
        history = desk.history
        st.session_state[SEEN] = int(history["id"].max()) if history is not None and len(history) else 0
    st.session_state[CURRENT] = chosen
    return chosen


def skipped_posts(desk: Desk, task: str) -> list[str]:
    if desk.keeps_places:
        return widgets.guard(lambda: claims.skipped(desk.store, task, desk.reviewer), "read your skipped posts") or []
    return st.session_state.setdefault(SKIPPED, [])


def record(
    desk: Desk, run: TaskRun, members: list[str], row_group: str, answer: str, label: str, force: bool = False
) -> None:
    """One click: the review of the post, members[0] (and of its near-duplicates, the other
    members, when the group is chosen), each with the model's own answer for it where the run
    scored it. Refused, for the reviewer to choose (`force`), when someone else reviewed it after
    the page was drawn."""
    st.session_state.pop(CONFLICT, None)
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
        desk.store.record(reviews, action, seen_up_to=None if force else st.session_state.get(SEEN))
    except ReviewConflict as conflict:
        st.session_state[CONFLICT] = ((desk, run, members, row_group, answer, label), conflict.earlier)
        return
    except CrisisLensError as err:
        st.session_state[MESSAGE] = f":red[Could not record the review: {literal.inline(str(err))}]"
        return
    st.session_state[MESSAGE] = f"Recorded: {what}" + (f" (and {len(members) - 1} near-duplicates)." if group else ".")


def undo(desk: Desk) -> None:
    """Takes back the reviewer's last review still in force (kept in the database: it survives a
    reload or a restart); its post is shown again."""
    last = desk.undoable.iloc[0]
    try:
        undone = desk.store.undo(str(last["batch"]), desk.reviewer)
    except (CrisisLensError, ValueError) as err:
        st.session_state[MESSAGE] = f":red[Could not undo: {literal.inline(str(err))}]"
        return
    if not undone:  # taken back meanwhile (the same reviewer in another tab): nothing changed here
        st.session_state[MESSAGE] = f"Already undone: {describe(last)}."
        return
    st.session_state[CURRENT] = str(last["post_id"])
    st.session_state[MESSAGE] = f"Undone: {describe(last)}."


def describe(review: pd.Series) -> str:
    verb = "accepted as" if review["action"] == "accept" else "corrected to"
    return f"{task_title(str(review['task']))} of post {review['post_id']} {verb} {pretty(str(review['label_after']))}"


def leave(desk: Desk, task: str, post_id: str | None, skip: bool) -> None:
    """Next post, or skip this one: it stays skipped for this reviewer (until they bring their
    skipped posts back), and their claim on it goes."""
    if skip and post_id is not None:
        if desk.keeps_places:
            widgets.guard(lambda: claims.skip(desk.store, task, post_id, desk.reviewer), "skip the post")
        else:
            st.session_state.setdefault(SKIPPED, []).append(post_id)
    st.session_state[CURRENT] = None
    st.session_state.pop(MESSAGE, None)
    st.session_state.pop(CONFLICT, None)


def bring_back_skipped(desk: Desk, task: str) -> None:
    if desk.keeps_places:
        widgets.guard(lambda: claims.unskip(desk.store, task, desk.reviewer), "bring the skipped posts back")
    st.session_state[SKIPPED] = []
