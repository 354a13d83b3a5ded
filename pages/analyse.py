"""Analyse a post: type or paste a post, add a photo (or not), and see every task's answer with
its explanation. Or score a whole CSV file and download the results."""

import hashlib

import streamlit as st

from crisis_dashboard import agreement, csv_scoring, loaders, widgets
from crisis_dashboard.names import task_title
from crisis_dashboard.reliability import reliability_of
from crisis_dashboard.routing import page_state
from crisis_model.data.images import READABLE_FORMATS
from crisis_model.model.modeling import MAX_TEXT_CHARS

state = page_state()
widgets.require_run(state)
runs = list(state.runs.runs.values())
st.markdown(
    "Type or paste a post and, if it has one, upload its photo. Every model of the run "
    f"({', '.join(task_title(r.task) for r in runs)}) gives its answer, how far its model can be trusted, "
    "and what it looked at."
)
st.page_link("pages/guide.py", label="How to read the answers and explanations", icon=":material/menu_book:")

single, batch = st.tabs(["One post", "Many posts (CSV file)"])

with single:
    with st.form("analyse-form"):
        text = st.text_area(
            "Post text",
            key="an-text",
            height=110,  # no max_chars: the browser drops a longer paste whole; a long post is cut below, with a notice
            placeholder="e.g. Bridge on route 9 collapsed after the flood, families stranded",
        )
        upload = st.file_uploader(
            "Photo (optional)",
            type=widgets.IMAGE_TYPES,
            key="an-image",
            max_upload_size=loaders.MAX_IMAGE_BYTES // 2**20,
            help=f"{READABLE_FORMATS}, up to {loaders.MAX_IMAGE_BYTES // 2**20} MB. "
            "Without a photo the post is analysed from its text only.",
        )
        submitted = st.form_submit_button("Analyse", type="primary")
    if submitted:
        data = upload.getvalue() if upload is not None else None
        st.session_state["an-input"] = (text or "", data, upload.name if upload is not None else None)


def show_analysis(text: str, data: bytes | None, name: str | None) -> None:
    image, image_error = loaders.decode_upload(data)
    if not text.strip() and image is None:
        if image_error:
            st.error(
                f"The photo could not be read: {image_error} There is no text either, so there is nothing to analyse."
            )
        else:
            st.error("The post is empty: type or paste its text, or upload a photo.")
        return
    if image_error:
        st.error(f"The photo could not be read: {image_error}")
        st.warning("The post was analysed **as text only**.")
    elif image is None:
        st.info("No photo was uploaded: the post was analysed **as text only**.")
    else:
        st.success(f"Analysed the text together with the photo {name}.")
    if len(text) > MAX_TEXT_CHARS:
        st.warning(
            f"This post is {len(text):,} characters long; the models read its first {MAX_TEXT_CHARS:,} "
            "(a tweet has at most 280). The whole text stays in the box above."
        )
        text = text[:MAX_TEXT_CHARS]
    image_input = data if image is not None else None
    results = {}
    for run in runs:
        prediction = widgets.guard(
            lambda run=run: loaders.explain(run, text, image_input), f"analyse the post ({run.name})"
        )
        if prediction is not None:
            results[run.name] = (run, prediction)
    if not results:
        return
    answers: dict[str, str | None] = {}
    for run, prediction in results.values():
        answers.setdefault(run.task, prediction.label)
    clashes = agreement.contradictions(answers)
    cols = st.columns(len(results))
    for col, (run, prediction) in zip(cols, results.values()):
        with col:
            others = agreement.clashing_with(clashes, run.task)
            widgets.answer_card(task_title(run.task), prediction, reliability_of(run), disagrees_with=others)
    for clash in clashes:
        st.warning(clash.note, icon="⚠️")
    tabs = st.tabs([task_title(run.task) for run, _ in results.values()])
    for tab, (run_name, (run, prediction)) in zip(tabs, results.items()):
        with tab:
            left, right = st.columns([2, 3])
            with left:
                if image is not None:
                    st.image(image, caption="Your photo", width="stretch")
                st.markdown(f"> {text}" if text.strip() else "_(no text)_")
            with right:
                widgets.show_probabilities(prediction, key=f"an-{run_name}")
            if prediction.label is not None:
                st.subheader("Why the model said this")
                if note := widgets.dominance_note(run):
                    st.warning(note)
                widgets.show_explanation(prediction, image, key=f"an-{run_name}")


with single:
    if "an-input" in st.session_state:
        show_analysis(*st.session_state["an-input"])


with batch:
    st.markdown(
        "Upload a CSV file with a **`text`** column (one post per row) and, optionally, an "
        "**`image_path`** column with photo paths inside the dataset folder "
        f"(`{state.data_root}`). You get back the same rows with each model's answer, "
        f"its confidence and probabilities. Up to {csv_scoring.MAX_BATCH_ROWS:,} posts per file."
    )
    csv_file = st.file_uploader("CSV file", type=["csv"], key="an-csv")
    if csv_file is not None:
        raw = csv_file.getvalue()
        frame = widgets.guard(
            lambda: csv_scoring.read_batch_file(raw, csv_file.name, state.data_root), "read the CSV file"
        )
        if frame is not None:
            st.caption(f"{len(frame):,} posts in {csv_file.name}. First rows:")
            st.dataframe(csv_scoring.as_uploaded(frame.head(5)), hide_index=True, width="stretch")
            digest = hashlib.sha256(raw).hexdigest()
            scored = st.session_state.get("an-scored")
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
                    st.session_state["an-scored"] = scored
            if scored is not None:
                result = scored[1]
                notes = int((result["note"] != "").sum())
                st.success(
                    f"Scored {len(result):,} posts."
                    + (f" {notes:,} have a note (see the `note` column)." if notes else "")
                )
                st.dataframe(
                    result.style.format(precision=csv_scoring.DECIMALS, na_rep=""),
                    hide_index=True,
                    width="stretch",
                    height=300,
                )
                st.caption(csv_scoring.RESULT_CAPTION)
                st.download_button(
                    "Download the scored CSV",
                    csv_scoring.as_csv(result),
                    file_name=csv_file.name.rsplit(".", 1)[0] + "_scored.csv",
                    mime="text/csv",
                    on_click="ignore",
                    type="primary",
                )
