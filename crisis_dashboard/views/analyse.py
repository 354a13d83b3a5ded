"""Analyse a post (/analyse): type or paste a post, add a photo (or not), and see every task's answer
with its explanation. Or score a whole CSV file and download the results."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st
from PIL import Image

from crisis_dashboard import csv_scoring, literal, loaders, routing, widgets
from crisis_dashboard.names import task_title
from crisis_dashboard.state import AppState
from crisis_model.data.images import READABLE_FORMATS
from crisis_model.model.modeling import MAX_TEXT_CHARS
from crisis_model.run_folder import TaskRun

# This page's keys in the session state: its widgets', and what it keeps between runs.
PREFIX = "an-"
TEXT, PHOTO, CSV_FILE = PREFIX + "text", PREFIX + "image", PREFIX + "csv"
POST = PREFIX + "input"  # (text, photo bytes or None, photo file name or None) of the last post analysed
SCORED = PREFIX + "scored"  # (the CSV file's sha256, its scored table)
FORM = "analyse-form"


def show(state: AppState) -> None:
    widgets.require_run(state)
    runs = list(state.runs.runs.values())
    st.markdown(
        "Type or paste a post and, if it has one, upload its photo. Every model of the run "
        f"({', '.join(task_title(r.task) for r in runs)}) gives its answer, how far its model can be trusted, "
        "and what it looked at."
    )
    st.page_link(
        routing.page_file("guide"), label="How to read the answers and explanations", icon=":material/menu_book:"
    )
    single, batch = st.tabs(["One post", "Many posts (CSV file)"])
    with single:
        _post_form()
        if POST in st.session_state:
            _show_analysis(runs, *st.session_state[POST])
    with batch:
        _score_file(state, runs)


def _post_form() -> None:
    """The post's text and photo; Analyse keeps them under POST."""
    with st.form(FORM):
        text = st.text_area(
            "Post text",
            key=TEXT,
            height=110,  # no max_chars: the browser drops a longer paste whole; a long post is cut below, with a notice
            placeholder="e.g. Bridge on route 9 collapsed after the flood, families stranded",
        )
        upload = st.file_uploader(  # any file: one that is no photo is named on the page, never dropped unsaid
            "Photo (optional)",
            key=PHOTO,
            max_upload_size=loaders.MAX_IMAGE_BYTES // 2**20,
            help=f"{READABLE_FORMATS}, up to {loaders.MAX_IMAGE_BYTES // 2**20} MB. "
            "Without a photo the post is analysed from its text only.",
        )
        submitted = st.form_submit_button("Analyse", type="primary")
    if submitted:
        data = upload.getvalue() if upload is not None else None
        st.session_state[POST] = (text or "", data, upload.name if upload is not None else None)


def _readable_post(text: str, image: Image.Image | None, image_error: str | None, name: str | None) -> bool:
    """Says what of the post is analysed (its text alone, or with its photo), or why nothing can be."""
    if not text.strip() and image is None:
        if image_error:
            st.error(
                f"The photo could not be read: {image_error} There is no text either, so there is nothing to analyse."
            )
        else:
            st.error("The post is empty: type or paste its text, or upload a photo.")
        return False
    if image_error:
        st.error(f"The file {literal.inline(name)} could not be read as a photo: {image_error}")
        st.warning("The post was analysed **as text only**.")
    elif image is None:
        st.info("No photo was uploaded: the post was analysed **as text only**.")
    else:
        st.success(f"Analysed the text together with the photo {literal.inline(name)}.")
    return True


def _show_analysis(runs: list[TaskRun], text: str, data: bytes | None, name: str | None) -> None:
    """Every task's answer card, then one tab per task with the post, the probabilities and why."""
    image, image_error = loaders.decode_upload(data)
    if not _readable_post(text, image, image_error, name):
        return
    typed = text
    text = text[:MAX_TEXT_CHARS]  # the models cut longer posts before reading them (a tweet has 280)
    answers = widgets.every_answer(runs, text, data if image is not None else None, "analyse the post")
    if not answers:
        return
    read = _long_post_notice(typed, answers)
    widgets.answer_cards(answers)
    tabs = st.tabs([task_title(answer.run.task) for answer in answers])
    for tab, answer in zip(tabs, answers):
        with tab:
            left, right = st.columns([2, 3])
            with left:
                if image is not None:
                    st.image(image, caption="Your photo", width="stretch")
                _post_as_read(typed, read)
            with right:
                widgets.show_probabilities(answer.prediction, key=PREFIX + answer.run.name)
            if answer.prediction.label is not None:
                st.subheader("Why the model said this")
                if note := widgets.dominance_note(answer.run):
                    st.warning(note)
                widgets.show_explanation(answer.prediction, image, key=PREFIX + answer.run.name)


def _long_post_notice(typed: str, answers: list[widgets.Answer]) -> str | None:
    """Where the post is longer than the models read: how much they read (their tokens, and the
    characters those cover for this post), in a notice; returns the part read (None: all of it)."""
    cut = [(a.run, a.prediction.explanation.read_text) for a in answers if a.prediction.explanation.read_text]
    if not cut:
        return None
    read = min((text for _, text in cut), key=len)  # the models of one run read alike; else the least
    tokens = sorted({int(run.config.get("max_text_tokens", 0)) for run, _ in cut})
    which = ", ".join(task_title(run.task) for run, _ in cut)
    st.warning(
        f"This post is {len(typed):,} characters long. The models ({which}) read at most "
        f"{' or '.join(f'{t:,}' for t in tokens)} tokens (word pieces, their task prompt included): for this post, "
        f"its first {len(read):,} characters. Their answers and explanations are about that part, shown below the "
        "answers with the rest folded away; the whole text stays in the box above."
    )
    return read


def _post_as_read(typed: str, read: str | None) -> None:
    """The post's text, or where the models read only its beginning, that part, with the rest one
    click away."""
    if read is None:
        widgets.post_text(typed)
        return
    st.caption(f"The part the models read ({len(read):,} characters):")
    widgets.post_text(read)
    start = typed.lstrip()
    rest = start[len(read) :] if start.startswith(read) else None
    title = f"The rest, not read ({len(rest):,} characters)" if rest is not None else "The whole post as typed"
    with st.expander(title):
        st.text(rest if rest is not None else typed, width="stretch")


def _score_file(state: AppState, runs: list[TaskRun]) -> None:
    """A CSV file of posts: its first rows, then, on a click, every model's answers to download."""
    st.markdown(
        "Upload a CSV file with a **`text`** column (one post per row) and, optionally, an "
        "**`image_path`** column with photo paths inside the dataset folder "
        f"(`{state.data_root}`). You get back the same rows with each model's answer, "
        f"its confidence and probabilities. Up to {csv_scoring.MAX_BATCH_ROWS:,} posts per file."
    )
    csv_file = st.file_uploader("CSV file", type=["csv"], key=CSV_FILE)
    if csv_file is None:
        return
    raw = csv_file.getvalue()
    frame = widgets.guard(lambda: csv_scoring.read_batch_file(raw, csv_file.name, state.data_root), "read the CSV file")
    if frame is None:
        return
    st.caption(f"{len(frame):,} posts in {literal.inline(csv_file.name)}. First rows:")
    st.dataframe(csv_scoring.as_uploaded(frame.head(5)), hide_index=True, width="stretch")
    digest = hashlib.sha256(raw).hexdigest()
    scored = st.session_state.get(SCORED)
    if scored is not None and scored[0] != digest:
        scored = None
    slot = st.empty()  # the button goes once the file is scored
    if scored is None and slot.button(f"Score {len(frame):,} posts", type="primary"):
        bar = st.progress(0.0, text="Scoring...")
        result = widgets.guard(
            lambda: csv_scoring.score_batch(
                frame,
                {run.name: loaders.load_model_for(run) for run in runs},
                progress=lambda f, t: bar.progress(f, text=t),
            ),
            "score the file",
        )
        bar.empty()
        if result is not None:
            slot.empty()
            scored = (digest, result)
            st.session_state[SCORED] = scored
    if scored is not None:
        _scored_file(scored[1], csv_file.name)


def _scored_file(result: pd.DataFrame, file_name: str) -> None:
    notes = int((result["note"] != "").sum())
    st.success(f"Scored {len(result):,} posts." + (f" {notes:,} have a note (see the `note` column)." if notes else ""))
    st.dataframe(
        csv_scoring.on_screen(result),
        hide_index=True,
        width="stretch",
        height=300,
    )
    st.caption(csv_scoring.RESULT_CAPTION)
    st.download_button(
        "Download the scored CSV",
        csv_scoring.as_csv(result),
        file_name=file_name.rsplit(".", 1)[0] + "_scored.csv",
        mime="text/csv",
        on_click="ignore",
        type="primary",
    )
