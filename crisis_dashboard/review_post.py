"""One post on the Review page: every task's answer with a one-click accept or correction, the
review already in force, then each answer's explanation (the widgets Analyse and Browse use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st
from PIL import Image

from crisis_dashboard import agreement, loaders, widgets
from crisis_dashboard.names import pretty, task_title
from crisis_dashboard.reliability import reliability_of
from crisis_dashboard.state import AppState
from crisis_model import Prediction
from crisis_model.corrections import GROUP_COLUMN, Review
from crisis_model.errors import CrisisLensError
from crisis_model.run_folder import TaskRun

if TYPE_CHECKING:  # review.py imports this module
    from crisis_dashboard.review import Desk


def show_answers(state: AppState, desk: Desk, row: pd.Series, members: list[str], image: Image.Image | None) -> None:
    """Each task's answer card with its review buttons, then the explanations in tabs. A click
    reviews `members` (the post first, then the near-duplicates chosen with it)."""
    group = str(row.get(GROUP_COLUMN, "") or "")
    in_force = _reviews_of(desk, row["post_id"])
    answers: dict[str, tuple[TaskRun, Prediction]] = {}
    for name, run in state.runs.runs.items():
        prediction = widgets.guard(
            lambda run=run: loaders.explain(run, row["text"], row["image_path"] or None), f"explain ({run.name})"
        )
        if prediction is not None:
            answers[name] = (run, prediction)
    if not answers:
        return
    can_record = desk.store is not None and bool(desk.reviewer)
    clashes = agreement.contradictions({run.task: prediction.label for run, prediction in answers.values()})
    for col, (name, (run, prediction)) in zip(st.columns(len(answers)), answers.items()):
        with col:
            others = agreement.clashing_with(clashes, run.task)
            widgets.answer_card(task_title(run.task), prediction, reliability_of(run), disagrees_with=others)
            if prediction.label is None:
                continue
            if (review := in_force.get(run.task)) is not None:
                verb = "accepted" if review["label_after"] == review["label_before"] else "corrected to"
                st.markdown(f":green[**Reviewed:** {verb} {pretty(review['label_after'])} by {review['reviewer']}]")
            st.button(
                f"✓ Accept {pretty(prediction.label)}",
                key=f"rv-accept-{name}",
                on_click=_record,
                args=(desk, run, members, group, prediction.label, prediction.label),
                disabled=not can_record,
                width="stretch",
            )
            st.caption("Or correct it to:")
            for label in run.label_names:
                if label != prediction.label:
                    st.button(pretty(label), key=f"rv-fix-{name}-{label}", on_click=_record,
                              args=(desk, run, members, group, prediction.label, label), disabled=not can_record,
                              width="stretch")  # fmt: skip
    for clash in clashes:
        st.warning(clash.note, icon="⚠️")
    tabs = st.tabs([f"Why: {task_title(run.task)}" for run, _ in answers.values()])
    for tab, (name, (run, prediction)) in zip(tabs, answers.items()):
        with tab:
            widgets.show_probabilities(prediction, key=f"rv-{name}")
            if prediction.label is not None:
                if note := widgets.dominance_note(run):
                    st.warning(note)
                widgets.show_explanation(prediction, image, key=f"rv-{name}")


def _reviews_of(desk: Desk, post_id: str) -> dict[str, pd.Series]:
    """task -> the review in force for this post."""
    if desk.store is None:
        return {}
    latest = widgets.guard(desk.store.latest, "read the corrections database")
    if latest is None:
        return {}
    return {str(r["task"]): r for _, r in latest[latest["post_id"] == post_id].iterrows()}


def _record(desk: Desk, run: TaskRun, members: list[str], row_group: str, answer: str, label: str) -> None:
    """One click: the review of the post, members[0] (and of its near-duplicates, the other
    members, when the group is chosen), each with the model's own answer for it where the run
    scored it."""
    try:
        scored = loaders.load_predictions(run)
        answers = dict(zip(scored["post_id"], scored["predicted_label"]))
    except CrisisLensError:
        answers = {}
    # a near-duplicate this task's run did not score has no answer the review could be about
    members = [members[0], *(post for post in members[1:] if post in answers)]
    group = str(row_group) if len(members) > 1 else None
    reviews = [
        Review(post, run.task, answer if post == members[0] else answers[post], label,
               str(run.folder.resolve()), desk.reviewer, group)
        for post in members
    ]  # fmt: skip
    action = "accept" if label == answer else "correct"
    verb = "accepted as" if action == "accept" else "corrected to"
    what = f"{task_title(run.task)} of post {members[0]} {verb} {pretty(label)}"
    try:
        batch = desk.store.record(reviews, action)
    except CrisisLensError as err:
        st.session_state["rv-message"] = f":red[Could not record the review: {err}]"
        return
    st.session_state["rv-undo"].append((batch, members[0], what))
    st.session_state["rv-message"] = f"Recorded: {what}" + (
        f" (and {len(members) - 1} near-duplicates)." if group else "."
    )
