"""Attention & routing (/attention) across the dataset: how much the model leans on words vs. photo
per class and per event, the mean routing matrix per predicted class, confidence vs. reliance on the
words, and one post under two runs side by side."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image

from crisis_dashboard import browse, figures, loaders, post_figures, widgets
from crisis_dashboard.names import task_title
from crisis_dashboard.reliability import reliability_badge, reliability_of
from crisis_dashboard.state import REPO_ROOT, AppState
from crisis_model.run_folder import TaskRun, discover_run, find_runs, runs_of_task

# This page's keys: the session state's by name (its widgets); a chart's is PREFIX + its name, or, in
# the comparison of two runs, COMPARE + the run's label + the chart's name.
PREFIX = "at-"
GROUP = PREFIX + "group"
OTHER_CHOICE, OTHER_TYPED = PREFIX + "other-choice", PREFIX + "other-typed"
QUERY, POST = PREFIX + "query", PREFIX + "post"
COMPARE = "cmp-"
TYPE_A_FOLDER = "(type a folder below)"


def show(state: AppState) -> None:
    run = widgets.require_run(state)
    frame = widgets.guard(lambda: loaders.load_predictions(run), "read the predictions")
    if frame is None:
        return
    st.markdown(
        f"How the **{task_title(run.task)}** model combines words and photos across all "
        f"{len(frame):,} posts of its dataset."
    )
    reliability_badge(run)
    _words_or_photo(frame)
    st.header("Confidence and the words' weight")
    st.plotly_chart(figures.confidence_vs_text_weight(frame), key=PREFIX + "scatter")
    st.caption(figures.CAPTIONS["confidence_vs_text"])
    _routing_by_class(run)
    st.header("One post under two runs")
    other = _second_run(state, run)
    if other is not None:
        _one_post_under_two_runs(frame, run, other)


def _words_or_photo(frame: pd.DataFrame) -> None:
    st.header("Words, photo or both?")
    with_photo = frame[frame["has_image"] & frame["text_weight"].notna()]
    if with_photo.empty:
        st.info("No post of this dataset has a usable photo, so every decision comes from the words alone.")
        return
    st.caption(
        f"{len(with_photo):,} posts with a photo. Posts without one are left out: their decision "
        "always comes 100 % from the words."
    )
    if note := widgets.modality_collapse_note(with_photo):
        st.warning(note)
    group = st.radio(
        "Group the posts by",
        ["predicted_label", "true_label"],
        horizontal=True,
        key=GROUP,
        format_func=lambda c: {"predicted_label": "what the model said", "true_label": "true label"}[c],
    )
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            figures.modality_by_group(with_photo, group, "Weight of each vote, per class"), key=PREFIX + "by-class"
        )
        st.caption(figures.CAPTIONS["modality_by_group"])
    with right:
        st.plotly_chart(
            figures.modality_by_group(with_photo, "event", "Weight of each vote, per event"), key=PREFIX + "by-event"
        )
        st.caption(figures.CAPTIONS["modality_by_group"])
    if {"reliance_words", "reliance_photo"} <= set(with_photo.columns):
        st.plotly_chart(
            figures.reliance_by_group(with_photo, group, "What the answers need: tested by removing each part"),
            key=PREFIX + "reliance",
        )
        st.caption(figures.CAPTIONS["reliance_by_group"])


def _routing_by_class(run: TaskRun) -> None:
    st.header("Where the evidence went, per category (routing)")
    if run.config.get("fusion", "full") != "full":
        st.info("This model variant does not use dynamic routing, so there is no routing matrix to show.")
        return
    with st.spinner("Working out the routing of sample posts (once per run)..."):
        profile = widgets.guard(lambda: loaders.routing_profile(run), "compute the routing matrices")
    if not profile or not profile["matrices"]:
        return
    st.plotly_chart(
        figures.routing_by_class(
            profile["matrices"], profile["counts"], post_figures.evidence_rows(profile["primary"])
        ),
        key=PREFIX + "routing",
    )
    st.caption(
        figures.CAPTIONS["routing_by_class"]
        + f" Based on a sample of up to {loaders.ROUTING_SAMPLE} posts per class ({profile['posts']:,} posts)."
    )


def _second_run(state: AppState, run: TaskRun) -> TaskRun | None:
    """The run of the same task to compare with, picked or typed; None (and why) when there is none."""
    others = runs_of_task(find_runs(state.run_root) + find_runs(REPO_ROOT / "runs"), run.task, run.folder)
    choice = st.selectbox(
        "Second run",
        [TYPE_A_FOLDER] + [str(p) for p in others],
        key=OTHER_CHOICE,
        help="Any other run folder written by train.py, e.g. a fusion variant of the same task.",
    )
    typed = st.text_input("Or the folder of another run", key=OTHER_TYPED, placeholder="/path/to/run")
    other_path = (
        Path(typed.strip()).expanduser() if typed.strip() else (Path(choice) if choice != TYPE_A_FOLDER else None)
    )
    if other_path is None:
        st.info(
            "Only one run to look at. To compare, train another one (for example a different fusion variant "
            "with train.py) and pick or type its folder here."
        )
        return None
    other_set = widgets.guard(lambda: discover_run(other_path), "open the second run")
    if other_set is None:
        return None
    same_task = [r for r in other_set.runs.values() if r.task == run.task]
    if not same_task:
        st.error(
            f"{other_path} holds no {task_title(run.task)} model (it has: "
            f"{', '.join(task_title(r.task) for r in other_set.runs.values())})."
        )
        return None
    return same_task[0]


def _one_post_under_two_runs(frame: pd.DataFrame, run: TaskRun, other: TaskRun) -> None:
    query = st.text_input("Find a post (words or post id)", key=QUERY)
    matches = browse.apply_filters(frame, browse.Filters(query=query))
    matches = matches.sort_values(["has_image", "post_id"], ascending=[False, True]).head(200)
    if matches.empty:
        st.warning("No post matches.")
        return
    texts = dict(zip(matches["post_id"], matches["text"].str.slice(0, 80)))
    post_id = st.selectbox("Post", list(texts), key=POST, format_func=lambda p: f"{p} · {texts[p]}")
    row = frame[frame["post_id"] == post_id].iloc[0]
    image, image_error = loaders.open_image(row["image_path"])
    widgets.post_text(row["text"])
    if image_error:
        st.warning(f"The photo cannot be shown: {image_error}")
    for column, (label, this_run) in zip(st.columns(2), (("This run", run), ("Second run", other))):
        with column:
            _post_under(label, this_run, row, image)


def _post_under(label: str, run: TaskRun, row: pd.Series, image: Image.Image | None) -> None:
    """The post's answer by `run`: the card, the evidence weights, the attention on the photo, the routing."""
    st.markdown(f"**{label}:** `{run.folder}` · fusion *{run.config.get('fusion', '?')}*")
    prediction = widgets.guard(lambda: loaders.explain(run, row["text"], row["image_path"] or None), "explain the post")
    if prediction is None:
        return
    widgets.answer_card("Answer", prediction, reliability_of(run))
    key = f"{COMPARE}{label}"
    st.plotly_chart(post_figures.modality_bar(prediction.explanation.modality_weights), key=f"{key}-modality")
    st.caption(figures.CAPTIONS["modality"])
    if line := widgets.reliance_line(prediction):
        st.markdown(line)
    exp = prediction.explanation
    _, lift, _ = exp.word_attention()  # the post's own words, not the task prompt's
    if image is not None and lift is not None:
        grid = post_figures.region_grid(lift)
        st.plotly_chart(post_figures.region_overlay(image, grid), key=f"{key}-overlay")
        st.caption(figures.CAPTIONS["overlay"])
    if exp.routing_coefficients is not None:
        st.plotly_chart(
            post_figures.routing_heatmap(exp.routing_coefficients, post_figures.evidence_rows(exp.primary_groups)),
            key=f"{key}-routing",
        )
        st.caption(figures.CAPTIONS["routing"])
