"""CrisisLens dashboard: `streamlit run app.py`.

This file is the entry point (it lists the pages) and the Overview page. The pages are thin:
state, loading and caching live in crisis_model/dashboard.py, every figure in crisis_model/plots.py.
"""

import pandas as pd
import streamlit as st

from crisis_model import dashboard as db
from crisis_model import plots
from crisis_model.data import dataset_summary


def overview() -> None:
    state = db.setup("CrisisLens overview")
    st.markdown(
        "CrisisLens reads a crisis post, its **words and its photo**, and answers three questions: "
        "is the post **informative** for humanitarian response, which **humanitarian category** it reports, "
        "and how **severe the damage** in the photo is. This page shows the data and the model in use; the "
        "other pages let you browse its answers, analyse a post of your own, and see what it paid attention to."
    )

    st.header("The dataset")
    if state.data_error:
        st.error(f"Cannot read the dataset. {state.data_error}")
    else:
        frames, errors, missing = db.dataset_overview(state.data_root)
        for task, message in errors.items():
            st.warning(f"{db.task_title(task)}: {message}")
        if frames:
            posts = pd.concat(frames.values()).drop_duplicates("post_id")
            summary = dataset_summary(posts)
            cols = st.columns(4)
            cols[0].metric("Posts (tweet + photo pairs)", f"{summary['posts']:,}")
            cols[1].metric("Crisis events", f"{len(summary['events']):,}")
            cols[2].metric("With a usable photo", f"{summary['with_image']:,}")
            cols[3].metric("Text only", f"{summary['without_image']:,}")
            if missing:
                st.caption(f"{missing:,} posts name a photo file that is not in the folder; they are analysed "
                           "from their text only.")
            left, right = st.columns([3, 2])
            with left:
                st.plotly_chart(plots.posts_per_event(posts), key="ov-events")
                st.caption(plots.CAPTIONS["posts_per_event"])
            with right:
                st.plotly_chart(plots.image_presence(summary["with_image"], summary["without_image"]),
                                key="ov-images")
                st.caption(plots.CAPTIONS["images"])
            st.subheader("Labels per task")
            cols = st.columns(len(frames))
            for col, (task, frame) in zip(cols, frames.items()):
                with col:
                    counts = dataset_summary(frame)["labels"]
                    st.plotly_chart(plots.label_distribution(counts, db.task_title(task)), key=f"ov-labels-{task}")
                    st.caption(plots.CAPTIONS["labels"])
            with st.expander("Posts per split and task"):
                table = pd.DataFrame({db.task_title(t): f["split"].value_counts() for t, f in frames.items()})
                st.dataframe(table.fillna(0).astype(int))

    st.header("The model")
    if state.runs is None:
        return
    runs = list(state.runs.runs.values())
    for start in range(0, len(runs), 3):
        cols = st.columns(3)
        for col, card_run in zip(cols, runs[start:start + 3]):
            card = db.model_card(card_run)
            with col.container(border=True):
                shown = "  ·  *shown on these pages*" if card_run is state.run else ""
                st.markdown(f"**{card.pop('Task')}**{shown}")
                st.markdown("\n".join(f"- **{k}:** {v}" for k, v in card.items()))
    st.caption("One model per task. The fusion is how the words and the photo are combined; parameters count "
               "every weight, the fusion head is the part trained on top of the two readers.")
    run = state.run
    if run is None:
        return
    command = run.file("command.txt")
    if command.is_file():
        lines = command.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        if lines:
            st.caption(f"Trained with: `{lines[-1]}`")

    st.subheader(f"How well it does: {db.task_title(run.task)}")
    metrics = db.guard(lambda: db.read_json(run.file("metrics.json")), "read metrics.json")
    table = db.metrics_table(metrics)
    if table is not None:
        st.dataframe(table.style.format(precision=3, na_rep="–"), width="stretch")
        st.caption("Scores on each split (dev: used to choose the model; test: held out). 1.0 is perfect; "
                   "macro F1 treats every category as equally important; the calibration error says how far "
                   "the model's confidence is from how often it is right.")
    else:
        st.info("This run has no metrics.json.")
    predictions = db.guard(lambda: db.load_predictions(run), "read the predictions")
    left, right = st.columns([3, 2])
    with left:
        if predictions is not None and len(predictions):
            splits = [s for s in ("test", "dev", "train") if s in set(predictions["split"])] or \
                sorted(predictions["split"].unique())
            split = st.radio("Split", splits, horizontal=True, key="ov-split")
            part = predictions[predictions["split"] == split]
            st.plotly_chart(plots.confusion_matrix(part["true_label"], part["predicted_label"],
                                                   run.label_names or sorted(set(part["true_label"])),
                                                   title=f"Confusion matrix ({split}, {len(part):,} posts)"),
                            key="ov-confusion")
            st.caption(plots.CAPTIONS["confusion"])
    with right:
        per_class = db.per_class_table(metrics, st.session_state.get("ov-split", "test"))
        if per_class is not None:
            st.markdown("**Per category**")
            st.dataframe(per_class.style.format(precision=3), width="stretch")
            st.caption("Precision: how often the model is right when it says this category. Recall: how many "
                       "posts of this category it finds. Support: posts of the category in the split.")
        history = db.read_history(run)
        if history is not None:
            st.plotly_chart(plots.training_history(history), key="ov-history")
            st.caption(plots.CAPTIONS["history"])

    ablation, variant, metric_columns, markdown = db.load_ablation(run, state.run_root)
    if ablation is not None or markdown:
        st.subheader("Fusion variants side by side")
        st.markdown("The same task trained with simpler ways of combining words and photo, to show what each "
                    "part of the model adds.")
        if ablation is not None and metric_columns:
            this = run.config.get(variant) if variant in ("fusion", "prompt") else None
            st.plotly_chart(plots.ablation_bars(ablation, variant, metric_columns, highlight=this),
                            key="ov-ablation")
            st.caption(plots.CAPTIONS["ablation"])
            st.dataframe(ablation, width="stretch", hide_index=True)
        elif markdown:
            st.markdown(markdown)


pages = [
    st.Page(overview, title="Overview", icon=":material/dashboard:", url_path="overview", default=True),
    st.Page("pages/1_Browse_predictions.py", title="Browse predictions", icon=":material/table_view:",
            url_path="browse"),
    st.Page("pages/2_Analyse_a_post.py", title="Analyse a post", icon=":material/edit_note:", url_path="analyse"),
    st.Page("pages/3_Attention_and_routing.py", title="Attention & routing", icon=":material/hub:",
            url_path="attention"),
]
st.navigation(pages).run()
