"""Browse's view of a scored collection: filters, order and paging as DuckDB queries (crisis_dashboard.
collection, through the cached loaders), one page on screen, and the post picked from it: its photo,
text, every task's answer, and the explanation of the chosen task's model (scored again)."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from crisis_dashboard import browse, figures, loaders, post_figures, widgets
from crisis_dashboard.agreement import contradictions
from crisis_dashboard.collection import SORTS, Collection, Query
from crisis_dashboard.names import pretty, task_title
from crisis_dashboard.post_view import pick_post, show_photo, show_table
from crisis_dashboard.reliability import reliability_badge
from crisis_model.data.table import resolve_image
from crisis_model.run_folder import discover_run
from crisis_model.scoring.columns import column_prefix


def show(collection: Collection) -> None:
    summary = collection.summary
    tasks = collection.tasks
    st.markdown(
        f"The scored collection `{collection.folder}`: "
        + (
            f"**{summary['scored']:,}** posts scored ({summary['text_only']:,} from their text alone), "
            f"{summary['errors']:,} {'row' if summary['errors'] == 1 else 'rows'} that could not be scored."
            if summary
            else f"being scored ({collection.parts:,} parts so far)."
        )
        + " Narrow the list with the filters, then pick a post to see why the model answered as it did."
    )
    query, order, size = _filters(collection)
    signature = (
        query.task,
        tuple(query.labels),
        query.confidence,
        query.photo,
        query.warnings,
        query.text,
        order,
        size,
    )
    if st.session_state.get("bc-signature") != signature:  # new filters: back to the first page
        st.session_state["bc-signature"] = signature
        st.session_state["bc-page"] = 1
    number = max(int(st.session_state.get("bc-page", 1)), 1)
    matching, rows = widgets.guard(
        lambda: loaders.collection_page(collection, query, order, number, size), "query the collection"
    ) or (None, None)
    if matching is None:
        return
    pages = max(1, math.ceil(matching / size))
    if number > pages:  # fewer matches than the page asked: the last page
        st.session_state["bc-page"] = number = pages
        matching, rows = loaders.collection_page(collection, query, order, number, size)
    st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="bc-page")
    if rows.empty:
        st.warning("No post matches these filters. Loosen them to see posts again.")
        return
    first = (number - 1) * size + 1
    st.markdown(f"**{matching:,}** matching posts · showing {first:,}–{first + len(rows) - 1:,}")
    show_table(browse.collection_table(rows, tasks), rows["post_id"].tolist(), "bc-table", "bc-post")
    st.caption(
        "Click a row (the box at its left) to open the post below. Answer and confidence: the "
        f"{task_title(tasks[query.task]['task']).lower()} model's; words share is the "
        "weight of the words' own evidence in its decision (the rest: the photo's, and both together)."
    )
    _errors(collection)
    _post(collection, query.task, rows)


def _filters(collection: Collection) -> tuple[Query, str, int]:
    tasks = collection.tasks
    with st.container(border=True):
        c1, c2, c3 = st.columns([1, 2, 1])
        task = c1.selectbox(
            "Task",
            list(tasks),
            key="bc-task",
            format_func=lambda p: task_title(tasks[p]["task"]) + p[len(tasks[p]["task"]) :],
        )
        labels = c2.multiselect(
            "Answer", tasks[task]["labels"], format_func=pretty, key=f"bc-labels-{task}", placeholder="any answer"
        )
        confidence = c3.slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.05, key="bc-conf")
        c1, c2, c3 = st.columns([1, 1, 2])
        photo = c1.radio(
            "Photo",
            ["all", "with", "without"],
            horizontal=True,
            key="bc-photo",
            format_func=lambda v: {"all": "all", "with": "used", "without": "text only"}[v],
        )
        warned = c2.radio("Warnings", ["all", "with", "without"], horizontal=True, key="bc-warn")
        text = c3.text_input("Search the text", key="bc-query", placeholder="e.g. bridge, shelter, post id")
    c1, c2 = st.columns([2, 1])
    order = c1.selectbox("Order", list(SORTS), key="bc-order")
    size = c2.selectbox("Posts per page", [25, 50, 100], index=1, key="bc-size")
    return Query(task, labels, confidence, photo, warned, text), order, size


def _errors(collection: Collection) -> None:
    count = collection.summary.get("errors", 0)
    if not count:
        return
    with st.expander(f"{count:,} {'row' if count == 1 else 'rows'} could not be scored: why"):
        st.dataframe(loaders.collection_errors(collection), hide_index=True, width="stretch")


def _post(collection: Collection, task: str, rows) -> None:
    post_id = pick_post(rows, "bc-post")
    if post_id is None:
        return
    row = rows[rows["post_id"] == post_id].iloc[0]
    photo, _ = resolve_image(row["image_path"], collection.images)
    image, image_error = loaders.open_image(photo)
    st.divider()
    st.subheader(f"Post {post_id}")
    left, right = st.columns([2, 3])
    with left:
        show_photo(image, image_error, "The model read this post's text only (no usable photo).")
    with right:
        st.markdown(f"> {row['text']}")
        if row["warnings"]:
            st.warning(row["warnings"])
        given = {  # a task that could not judge the post (damage without a photo) is left out
            prefix: row[f"{prefix}_label"]
            for prefix in collection.tasks
            if pd.notna(row[f"{prefix}_label"])  # DuckDB gives NaN, not None, for an empty label
        }
        tasks = {prefix: spec["task"] for prefix, spec in collection.tasks.items()}
        st.markdown(" · ".join(f"**{task_title(tasks[p])}:** {pretty(label)}" for p, label in given.items()))
        answers: dict[str, str | None] = {}
        for prefix, label in given.items():
            answers.setdefault(tasks[prefix], label)
        for clash in contradictions(answers):
            st.warning(clash.note, icon="⚠️")
        labels = collection.tasks[task]["labels"]
        probabilities = {
            label: float(row[f"{task}_prob_{label}"]) for label in labels if pd.notna(row[f"{task}_label"])
        }
        if probabilities:
            st.plotly_chart(post_figures.probabilities_bar(probabilities), key="bc-probs", width="stretch")
            st.caption(figures.CAPTIONS["probabilities"])
    _explanation(collection, task, row["text"], photo, image)


def _explanation(collection: Collection, task: str, text: str, photo: str, image) -> None:
    """The chosen task's model scores the post again and explains it (when the run is still there)."""
    runs = widgets.guard(lambda: discover_run(collection.run), "find the run that scored this collection")
    run = next((r for r in runs.runs.values() if column_prefix(r.name) == task), None) if runs else None
    if run is None:
        return
    prediction = widgets.guard(lambda: loaders.explain(run, text, photo or None), "explain this post")
    if prediction is not None:
        st.subheader("Why the model said this")
        reliability_badge(run)
        if note := widgets.dominance_note(run):
            st.warning(note)
        widgets.show_explanation(prediction, image, key="bc")
