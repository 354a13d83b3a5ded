"""The pieces the pages share: guarded actions, answer cards and the explanation of one post."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st
from PIL import Image

from crisis_dashboard import figures, post_figures
from crisis_dashboard.names import pretty
from crisis_dashboard.state import AppState
from crisis_model import Explanation, Prediction
from crisis_model.errors import CrisisLensError
from crisis_model.run_folder import TaskRun

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"]


def require_run(state: AppState) -> TaskRun:
    """The active task run, or stops the page (the error is already on it)."""
    if state.run is None:
        if not state.run_error:
            st.error("This run folder holds no model.")
        st.stop()
    return state.run


def guard(action: Callable[[], Any], what: str) -> Any:
    """Runs `action`; a CrisisLensError or any other fault becomes a message on the page."""
    try:
        return action()
    except CrisisLensError as err:
        st.error(f"Could not {what}: {err}")
    except Exception as err:  # never a traceback on the page; the details go to the server log
        traceback.print_exc()
        st.error(f"Could not {what}: an unexpected problem occurred ({type(err).__name__}: {err}).")
    return None


ANSWER_MARK = "The model's answer: the category with the highest probability."


def answer_card(title: str, pred: Prediction) -> None:
    """A box with the task, the predicted label in large type (wrapping, never cut) and the confidence."""
    with st.container(border=True):
        st.caption(title)
        st.markdown(f"### {pretty(pred.label)}", help=ANSWER_MARK)
        st.caption(f"{pred.confidence:.0%} sure")


def show_probabilities(pred: Prediction, key: str) -> None:
    st.plotly_chart(post_figures.probabilities_bar(pred.probabilities), key=f"{key}-probs", width="stretch")
    st.caption(figures.CAPTIONS["probabilities"])


WHERE_IT_LOOKED = "Where it looked"
HOW_COMBINED = "How the evidence was combined"


def show_explanation(pred: Prediction, image: Image.Image | None, key: str) -> None:
    """The explanation of one prediction: the words/photo split, then one of two views (attention
    between words and photo, or routing and capsules), each figure with its caption. One view at a
    time: a browser draws six Plotly charts slowly, three quickly."""
    exp = pred.explanation
    for warning in exp.warnings:
        st.warning(warning)
    if not exp.has_image:
        st.info(
            "This post was analysed **from its text only** (no usable photo), so all of the decision "
            "comes from the words and the word–photo attention does not apply."
        )
    words, photo = exp.modality_weights["text"], exp.modality_weights["image"]
    st.progress(
        min(max(words, 0.0), 1.0),
        text=f"**Words vs. photo:** {words:.0%} of the decision from the words, {photo:.0%} from the photo",
    )
    st.caption(figures.CAPTIONS["modality"])

    attention = exp.has_image and exp.token_to_region is not None
    views = [WHERE_IT_LOOKED, HOW_COMBINED] if attention else [HOW_COMBINED]
    view = st.segmented_control("Show", views, default=views[0], key=f"{key}-view") or views[0]
    if view == WHERE_IT_LOOKED:
        _show_attention(exp, image, key)
        return
    if exp.routing_coefficients is not None:
        st.plotly_chart(
            post_figures.routing_heatmap(exp.routing_coefficients, exp.primary_capsules),
            key=f"{key}-routing",
            width="stretch",
        )
        st.caption(figures.CAPTIONS["routing"])
    else:
        st.caption("This model variant does not use dynamic routing, so there is no routing matrix to show.")
    st.plotly_chart(post_figures.capsule_lengths_bar(exp.capsule_lengths), key=f"{key}-capsules", width="stretch")
    st.caption(figures.CAPTIONS["capsule_lengths"])


def _show_attention(exp: Explanation, image: Image.Image | None, key: str) -> None:
    """Token->region heatmap, the photo with the chosen words' attention on it, image->words; of
    the post's own words (the prompt around them is read by the model but left out here)."""
    tokens, token_to_region, region_to_token = exp.post_words()
    labels = post_figures.token_labels(tokens)
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(post_figures.token_region_heatmap(tokens, token_to_region), key=f"{key}-t2r", width="stretch")
        st.caption(figures.CAPTIONS["token_region"])
        if len(tokens) < len(exp.tokens):
            st.caption(
                f"The post's own words only: the model also read its task prompt around them "
                f"({len(exp.tokens) - len(tokens)} word pieces), which is left out here."
            )
    with right:
        options = [-1] + list(range(len(labels)))
        choice = st.selectbox(
            "Words to show on the photo",
            options,
            key=f"{key}-token",
            format_func=lambda i: "All words (average)" if i < 0 else f"#{i + 1}: {labels[i]}",
        )
        if image is not None:
            grid = post_figures.region_weights(token_to_region, None if choice < 0 else choice)
            st.plotly_chart(post_figures.region_overlay(image, grid), key=f"{key}-overlay", width="stretch")
            st.caption(figures.CAPTIONS["overlay"])
        if region_to_token is not None:
            st.plotly_chart(post_figures.image_to_words_bar(tokens, region_to_token), key=f"{key}-r2t", width="stretch")
            st.caption(figures.CAPTIONS["image_to_words"])


ONE_SIDED = 0.05  # a decision taken 95 % or more from one modality


def modality_collapse_note(with_photo: pd.DataFrame, share: float = 0.9) -> str | None:
    """A warning when the model decides from one modality alone for most posts with a photo
    (`text_weight` column): gated fusion can settle there when that modality alone fits the
    training labels, and then the other is ignored whatever it says."""
    weights = with_photo["text_weight"].dropna()
    if weights.empty:
        return None
    for side, one_sided in (("the photo", weights <= ONE_SIDED), ("the words", weights >= 1 - ONE_SIDED)):
        if one_sided.mean() >= share:
            other = "words" if side == "the photo" else "photo"
            return (
                f"For {one_sided.mean():.0%} of the posts with a photo, this model took "
                f"{1 - ONE_SIDED:.0%} or more of its decision from {side}: their {other} barely count. "
                "Gated fusion can settle on one modality when it alone fits the training labels "
                '("modality collapse"). Compare the model with its single-modality variants '
                "(`python train.py ... --ablation fusion`) before reading anything into how it uses "
                f"the {other}."
            )
    return None
