"""Review (/review): a queue of the run's posts in the order a strategy picks, one post at a time with
every task's answer and explanation, one click to accept or correct each answer, skip and undo,
the reviewer's progress, and the reviewed set to download; for a team, the post on show is claimed
by its reviewer, a review someone else made meanwhile is shown to choose on, and admins settle
disagreements and read the agreement between reviewers (crisis_dashboard.team_review). The
corrections database, the reviewer and the clicks are the desk's (crisis_dashboard.review_desk)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image

from crisis_dashboard import duplicate_groups, export, links, literal, loaders, review_desk, team_review, widgets
from crisis_dashboard.names import pretty, task_title
from crisis_dashboard.post_view import show_post
from crisis_dashboard.review_desk import CORRECTIONS_DB, CORRECTIONS_ENV, PREFIX, REVIEWER, Desk
from crisis_dashboard.server_config import DEFAULT_CORRECTIONS
from crisis_dashboard.state import AppState, persistent_input, training_data_root
from crisis_model.corrections import GROUP_COLUMN, STRATEGIES, build_queue, group_members
from crisis_model.corrections.export import reviewed_set
from crisis_model.corrections.queue import group_keys, missing_columns
from crisis_model.data.duplicates import words_key
from crisis_model.errors import CrisisLensError

# This page's widgets' keys (its stored values' are the desk's); an answer's buttons and explanation
# are keyed by PREFIX + what + the run's name.
STRATEGY, SEED = PREFIX + "strategy", PREFIX + "seed"
NEXT, SKIP, UNDO_BUTTON = PREFIX + "next", PREFIX + "skip", PREFIX + "undo-button"
UNSKIP, MINE, THEIRS = PREFIX + "unskip", PREFIX + "conflict-mine", PREFIX + "conflict-theirs"
CSV, PARQUET = PREFIX + "csv", PREFIX + "parquet"
RECENT = 8  # reviews listed under the post


def show(state: AppState) -> None:
    run = widgets.require_run(state)
    path, source = review_desk.corrections_path(state)
    desk = Desk(None, sidebar(state, path, source), state.visitor.may("reviewer"), state.server.claim_minutes * 60)
    desk.store = review_desk.open_store(path)
    frame = widgets.guard(lambda: loaders.load_predictions(run), "read the predictions")
    if frame is None:
        return
    frame = duplicate_groups.with_duplicate_groups(frame, training_data_root(run))  # a group is one row
    queue = _queue(frame)
    if queue is None:
        return
    reviews = review_desk.latest_reviews(desk, run.task)
    keys = group_keys(frame)
    done_keys = set(keys[frame["post_id"].isin(reviews["post_id"])])
    done = queue["group_key"].isin(done_keys)
    _progress(int(done.sum()), len(queue), run.task)
    if not desk.may_review:
        st.info("You may read the queue and the reviews; recording them needs the reviewer role on this server.")
    elif desk.can_record and not desk.reviewer:
        st.info("Enter your name under **Review** in the sidebar to record reviews.")
    if review_desk.CURRENT not in st.session_state:  # a new session: the post its link names, when queued
        queued = set(queue["post_id"])
        shown = links.linked_in(links.POST, queued, "this queue", "the queue's next post is shown")
        st.session_state[review_desk.CURRENT] = shown
    current = review_desk.current_post(desk, run.task, queue, done)
    links.show_in_link(links.POST, current)  # the address names the post on show
    _controls(desk, run.task, current)
    _conflict()
    if current is not None:
        row = queue[queue["post_id"] == current].iloc[0]
        _show_post(state, desk, frame, row)
    elif len(queue):
        st.success("Every post of this queue is reviewed, skipped by you, or on show to another reviewer.")
    else:
        st.info("This queue is empty: no post of the run fits this order.")
    _reviewed_set(state, desk)
    if desk.history is not None and desk.store is not None:
        team_review.show(state, desk)


def _queue(frame: pd.DataFrame) -> pd.DataFrame | None:
    """The run's posts in the order picked; None (and why) when the run lacks what that order needs."""
    c1, c2 = st.columns([3, 1])
    strategy = c1.selectbox(
        "Queue order",
        list(STRATEGIES),
        key=STRATEGY,
        format_func=lambda s: STRATEGIES[s].title,
        help="; ".join(f"{s.title}: {s.help}" for s in STRATEGIES.values()),
    )
    seed = c2.number_input("Seed (random audit)", min_value=0, value=0, step=1, key=SEED,
                           disabled=strategy != "random")  # fmt: skip
    st.caption(f"{STRATEGIES[strategy].title}: {STRATEGIES[strategy].help}.")
    if missing := missing_columns(frame, strategy):
        st.warning(f"This run's predictions lack {', '.join(missing)}: it was trained before they were measured. "
                   "Pick another order, or train the run again.")  # fmt: skip
        return None
    return build_queue(frame, strategy, int(seed))


def sidebar(state: AppState, path: Path, source: str) -> str:
    """The reviewer and the corrections database, in the sidebar; returns the reviewer: the
    signed-in identity, else the name typed here."""
    with st.sidebar:
        st.markdown("**Review**")
        if state.visitor.signed_in:
            st.caption(f"Your reviews are recorded as {literal.inline(state.visitor.email)}.")
        else:
            persistent_input(st.text_input, "Your name (reviewer)", REVIEWER,
                             help="Kept with every review you record.", placeholder="e.g. Ana")  # fmt: skip
        if not state.visitor.team:  # a laptop's user may pick any file; a team server's is the operator's
            persistent_input(
                st.text_input,
                "Corrections database",
                CORRECTIONS_DB,
                help=f"An SQLite file the reviews are added to (created when missing). Empty: ${CORRECTIONS_ENV} "
                f"if set, else {DEFAULT_CORRECTIONS}.",
                placeholder=str(path),
            )
        if state.visitor.may("admin"):
            st.caption(f"In use: `{path}` ({source})")
    return state.visitor.email if state.visitor.signed_in else st.session_state.get(REVIEWER, "")


def _progress(reviewed: int, total: int, task: str) -> None:
    share = reviewed / total if total else 0.0
    st.progress(share, text=f"**{reviewed:,} reviewed / {total:,} in queue** ({task_title(task)}; a group of "
                            "near-duplicates counts once)")  # fmt: skip


def _controls(desk: Desk, task: str, current: str | None) -> None:
    """Next, skip, undo (the reviewer's last click, kept in the database) and the skipped posts back."""
    undoable = desk.undoable
    skipped = review_desk.skipped_posts(desk, task)
    c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1, 3])
    c1.button("Next post →", key=NEXT, on_click=review_desk.leave, args=(desk, task, current, False),
              disabled=current is None, type="primary")  # fmt: skip
    c2.button("Skip", key=SKIP, on_click=review_desk.leave, args=(desk, task, current, True),
              disabled=current is None,
              help="Leave this post for later: it stays out of your queue until you bring it back.")  # fmt: skip
    c3.button("Undo", key=UNDO_BUTTON, on_click=review_desk.undo, args=(desk,),
              disabled=undoable.empty or not desk.can_record,
              help="Take back your last accept or correction; the database keeps both as history.")  # fmt: skip
    c4.button(f"Unskip ({len(skipped)})", key=UNSKIP, on_click=review_desk.bring_back_skipped,
              args=(desk, task), disabled=not skipped,
              help="Bring the posts you skipped back into your queue.")  # fmt: skip
    if message := st.session_state.pop(review_desk.MESSAGE, None):
        c5.markdown(message)
    elif not undoable.empty:
        c5.caption(f"Your last review: {review_desk.describe(undoable.iloc[0])}")


def _conflict() -> None:
    """A click refused because another reviewer reviewed the post after this page was drawn: what
    they said, and the choice (both reviews stay in the history either way)."""
    if (pending := st.session_state.get(review_desk.CONFLICT)) is None:
        return
    args, earlier = pending
    said = "; ".join(f"{literal.inline(o.reviewer)} labelled this *{pretty(o.label)}* at {o.created_at[11:16]} UTC"
                     for o in earlier)  # fmt: skip
    with st.container(border=True):
        st.warning(f"{said}, after this post was shown to you. Your review was not recorded yet.")
        c1, c2 = st.columns(2)
        c1.button(f"Record mine ({pretty(args[5])}) as well", key=MINE, on_click=review_desk.record,
                  args=(*args, True),
                  help="Both reviews stay in the history; an admin settles the disagreement.")  # fmt: skip
        c2.button("Keep theirs", key=THEIRS, on_click=st.session_state.pop, args=(review_desk.CONFLICT, None))


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
                key=f"{PREFIX}group-{row['post_id']}",
                help="The posts of this duplicate group: "
                + " · ".join(f"{post}: “{text[:80]}”" for post, text in texts.head(6).items())
                + ("…" if len(members) > 6 else ""),
            )
            if not same_words:
                st.caption("Their photos match but their words differ: check them before applying a review to all.")
    _answers(state, desk, row, members if whole_group else [row["post_id"]], image)


def _answers(state: AppState, desk: Desk, row: pd.Series, members: list[str], image: Image.Image | None) -> None:
    """Each task's answer card with its review buttons, then the explanations in tabs. A click
    reviews `members` (the post first, then the near-duplicates chosen with it)."""
    group = str(row.get(GROUP_COLUMN, "") or "")
    in_force = review_desk.reviews_of(desk, row["post_id"])
    answers = widgets.every_answer(state.runs.runs.values(), row["text"], row["image_path"] or None, "explain")
    if not answers:
        return
    can_record = desk.can_record and bool(desk.reviewer)

    def review_buttons(answer: widgets.Answer) -> None:
        run, prediction, name = answer.run, answer.prediction, answer.run.name
        if prediction.label is None:
            return
        if (review := in_force.get(run.task)) is not None:
            verb = "accepted" if review["label_after"] == review["label_before"] else "corrected to"
            who = literal.inline(str(review["reviewer"]))  # typed without sign-in: shown as written, never a link
            if isinstance(admin := review.get("settled_by"), str):  # reviewers disagreed: the admin's label counts
                verb, who = "settled as", f"{literal.inline(admin)} (reviewers disagreed)"
            st.markdown(f":green[**Reviewed:** {verb} {pretty(review['label_after'])} by {who}]")
        st.button(
            f"✓ Accept {pretty(prediction.label)}",
            key=f"{PREFIX}accept-{name}",
            on_click=review_desk.record,
            args=(desk, run, members, group, prediction.label, prediction.label),
            disabled=not can_record,
            width="stretch",
        )
        st.caption("Or correct it to:")
        for label in run.label_names:
            if label != prediction.label:
                st.button(pretty(label), key=f"{PREFIX}fix-{name}-{label}", on_click=review_desk.record,
                          args=(desk, run, members, group, prediction.label, label), disabled=not can_record,
                          width="stretch")  # fmt: skip

    widgets.answer_cards(answers, under_card=review_buttons)
    tabs = st.tabs([f"Why: {task_title(answer.run.task)}" for answer in answers])
    for tab, answer in zip(tabs, answers):
        with tab:
            widgets.show_probabilities(answer.prediction, key=PREFIX + answer.run.name)
            if answer.prediction.label is not None:
                if note := widgets.dominance_note(answer.run):
                    st.warning(note)
                widgets.show_explanation(answer.prediction, image, key=PREFIX + answer.run.name)


def _reviewed_set(state: AppState, desk: Desk) -> None:
    st.divider()
    st.subheader("The reviewed set")
    if desk.store is None:
        st.caption("No corrections database in use.")
        return
    history = desk.history
    if history is None or history.empty:
        st.caption("No review recorded yet in this database.")
        return
    predictions = {}
    for task_run in state.runs.runs.values():
        try:
            predictions[task_run.task] = loaders.load_predictions(task_run)
        except CrisisLensError:
            continue  # the export leaves that task's model columns empty
    settlements = widgets.guard(desk.store.settlements, "read the settled labels")
    table = reviewed_set(history, predictions, settlements)  # the labels training takes, settled ones included
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
               f"(the {RECENT} most recent shown).")  # fmt: skip
    c1, c2 = st.columns(2)
    c1.download_button("Download the reviewed set (CSV)", export.to_csv(table), "reviewed.csv", "text/csv",
                       key=CSV)  # fmt: skip
    c2.download_button("Download the reviewed set (Parquet)", export.to_parquet(table), "reviewed.parquet",
                       "application/vnd.apache.parquet", key=PARQUET)  # fmt: skip
