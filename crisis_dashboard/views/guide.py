"""How to read CrisisLens (/guide): what the answers, their reliability, the words-versus-photo
weights, the photo views and the routing mean, and what they do not mean, for an analyst who is
not an ML engineer. The thresholds are those the dashboard applies (crisis_dashboard.reliability)."""

from __future__ import annotations

import streamlit as st

from crisis_dashboard.names import CANNOT_JUDGE, TASK_HELP, task_title
from crisis_dashboard.reliability import CLASS_FLOOR, CONFIDENCE, MIN_TEST_POSTS
from crisis_dashboard.state import AppState
from crisis_model.explanation import NEGLIGIBLE_WEIGHT

SECTIONS = {
    "The answers": (
        "Each post gets three answers, one per question, from three separate models:\n\n"
        + "\n".join(f"- **{task_title(task)}**: {question}" for task, question in TASK_HELP.items())
        + "\n\nAn answer is the category the model finds most probable; *“80 % sure”* is the model's own "
        "estimate, not a measured rate. Because the models answer separately, two answers can contradict each "
        "other (*Not informative* yet *Infrastructure and utility damage*): the page then says so; read the "
        "post before relying on either."
    ),
    "Damage is judged from the photo alone": (
        "CrisisMMD's damage labels describe the photo alone, so the damage model reads **only the photo**. The "
        "post's words play no part in its answer: the same photo gets the same damage answer whatever the "
        "caption says (a cheerful caption under collapsed buildings is still judged from the buildings), and "
        f"a post without a photo gets **{CANNOT_JUDGE}**. The words do count for the other two questions."
    ),
    "Reliability": (
        "Beside each answer is its model's reliability, measured on test posts the model never saw while "
        "it learnt. **Reliable** needs all three of:\n\n"
        f"- at least **{MIN_TEST_POSTS} test posts**;\n"
        f"- an accuracy that stays above what always giving the commonest answer would score, even at the low "
        f"end of its **{CONFIDENCE:.0%} confidence interval** (Wilson's: on few posts the interval is wide, so a "
        "high accuracy on 30 posts may not be enough);\n"
        f"- **every category found and named well enough**: its *precision* (of the posts given that answer, the "
        f"share that were right) and its *recall* (of the posts of that category, the share found) at least "
        f"{CLASS_FLOOR:.2f}.\n\n"
        f"**Untested**: fewer than {MIN_TEST_POSTS} test posts, too few to know. **Weak**: one of the other two "
        "fails; the badge's note names which (the category and its scores). Treat its answers as a hint.\n\n"
        "*Reliable* means clearly better than the commonest answer **on posts like those it learnt from**. It "
        "does not mean every answer is right, and on another disaster, language or kind of photo it may do "
        "worse. On the synthetic demo data the scores say nothing about real posts."
    ),
    "Words, photo, or both": (
        "The informative and humanitarian models read the post three ways: the **words** alone, the **photo** "
        "alone, and the two **together** (what each says about the other). Each way gives its own answer, and "
        "the final answer is their mix: the bars *“Where the evidence came from”* give each one's share of it, "
        "in per cent, adding up to 100 %.\n\n"
        "The mix alone does not say what the answer *needs*, because the joint reading uses both. So a post with "
        "words and a photo is also tested: scored again **without its words** and **without its photo**. The "
        "change in the probability of its answer is measured, not inferred, and given in **points** (from 80 % "
        "to 60 % is a fall of 20 points): a large fall means the answer depends on that part.\n\n"
        "A post without a usable photo has one piece of evidence, its words: the answer is the words' own, and "
        "no test is shown. A post without words likewise has only its photo, and the words get no weight. "
        f"A part counted under {NEGLIGIBLE_WEIGHT:.0%} is left out of the charts. When a model ignores the "
        "words or the photo for almost every post, a warning says so: its answers then rest on one of them."
    ),
    "What in the photo mattered, and attention": (
        "The photo is cut into a 7 × 7 grid of squares. *What in the photo mattered* hides each square in "
        "turn and measures by how many points the probability of the answer falls: the redder a square, the "
        "more the answer needs it. When no square moves it by a point, the page says so instead of drawing a "
        "blank map. That does not mean the photo did not matter: where what decides spans several squares "
        "(damage often does), hiding one leaves the others to carry it; the test *without its photo* says how "
        "much the photo as a whole mattered.\n\n"
        "*Attention* (one click away) shows where the reading of the words looked in the photo, square by "
        "square. It describes how the model read the post; it is **not** the reason for the answer. On the "
        "demo models it hardly agrees with the squares that matter when hidden."
    ),
    "How the evidence was combined (routing)": (
        "*How the evidence was combined* shows each part's own answer (words, photo, both together) beside "
        "the final one, so you can see which part pulled the answer where. Behind it, one click away, is the "
        "model's plumbing: its evidence is condensed into small summaries (*capsules*) and each piece of "
        "evidence is sent to the summaries it agrees with (*routing*). Those charts are for checking the "
        "model, not for judging a post."
    ),
    "What none of this tells you": (
        "- Whether a post is true: the models read what is written and shown, not what happened.\n"
        "- Why the model learnt what it learnt: the explanations describe one answer, not the training data.\n"
        "- How the models do on posts unlike their training data: check a sample of answers yourself."
    ),
}


def show(state: AppState) -> None:  # the same for every run: the state is not read
    st.markdown(
        "A short guide to the answers, the reliability beside them and the explanations under them: what "
        "each means, and what it does not."
    )
    for title, body in SECTIONS.items():
        st.subheader(title)
        st.markdown(body)
