"""The Review page: a queue of the run's posts in the order a strategy picks, one post at a time with
every task's answer and explanation, one click to accept or correct each answer, skip and undo,
the reviewer's progress, and the reviewed set to download.

Reviews go to the corrections database (crisis_model.corrections.store), chosen in the sidebar,
else $CRISISLENS_CORRECTIONS, else workspace/corrections.db beside runs/. A database that cannot be
used (not SQLite, a newer schema) is named in an error and the queue stays readable, read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from crisis_dashboard import duplicate_groups, export, loaders, widgets
from crisis_dashboard.names import pretty, task_title
from crisis_dashboard.post_view import show_post
from crisis_dashboard.review_post import show_answers
from crisis_dashboard.state import REPO_ROOT, AppState, chosen_path, training_data_root
from crisis_model.corrections import STRATEGIES, CorrectionStore, build_queue, group_members
from crisis_model.corrections.export import reviewed_set
from crisis_model.corrections.queue import group_keys, missing_columns
from crisis_model.data.duplicates import words_key
from crisis_model.errors import CrisisLensError

CORRECTIONS_ENV = "CRISISLENS_CORRECTIONS"
DEFAULT_CORRECTIONS = REPO_ROOT / "workspace" / "corrections.db"
RECENT = 8  # reviews listed under the post


@dataclass
class Desk:
    """What one run of the page reviews with: the store (None: read-only) and the reviewer."""

    store: CorrectionStore | None
    reviewer: str


def corrections_path() -> tuple[Path, str]:
    """(the corrections database, how it was chosen)."""
    return chosen_path("corrections_db", CORRECTIONS_ENV) or (DEFAULT_CORRECTIONS, "the default workspace")


def _keep(permanent: str, widget: str) -> None:
    # a widget's own key is dropped when a page without it runs; the permanent one is kept
    st.session_state[permanent] = (st.session_state.get(widget) or "").strip()


def sidebar(path: Path, source: str) -> str:
    """The reviewer's name and the corrections database, in the sidebar; returns the name."""
    with st.sidebar:
        st.markdown("**Review**")
        for permanent, label, help_text in (
            ("reviewer", "Your name (reviewer)", "Kept with every review you record."),
            (
                "corrections_db",
                "Corrections database",
                f"An SQLite file the reviews are added to (created when missing). Empty: ${CORRECTIONS_ENV} "
                f"if set, else {DEFAULT_CORRECTIONS}.",
            ),
        ):
            st.session_state[f"_w_{permanent}"] = st.session_state.get(permanent, "")
            st.text_input(
                label,
                key=f"_w_{permanent}",
                on_change=_keep,
                args=(permanent, f"_w_{permanent}"),
                help=help_text,
                placeholder=str(path) if permanent == "corrections_db" else "e.g. Ana",
            )
        st.caption(f"In use: `{path}` ({source})")
    return st.session_state.get("reviewer", "")


def open_store(path: Path) -> CorrectionStore | None:
    try:
        return CorrectionStore(path)
    except CrisisLensError as err:
        st.error(
            f"Cannot record reviews: {err} The queue below is read-only; choose another corrections "
            "database in the sidebar to record reviews."
        )
        return None


def show(state: AppState) -> None:
    run = widgets.require_run(state)
    path, source = corrections_path()
    desk = Desk(None, sidebar(path, source))
    desk.store = open_store(path)
    frame = widgets.guard(lambda: loaders.load_predictions(run), "read the predictions")
    if frame is None:
        return
    frame = duplicate_groups.with_duplicate_groups(frame, training_data_root(run))  # a group is one row
    c1, c2 = st.columns([3, 1])
    strategy = c1.selectbox(
        "Queue order",
        list(STRATEGIES),
        key="rv-strategy",
        format_func=lambda s: STRATEGIES[s].title,
        help="; ".join(f"{s.title}: {s.help}" for s in STRATEGIES.values()),
    )
    seed = c2.number_input("Seed (random audit)", min_value=0, value=0, step=1, key="rv-seed",
                           disabled=strategy != "random")  # fmt: skip
    st.caption(f"{STRATEGIES[strategy].title}: {STRATEGIES[strategy].help}.")
    if missing := missing_columns(frame, strategy):
        st.warning(f"This run's predictions lack {', '.join(missing)}: it was trained before they were measured. "
                   "Pick another order, or train the run again.")  # fmt: skip
        return
    queue = build_queue(frame, strategy, int(seed))
    reviews = _latest(desk, run.task)
    keys = group_keys(frame)
    done_keys = set(keys[frame["post_id"].isin(reviews["post_id"])])
    done = queue["group_key"].isin(done_keys)
    _progress(int(done.sum()), len(queue), run.task)
    if desk.store is not None and not desk.reviewer:
        st.info("Enter your name under **Review** in the sidebar to record reviews.")
    current = _current_post(queue, done)
    _controls(desk, current)
    if current is not None:
        row = queue[queue["post_id"] == current].iloc[0]
        _show_post(state, desk, frame, row)
    elif len(queue):
        st.success(
            "Every post of this queue is reviewed or skipped. Skipped posts come back when the page is reloaded."
        )
    else:
        st.info("This queue is empty: no post of the run fits this order.")
    _reviewed_set(state, desk)


def _latest(desk: Desk, task: str) -> pd.DataFrame:
    if desk.store is None:
        return pd.DataFrame(columns=["post_id", "task", "label_after", "reviewer"])
    found = widgets.guard(lambda: desk.store.latest(task), "read the corrections database")
    return found if found is not None else pd.DataFrame(columns=["post_id", "task", "label_after", "reviewer"])


def _progress(reviewed: int, total: int, task: str) -> None:
    share = reviewed / total if total else 0.0
    st.progress(share, text=f"**{reviewed:,} reviewed / {total:,} in queue** ({task_title(task)}; a group of "
                            "near-duplicates counts once)")  # fmt: skip


def _current_post(queue: pd.DataFrame, done: pd.Series) -> str | None:
    """The post on show: the one the reviewer is on, else the queue's first not reviewed or skipped."""
    skipped = st.session_state.setdefault("rv-skipped", [])
    current = st.session_state.get("rv-current")
    if current in set(queue["post_id"]):
        return current
    pending = queue[~done.to_numpy() & ~queue["post_id"].isin(skipped).to_numpy()]
    current = pending["post_id"].iloc[0] if len(pending) else None
    st.session_state["rv-current"] = current
    return current


def _controls(desk: Desk, current: str | None) -> None:
    """Next, skip and undo (the reviewer's last click of this session)."""
    undo = st.session_state.setdefault("rv-undo", [])
    c1, c2, c3, c4 = st.columns([1, 1, 1, 3])
    c1.button("Next post →", key="rv-next", on_click=_leave, args=(current, False), disabled=current is None,
              type="primary")  # fmt: skip
    c2.button("Skip", key="rv-skip", on_click=_leave, args=(current, True), disabled=current is None,
              help="Leave this post for later (it comes back when the page is reloaded).")  # fmt: skip
    c3.button("Undo", key="rv-undo-button", on_click=_undo, args=(desk,), disabled=not undo or desk.store is None,
              help="Take back your last accept or correction; the database keeps both as history.")  # fmt: skip
    if message := st.session_state.pop("rv-message", None):
        c4.markdown(message)
    elif undo:
        c4.caption(f"Last: {undo[-1][2]}")


def _leave(post_id: str | None, skip: bool) -> None:
    if skip and post_id is not None:
        st.session_state["rv-skipped"].append(post_id)
    st.session_state["rv-current"] = None
    st.session_state.pop("rv-message", None)


def _undo(desk: Desk) -> None:
    batch, post_id, what = st.session_state["rv-undo"].pop()
    try:
        desk.store.undo(batch, desk.reviewer or "unknown")
    except CrisisLensError as err:
        st.session_state["rv-message"] = f":red[Could not undo: {err}]"
        return
    st.session_state["rv-current"] = post_id
    st.session_state["rv-message"] = f"Undone: {what}."


def _show_post(state: AppState, desk: Desk, frame: pd.DataFrame, row: pd.Series) -> None:
    members = [row["post_id"], *(m for m in group_members(frame, row["post_id"]) if m != row["post_id"])]
    image, right = show_post(row, "This post has no photo.")
    with right:
        st.markdown(f"**Dataset label ({task_title(state.run.task)}):** {pretty(row['true_label']) or '–'}")
        whole_group = False
        if len(members) > 1:
            texts = frame.set_index("post_id").loc[members, "text"].astype(str)
            # posts grouped by their photo alone may say different things: then each is reviewed on its own
            same_words = texts.map(words_key).nunique() == 1
            whole_group = st.checkbox(
                f"Apply my reviews to all {len(members)} near-duplicates of this post",
                value=same_words,
                key=f"rv-group-{row['post_id']}",
                help="The posts of this duplicate group: "
                + " · ".join(f"{post}: “{text[:80]}”" for post, text in texts.head(6).items())
                + ("…" if len(members) > 6 else ""),
            )
            if not same_words:
                st.caption("Their photos match but their words differ: check them before applying a review to all.")
    show_answers(state, desk, row, members if whole_group else [row["post_id"]], image)


def _reviewed_set(state: AppState, desk: Desk) -> None:
    st.divider()
    st.subheader("The reviewed set")
    if desk.store is None:
        st.caption("No corrections database in use.")
        return
    history = widgets.guard(desk.store.history, "read the corrections database")
    if history is None or history.empty:
        st.caption("No review recorded yet in this database.")
        return
    predictions = {}
    for task_run in state.runs.runs.values():
        try:
            predictions[task_run.task] = loaders.load_predictions(task_run)
        except CrisisLensError:
            continue  # the export leaves that task's model columns empty
    table = reviewed_set(history, predictions)
    recent = table.sort_values("reviewed_at", ascending=False).head(RECENT)
    st.table(
        pd.DataFrame(
            {
                "Post": recent["post_id"],
                "Task": recent["task"].map(task_title),
                "Model said": recent["model_label"].map(pretty, na_action="ignore"),
                "Reviewed as": recent["reviewed_label"].map(pretty, na_action="ignore"),
                "Corrected": recent["corrected"].map({True: "corrected", False: "accepted"}),
                "Reviewer": recent["reviewer"],
                "When (UTC)": recent["reviewed_at"].str.slice(0, 19).str.replace("T", " "),
            }
        ).reset_index(drop=True)
    )
    corrected = int(table["corrected"].sum())
    st.caption(f"The latest review of each post and task: {len(table):,} reviewed, {corrected:,} of them corrected "
               f"(the {RECENT} most recent shown). Retrain from them with `python train.py ... --corrections "
               f"{desk.store.path}`.")  # fmt: skip
    c1, c2 = st.columns(2)
    c1.download_button("Download the reviewed set (CSV)", export.to_csv(table), "reviewed.csv", "text/csv",
                       key="rv-csv")  # fmt: skip
    c2.download_button("Download the reviewed set (Parquet)", export.to_parquet(table), "reviewed.parquet",
                       "application/vnd.apache.parquet", key="rv-parquet")  # fmt: skip
