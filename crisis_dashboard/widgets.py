"""The pieces the pages share: guarded actions, answer cards and the explanation of one post."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st
from PIL import Image

from crisis_dashboard import agreement, figures, literal, loaders, post_figures
from crisis_dashboard.names import CANNOT_JUDGE, pretty, task_title
from crisis_dashboard.reliability import RELIABILITY_CAPTION, Reliability, badge, reliability_of
from crisis_dashboard.state import AppState
from crisis_model import Explanation, Prediction
from crisis_model.errors import CrisisLensError
from crisis_model.explanation import NEGLIGIBLE_WEIGHT
from crisis_model.run_folder import TaskRun


def require_run(state: AppState) -> TaskRun:
    """The active task run, or stops the page (the error is already on it)."""
    if state.run is None:
        if not state.run_error:
            st.error("This run folder holds no model.")
        st.stop()
    return state.run


def post_text(text: str) -> None:
    """A post's words in a frame of their own, exactly as written: no Markdown, maths or HTML from a
    post, line breaks kept."""
    with st.container(border=True):
        if str(text).strip():
            st.text(text, width="stretch")
        else:
            st.caption("(no text)")


def guard(action: Callable[[], Any], what: str) -> Any:
    """Runs `action`; a CrisisLensError or any other fault becomes a message on the page."""
    try:
        return action()
    except CrisisLensError as err:
        st.error(f"Could not {what}: {literal.inline(str(err))}")
    except Exception as err:  # never a traceback on the page; the details go to the server log
        traceback.print_exc()
        st.error(
            f"Could not {what}: an unexpected problem occurred ({type(err).__name__}: {literal.inline(str(err))})."
        )
    return None


ANSWER_MARK = "The model's answer: the category with the highest probability."


def answer_card(
    title: str, pred: Prediction, reliability: Reliability | None = None, disagrees_with: Sequence[str] = ()
) -> None:
    """A box with the task, its model's reliability, the predicted label in large type (wrapping,
    never cut) and the confidence; or "Cannot judge" and why (the damage model without a photo).
    `disagrees_with` names the tasks whose answers contradict this one (crisis_dashboard.agreement)."""
    with st.container(border=True):
        st.caption(title)
        if reliability is not None:
            st.markdown(badge(reliability), help=RELIABILITY_CAPTION)
        if pred.label is None:
            st.markdown(f"### {CANNOT_JUDGE}", help=ANSWER_MARK)
            st.caption(pred.cannot_judge)
            return
        st.markdown(f"### {pretty(pred.label)}", help=ANSWER_MARK)
        st.caption(f"{pred.confidence:.0%} sure (the model's own estimate)")
        if reliability is not None and not reliability.trusted:
            st.caption(reliability.reason)
        for other in disagrees_with:
            st.markdown(f":orange[⚠ Contradicts the {other} answer: see the note below.]")


@dataclass(frozen=True)
class Answer:
    """One run's answer for a post, with its explanation."""

    run: TaskRun
    prediction: Prediction


def every_answer(runs: Iterable[TaskRun], text: str, image: str | bytes | None, what: str) -> list[Answer]:
    """Each run's answer for the post, the post read once for all (loaders.explain_each); a run that
    cannot answer is named in an error ("Could not {what} ({run name})") and left out."""
    runs = list(runs)
    found = guard(lambda: loaders.explain_each(runs, text, image), what) or {}
    answers = []
    for run in runs:
        if isinstance(prediction := found.get(run.name), CrisisLensError):
            st.error(f"Could not {what} ({run.name}): {literal.inline(str(prediction))}")
        elif prediction is not None:
            answers.append(Answer(run, prediction))
    return answers


def answer_cards(answers: Sequence[Answer], under_card: Callable[[Answer], None] | None = None) -> None:
    """Every task's answer card side by side, each with its model's reliability and a mark where it
    contradicts another task's answer; then a note on each contradiction. `under_card(answer)` draws
    under the answer's card (Review's accept and correct buttons)."""
    labels: dict[str, str | None] = {}
    for answer in answers:
        labels.setdefault(answer.run.task, answer.prediction.label)  # two runs of one task: the first's
    clashes = agreement.contradictions(labels)
    for column, answer in zip(st.columns(len(answers)), answers):
        with column:
            others = agreement.clashing_with(clashes, answer.run.task)
            answer_card(task_title(answer.run.task), answer.prediction, reliability_of(answer.run), others)
            if under_card is not None:
                under_card(answer)
    for clash in clashes:
        st.warning(clash.note, icon="⚠️")


def show_probabilities(pred: Prediction, key: str) -> None:
    if pred.label is None:
        st.info(pred.cannot_judge)
        return
    st.plotly_chart(post_figures.probabilities_bar(pred.probabilities), key=f"{key}-probs", width="stretch")
    st.caption(figures.CAPTIONS["probabilities"])


WHERE_IT_LOOKED = "What in the photo mattered"
HOW_COMBINED = "How the evidence was combined"


def show_explanation(pred: Prediction, image: Image.Image | None, key: str) -> None:
    """The explanation of one prediction: the evidence weights and what removing the words or the
    photo does, then one of two views (what in the photo mattered, with the attention one click
    away; or each part's own answer, with the routing and capsules one click away), each figure
    with its caption. One view at a time: a browser draws six Plotly charts slowly, three quickly."""
    exp = pred.explanation
    for warning in exp.warnings:
        st.warning(warning)
    if pred.label is None:
        return
    if only := only_evidence(exp):
        st.info(only)
    else:
        st.plotly_chart(post_figures.modality_bar(exp.modality_weights), key=f"{key}-weights", width="stretch")
        st.caption(figures.CAPTIONS["modality"])
        st.markdown(votes_line(exp))
        if line := reliance_line(pred):
            st.markdown(line)

    attention = exp.has_image and (exp.region_importance is not None or exp.token_to_region is not None)
    view = HOW_COMBINED
    if attention:  # a text-only post has one view: no toggle with a single option
        choice = st.segmented_control("Show", [WHERE_IT_LOOKED, HOW_COMBINED], default=WHERE_IT_LOOKED,
                                      key=f"{key}-view")  # fmt: skip
        view = choice or WHERE_IT_LOOKED
    if view == WHERE_IT_LOOKED:
        _show_attention(pred, image, key)
    else:
        _show_combination(pred, key)


def only_evidence(exp: Explanation) -> str | None:
    """Where one part is the answer's only evidence, that in a sentence; None when it weighs more."""
    if "text" not in exp.votes:
        return (
            "This model judges **the photo alone**: the post's words play no part in its answer, so the same photo "
            "gets the same answer whatever the caption says."
        )
    if not exp.has_image:
        return (
            "This post has no usable photo: **its words are its only evidence**, and the answer is the words' own "
            "answer."
        )
    if not exp.has_words:
        return "This post has no words: **its photo is its only evidence**, and the answer is the photo's own answer."
    return None


def votes_line(exp: Explanation) -> str:
    """Each evidence group's own answer (how much it counted is in the bars above)."""
    says = {"text": "the words alone say", "image": "the photo alone says", "joint": "read together they say"}
    parts = []
    for group, vote in exp.votes.items():
        label = max(vote, key=vote.get)
        parts.append(f"{says[group]} **{pretty(label)}** ({vote[label]:.0%})")
    return "**Each part's own answer:** " + "; ".join(parts) + "."


def reliance_line(pred: Prediction) -> str | None:
    """What removing the words or the photo did to the answer's probability, measured, in points; only
    for a post with both (without one of them, the other is all the evidence there is)."""
    reliance = pred.explanation.reliance
    if not reliance or pred.label is None or reliance["words"] is None or reliance["photo"] is None:
        return None
    parts = [f"without its **{side}**, {_fall(reliance[side])}" for side in ("words", "photo")]
    return (
        f"**Tested by removing each part:** the {pred.confidence:.0%} it gives its answer, scored again "
        f"{' and '.join(parts)}."
    )


def _fall(value: float) -> str:
    points = round(100 * value)
    if abs(points) < 1:
        return "hardly moves (under 1 point)"
    unit = "point" if abs(points) == 1 else "points"
    return f"falls by {points} {unit}" if points > 0 else f"rises by {-points} {unit}"


def _show_combination(pred: Prediction, key: str) -> None:
    """Each evidence group's own answer and how much it counted, in the analyst's terms; the
    routing and capsule strengths behind it one click away. Groups that barely count (a post
    without a photo: the photo's and the joint vote) are left out."""
    exp = pred.explanation
    hidden = [g for g, weight in exp.modality_weights.items() if weight < NEGLIGIBLE_WEIGHT]
    shown = [g for g in exp.votes if g not in hidden]
    if shown:
        st.plotly_chart(
            post_figures.votes_bar({g: exp.votes[g] for g in shown}, exp.modality_weights, pred.probabilities),
            key=f"{key}-votes",
            width="stretch",
        )
        st.caption(figures.CAPTIONS["votes"])
    with st.expander("Inside the model: routing and capsule strengths (technical)"):
        st.caption(figures.CAPTIONS["capsules_explained"])
        if exp.routing_coefficients is None:
            st.caption("This model variant does not use dynamic routing, so there is no routing matrix to show.")
        else:
            rows = [i for i, g in enumerate(exp.primary_groups) if g not in hidden]
            if rows:
                names = post_figures.evidence_rows([exp.primary_groups[i] for i in rows])
                st.plotly_chart(post_figures.routing_heatmap(exp.routing_coefficients[rows], names),
                                key=f"{key}-routing", width="stretch")  # fmt: skip
                st.caption(figures.CAPTIONS["routing"])
        # the GRU reads each group's fused capsules in turn (the votes' order)
        groups = list(exp.votes)
        per_group = len(exp.capsule_lengths) // max(len(groups), 1)
        kept = [(k, g) for k, g in enumerate(groups) if g not in hidden]
        lengths = [exp.capsule_lengths[k * per_group + j] for k, _ in kept for j in range(per_group)]
        names = [f"{post_figures.GROUP_NAMES[g]}: combined {j + 1}" for _, g in kept for j in range(per_group)]
        st.plotly_chart(post_figures.capsule_lengths_bar(lengths, names), key=f"{key}-capsules", width="stretch")
        st.caption(figures.CAPTIONS["capsule_lengths"])
    if hidden:
        st.caption(
            "Not shown: "
            + " and ".join(f"“{post_figures.GROUP_NAMES[g]}”" for g in hidden)
            + (
                ": the post has no usable photo."
                if not exp.has_image
                else ": the post has no words."
                if not exp.has_words
                else f", weighted under {NEGLIGIBLE_WEIGHT:.0%} for this post, so they barely reach the answer."
            )  # fmt: skip
        )


def _show_attention(pred: Prediction, image: Image.Image | None, key: str) -> None:
    """What in the photo mattered (tested: each square hidden in turn), then, one click away, the
    attention between the post's words and the photo, with what it is and is not."""
    exp = pred.explanation
    if image is not None and exp.region_importance is not None:
        largest = max(0.0, 100 * float(exp.region_importance.max()))  # the largest fall, in points
        if largest < post_figures.FLAT_MAP_POINTS:  # drawn, the map would be blank
            st.markdown(
                f"**What in the photo mattered:** hiding any one of the photo's 49 squares lowers the answer's "
                f"probability by under {post_figures.FLAT_MAP_POINTS:.0f} point (at most {largest:.2f} points): "
                "no single square decides."
                + (" What the photo as a whole does is in the test above." if reliance_line(pred) else "")
            )
        else:
            st.plotly_chart(post_figures.importance_overlay(image, exp.region_importance), key=f"{key}-mattered",
                            width="stretch")  # fmt: skip
            st.caption(figures.CAPTIONS["mattered"])
    words, lift, from_region = exp.word_attention()
    if lift is None:
        return
    with st.expander("How the words and the photo were read together (attention)"):
        st.caption(figures.CAPTIONS["attention_caveat"])
        left, right = st.columns([3, 2])
        with left:
            st.plotly_chart(post_figures.word_region_heatmap(words, lift), key=f"{key}-t2r", width="stretch")
            st.caption(figures.CAPTIONS["token_region"])
        with right:
            choice = st.selectbox(
                "Words to show on the photo",
                [-1, *range(len(words))],
                key=f"{key}-token",
                format_func=lambda i: "All words (average)" if i < 0 else words[i],
            )
            if image is not None:
                grid = post_figures.region_grid(lift, None if choice < 0 else choice)
                st.plotly_chart(post_figures.region_overlay(image, grid), key=f"{key}-overlay", width="stretch")
                st.caption(figures.CAPTIONS["overlay"])
            if from_region is not None:
                st.plotly_chart(post_figures.image_to_words_bar(words, from_region), key=f"{key}-r2t", width="stretch")
                st.caption(figures.CAPTIONS["image_to_words"])


BARELY = 0.02  # a probability that moves by less than 2 points when a modality is removed


def dominance_note(run: TaskRun) -> str | None:
    """`modality_collapse_note` over the run's own posts with a photo; None when it has none or its
    predictions cannot be read (the page that lists them says why)."""
    try:
        frame = loaders.load_predictions(run)
    except CrisisLensError:
        return None
    if run.config.get("fusion") in ("text", "image"):  # reads one part by design: nothing to warn about
        return None
    with_photo = frame[frame["has_image"] & frame["text_weight"].notna()]
    return modality_collapse_note(with_photo) if len(with_photo) else None


def modality_collapse_note(with_photo: pd.DataFrame, share: float = 0.9) -> str | None:
    """A warning when the model decides from one modality alone for most posts with a photo:
    removing the other one barely moves its answers (`reliance_words` / `reliance_photo`, measured
    by scoring the posts again without them), or, for runs without those columns, the gate gives
    the other one almost no weight. A gated fusion can settle there when one modality alone fits
    the training labels, and then the other is ignored whatever it says."""
    measured = {"reliance_words", "reliance_photo"} <= set(with_photo.columns)
    checks = (
        (("the words", with_photo["reliance_words"]), ("the photo", with_photo["reliance_photo"]))
        if measured
        else (("the words", with_photo["text_weight"]), ("the photo", with_photo["image_weight"]))
    )
    for side, values in checks:
        values = values.dropna()
        if values.empty:
            continue
        ignored = values.abs() < BARELY if measured else values <= 0.05
        if ignored.mean() >= share:
            how = ("removing them moves its answer by less than 2 points" if measured
                   else "the model gives them 5 % of the weight or less")  # fmt: skip
            return (
                f"For {ignored.mean():.0%} of the posts with a photo, {side} barely count: {how}. "
                "A model that combines words and photo can settle on one of them when that one alone fits the "
                "training labels. Compare it with its single-modality variants "
                "(`python train.py ... --ablation fusion`) before reading anything into how it uses "
                f"{side}."
            )
    return None
