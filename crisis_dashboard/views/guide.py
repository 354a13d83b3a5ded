"""How to read CrisisLens (/guide): what the answers, their reliability, the words-versus-photo
weights, the photo views and the routing mean, and what they do not mean, for an analyst who is
not an ML engineer. The thresholds are those the dashboard applies (crisis_dashboard.reliability)."""

from __future__ import annotations

import streamlit as st

from crisis_dashboard.names import CANNOT_JUDGE, TASK_HELP, task_title
from crisis_dashboard.reliability import MIN_TEST_POSTS, WEAK_MARGIN
from crisis_dashboard.state import AppState
from crisis_model.explanation import NEGLIGIBLE_WEIGHT

SECTIONS = {
    "The answers": (
        "Each post gets three answers, one per question, from three separate models:\n\n"
        + "\n".join(f"- **{task_title(task)}**: {question}" for task, question in TASK_HELP.items())
        + "\n\nAn answer is the category the model finds most probable; *“80 % sure”* is the model's own "
        "estimate, not a measured rate. The damage model judges the photo only: for a post without one it "
        f"says **{CANNOT_JUDGE}**. Because the models answer separately, two answers can contradict each "
        "other (*Not informative* yet *Infrastructure and utility damage*): the page then says so; read the "
        "post before relying on either."
    ),
    "Reliability": (
        "Beside each answer is its model's reliability, measured on test posts the model never saw while "
        "it learnt:\n\n"
        f"- **Untested**: fewer than {MIN_TEST_POSTS} test posts, too few to know how often it is right.\n"
        f"- **Weak**: its *macro F1* (how well it finds every category, each counted equally, from 0 to 1) is "
        f"less than {WEAK_MARGIN:.2f} above what guessing gets (1 ÷ the number of categories: 0.50 for two, "
        "0.33 for three). Treat its answers as a hint.\n"
        "- **Reliable**: otherwise.\n\n"
        "*Reliable* means clearly better than guessing **on posts like those it learnt from**. It does not "
        "mean every answer is right, and on another disaster, language or kind of photo it may do worse. "
        "On the synthetic demo data the scores say nothing about real posts."
    ),
    "Words, photo, or both": (
        "Each model reads the post three ways: the **words** alone, the **photo** alone, and the two "
        "**together** (what each says about the other). Each way gives its own answer, and the final answer "
        "is their mix: the bars *“Where the evidence came from”* say how much each counted.\n\n"
        "The mix alone does not say what the answer *needs*, because the joint reading uses both. So every "
        "post is also tested: scored again **without its words** and **without its photo**. The fall of the "
        "answer's probability is measured, not inferred: a large fall means the answer depends on that part. "
        f"A part counted under {NEGLIGIBLE_WEIGHT:.0%} is left out of the charts. When a model ignores the "
        "words or the photo for almost every post, a warning says so: its answers then rest on one of them."
    ),
    "What in the photo mattered, and attention": (
        "The photo is cut into a 7 × 7 grid of squares. *What in the photo mattered* hides each square in "
        "turn and measures how much the answer's confidence falls: the redder a square, the more the answer "
        "needs it. A pale map does not mean the photo did not matter: where what decides spans several squares "
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
