"""Overview (/): the dataset at a glance, the model card of each task's model, how well the shown model
does (scores, confusion matrix, per-category table, training history), what reviewers' corrections
changed when it was trained from them, and its fusion variants."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from crisis_dashboard import figures, loaders, model_cards, retraining, routing, widgets
from crisis_dashboard.names import task_title
from crisis_dashboard.reliability import RELIABILITY_CAPTION, reliability_badge
from crisis_dashboard.state import AppState
from crisis_model.data import dataset_summary
from crisis_model.run_folder import COMMAND_FILE, METRICS_FILE, TaskRun

# This page's keys: the session state's by name (the split a widget picks); a chart's is PREFIX + its name.
PREFIX = "ov-"
SPLIT = PREFIX + "split"


def show(state: AppState) -> None:
    st.markdown(
        "CrisisLens reads a crisis post, its **words and its photo**, and answers three questions: "
        "is the post **informative** for humanitarian response, which **humanitarian category** it reports, "
        "and how **severe the damage** in the photo is. This page shows the data and the model in use; the "
        "other pages let you browse its answers, analyse a post of your own, and see what it paid attention to."
    )
    st.page_link(routing.page_file("guide"), label="New here? How to read CrisisLens", icon=":material/menu_book:")
    dataset_section(state)
    if state.runs is not None:
        model_section(state)
        quality_section(state)
    if state.run is not None:
        details_section(state.run)
        retraining.show(state.run)
        ablation_section(state, state.run)


def dataset_section(state: AppState) -> None:
    st.header("The dataset")
    if state.data_error:
        st.error(f"Cannot read the dataset. {state.data_error}")
        return
    frames, errors, missing = model_cards.dataset_overview(state.data_root)
    for task, message in errors.items():
        st.warning(f"{task_title(task)}: {message}")
    if not frames:
        return
    posts = pd.concat(frames.values()).drop_duplicates("post_id")
    summary = dataset_summary(posts)
    cols = st.columns(4)
    cols[0].metric("Posts (tweet + photo pairs)", f"{summary['posts']:,}")
    cols[1].metric("Crisis events", f"{len(summary['events']):,}")
    cols[2].metric("With a usable photo", f"{summary['with_image']:,}")
    cols[3].metric("Text only", f"{summary['without_image']:,}")
    if missing:
        st.caption(
            f"{missing:,} posts name a photo file that is not in the folder; they are analysed from their text only."
        )
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(figures.posts_per_event(posts), key=PREFIX + "events")
        st.caption(figures.CAPTIONS["posts_per_event"])
    with right:
        st.plotly_chart(figures.image_presence(summary["with_image"], summary["without_image"]), key=PREFIX + "images")
        st.caption(figures.CAPTIONS["images"])
    st.subheader("Labels per task")
    st.caption(unlabelled_note(summary["posts"], {task: len(frame) for task, frame in frames.items()}))
    for col, (task, frame) in zip(st.columns(len(frames)), frames.items()):
        with col:
            counts = dataset_summary(frame)["labels"]
            st.plotly_chart(figures.label_distribution(counts, task_title(task)), key=f"{PREFIX}labels-{task}")
            st.caption(figures.CAPTIONS["labels"])
    with st.expander("Posts per split and task"):
        table = pd.DataFrame({task_title(t): f["split"].value_counts() for t, f in frames.items()})
        st.dataframe(table.fillna(0).astype(int))


def unlabelled_note(posts: int, labelled: dict[str, int]) -> str:
    """Why a task's labels add up to fewer than the dataset's posts: how many posts each task leaves out."""
    parts = [
        f"all {posts:,} have a {task_title(task)} label"
        if n == posts
        else f"{posts - n:,} {'has' if posts - n == 1 else 'have'} no {task_title(task)} label ({n:,} have one)"
        for task, n in labelled.items()
    ]
    return (
        f"Each task counts only the posts with its agreed label, so its labels can add up to fewer than the "
        f"{posts:,} posts: {'; '.join(parts)}. A post has none when its words and its photo were annotated "
        "differently, or when it was not annotated for that task; that task's model is neither trained nor "
        "tested on it."
    )


def model_section(state: AppState) -> None:
    st.header("The model")
    runs = list(state.runs.runs.values())
    for start in range(0, len(runs), 3):
        for col, card_run in zip(st.columns(3), runs[start : start + 3]):
            card = model_cards.model_card(card_run)
            with col.container(border=True):
                shown = "  ·  *shown on these pages*" if card_run is state.run else ""
                st.markdown(f"**{card.pop('Task')}**{shown}")
                reliability_badge(card_run)
                st.markdown("\n".join(f"- **{k}:** {v}" for k, v in card.items()))
    st.caption(
        "One model per task. The fusion is how the words and the photo are combined; parameters count "
        "every weight, the fusion head is the part trained on top of the two readers."
    )


def quality_section(state: AppState) -> None:
    st.header("How well each model does")
    st.dataframe(
        model_cards.quality_table(list(state.runs.runs.values())).style.format(precision=2, na_rep="–"),
        width="stretch",
        column_config={
            "Test posts": st.column_config.NumberColumn(help="Posts held out from training, on which it was scored"),
            model_cards.ACCURACY_COLUMN: st.column_config.TextColumn(
                help="The share of test posts it answered right, and the range it could well be in on this many posts"
            ),
            "Macro F1": st.column_config.NumberColumn(
                help="How well it finds every category, each counted equally (0 to 1)"
            ),
            "Commonest answer": st.column_config.NumberColumn(
                help="The accuracy of always giving the commonest category: a reliable model's interval is above it"
            ),
            "ROC AUC": st.column_config.NumberColumn(
                help="How well its probabilities rank the posts: 0.5 is guessing, 1 perfect; – when undefined"
            ),
            "Calibration error": st.column_config.NumberColumn(
                help="How far its confidence is from how often it is right (lower is better)"
            ),
        },
    )
    st.caption(RELIABILITY_CAPTION)


def details_section(run: TaskRun) -> None:
    st.subheader(f"Details: {task_title(run.task)}")
    st.caption("For the task picked under **Task** in the sidebar; pick another there to see its details.")
    command = run.file(COMMAND_FILE)
    if command.is_file():
        lines = command.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        if lines:
            st.caption(f"Trained with: `{lines[-1]}`")
    metrics = widgets.guard(lambda: loaders.read_json(run.file(METRICS_FILE)), f"read {METRICS_FILE}")
    table = model_cards.metrics_table(metrics)
    if table is not None:
        st.dataframe(table.style.format(precision=3, na_rep="–"), width="stretch")
        st.caption(model_cards.METRICS_CAPTION)
    else:
        st.info(f"This run has no {METRICS_FILE}.")
    predictions = widgets.guard(lambda: loaders.load_predictions(run), "read the predictions")
    # one below the other, at the page's width: at 1280 px beside each other they cut the per-category
    # table, crowded the matrix's category names and wrapped the history's legend into its title
    if predictions is not None and len(predictions):
        present = set(predictions["split"])
        splits = [s for s in ("test", "dev", "train") if s in present] or sorted(present)
        split = st.radio("Split", splits, horizontal=True, key=SPLIT)
        part = predictions[predictions["split"] == split]
        st.plotly_chart(
            figures.confusion_matrix(
                part["true_label"],
                part["predicted_label"],
                run.label_names or sorted(set(part["true_label"])),
                title=f"Confusion matrix ({split}, {len(part):,} posts)",
            ),
            key=PREFIX + "confusion",
        )
        st.caption(figures.CAPTIONS["confusion"])
    per_class = model_cards.per_class_table(metrics, st.session_state.get(SPLIT, "test"))
    if per_class is not None:
        st.markdown("**Per category**")
        st.dataframe(per_class.style.format(precision=3), width="stretch")
        st.caption(
            "Precision: how often the model is right when it says this category. Recall: how many "
            "posts of this category it finds. Support: posts of the category in the split."
        )
    history = loaders.read_history(run)
    if history is not None:
        st.plotly_chart(figures.training_history(history), key=PREFIX + "history")
        st.caption(figures.CAPTIONS["history"])


def ablation_section(state: AppState, run: TaskRun) -> None:
    ablation, variant, metric_columns, markdown = model_cards.load_ablation(run, state.run_root)
    if ablation is None and not markdown:
        return
    st.subheader("Fusion variants side by side")
    st.markdown(
        "The same task trained with simpler ways of combining words and photo, to show what each "
        "part of the model adds."
    )
    if ablation is not None and metric_columns:
        this = run.config.get(variant) if variant in ("fusion", "prompt") else None
        st.plotly_chart(
            figures.ablation_bars(ablation, variant, metric_columns, highlight=this), key=PREFIX + "ablation"
        )
        st.caption(figures.CAPTIONS["ablation"])
        st.dataframe(ablation, width="stretch", hide_index=True)
    elif markdown:
        st.markdown(markdown)
