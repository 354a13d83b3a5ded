"""Browse (/browse): the posts of the run's predictions, or of a scored collection when one is
chosen, through one query model (crisis_dashboard.browse): filters, order, paging, folding
near-duplicates, export; then the post picked, with its explanation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image

from crisis_dashboard import browse, duplicate_groups, export, figures, links, loaders, post_figures, widgets
from crisis_dashboard.agreement import contradictions
from crisis_dashboard.collection import Collection
from crisis_dashboard.names import pretty, task_title
from crisis_dashboard.post_view import DETAILS_CAPTION, pick_post, show_photo, show_post, show_table
from crisis_dashboard.reliability import RELIABILITY_CAPTION, badge, reliability_badge, reliability_of
from crisis_dashboard.state import AppState, training_data_root
from crisis_model import Prediction
from crisis_model.data.table import resolve_image
from crisis_model.predictions import prob_column
from crisis_model.run_folder import TaskRun, discover_run
from crisis_model.scoring.columns import column_prefix

# Session-state keys. Each source keeps its own filters under its prefix (a run's "br-", a
# collection's "bc-"), so switching between them keeps both; the widgets' keys are `_key(prefix, name)`.
SOURCE = "br-source"
RUN, COLLECTION = "br", "bc"
SIGNATURE, PAGE, POST, TABLE = "signature", "page", "post", "table"

RUN_ANSWERS = {"true_label": "True label", "predicted_label": "Answer"}  # a run's exported answers in words

CHOICES = (  # filter (a browse.Filters field), label, key name, placeholder
    ("events", "Event", "events", "all events"),
    ("splits", "Split", "splits", "all splits"),
    ("true_labels", "True label", "true", "any"),
    ("labels", "Answer", "labels", "any answer"),
)
RADIOS = (  # filter, label, key name, its values as shown
    ("outcome", "Model was", "outcome", {"all": "all", "right": "right", "wrong": "wrong"}),
    ("photo", "Photo", "photo", {"all": "all", "with": "with a photo", "without": "text only"}),
    ("warnings", "Warnings", "warn", {"all": "all", "with": "with", "without": "without"}),
)
PAGE_SIZES = [25, 50, 100]


def _key(prefix: str, name: str) -> str:
    return f"{prefix}-{name}"


def show(state: AppState) -> None:
    if state.collection is not None:
        chosen = st.radio(
            "Posts",
            ["collection", "run"],
            horizontal=True,
            key=SOURCE,
            format_func=lambda v: {"collection": "the scored collection", "run": "the run's dev and test posts"}[v],
        )
        if chosen == "collection":
            found = widgets.guard(lambda: loaders.open_collection(state.collection), "open the scored collection")
            if found is not None:
                _browse_collection(found)
            return
    _browse_run(state, widgets.require_run(state))


def _browse_run(state: AppState, run: TaskRun) -> None:
    frame = widgets.guard(lambda: loaders.load_predictions(run), "read the predictions")
    if frame is None:
        return
    trained_on = training_data_root(run)
    frame = duplicate_groups.with_duplicate_groups(frame, trained_on)
    splits_scored = " and ".join(s for s in ("train", "dev", "test") if s in set(frame["split"])) or "all"
    st.markdown(
        f"The **{task_title(run.task)}** model's answer for every {splits_scored} post of its dataset "
        f"({len(frame):,} posts). Narrow the list with the filters, then pick a post to see why the model "
        "answered as it did."
    )
    reliability_badge(run)
    if trained_on is not None and state.data_root is not None and trained_on.resolve() != state.data_root.resolve():
        st.info(
            f"These are the posts this model was scored on when it was trained (from `{trained_on}`), not the "
            f"dataset chosen in the sidebar (`{state.data_root}`). To score other posts, upload them as a CSV "
            "file on *Analyse a post*."
        )
    source = browse.frame_source(frame)
    with st.container(border=True):
        filters = _filters(source, RUN, run.task)
    download = Download(f"crisislens-{run.task}-posts", RUN_ANSWERS, trained_on or state.data_root)
    rows = _listing(source, filters, RUN, task_title(run.task), len(frame), download)
    if rows is not None and (post_id := pick_post(rows, _key(RUN, POST))) is not None:
        _run_post(run, rows[rows["post_id"] == post_id].iloc[0])


def _browse_collection(collection: Collection) -> None:
    summary, tasks = collection.summary, collection.tasks
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

    def title(prefix: str) -> str:
        return task_title(tasks[prefix]["task"]) + prefix[len(tasks[prefix]["task"]) :]

    with st.container(border=True):
        task = st.columns(4)[0].selectbox("Task", list(tasks), key=_key(COLLECTION, "task"), format_func=title)
        source = widgets.guard(lambda: loaders.collection_source(collection, task), "open the scored collection")
        if source is None:
            return
        filters = _filters(source, COLLECTION, task)
    download = Download(f"crisislens-{task}-collection", source.answers, collection.images)
    rows = _listing(source, filters, COLLECTION, title(task), summary.get("scored"), download)
    _errors(collection)
    if rows is not None and (post_id := pick_post(rows, _key(COLLECTION, POST))) is not None:
        _collection_post(collection, task, rows[rows["post_id"] == post_id].iloc[0])


def _filters(source: browse.Source, prefix: str, task: str) -> browse.Filters:
    """The filters `source` offers, four to a row, read into a browse.Filters."""
    choices = [spec for spec in CHOICES if source.offers(spec[0])]
    radios = [spec for spec in RADIOS if source.offers(spec[0])]
    ranges = [name for name in ("confidence", "query") if source.offers(name)]
    rows = math.ceil((len(choices) + len(radios) + len(ranges)) / 4)
    cells = iter([cell for _ in range(rows) for cell in st.columns(4)])
    chosen = {}
    for name, label, key, placeholder in choices:
        options = list(source.labels) if name == "labels" else browse.options(source, browse.FILTER_COLUMNS[name])
        key = _key(prefix, f"labels-{task}" if name == "labels" else key)  # a task's labels are its own
        chosen[name] = next(cells).multiselect(label, options, format_func=pretty, key=key, placeholder=placeholder)
    for name, label, key, shown in radios:
        chosen[name] = next(cells).radio(
            label, list(shown), horizontal=True, key=_key(prefix, key), format_func=shown.get
        )
    if "confidence" in ranges:
        chosen["confidence"] = next(cells).slider(
            "Confidence", 0.0, 1.0, (0.0, 1.0), step=0.05, key=_key(prefix, "conf")
        )
    if "query" in ranges:
        chosen["query"] = next(cells).text_input(
            "Search the text", key=_key(prefix, "query"), placeholder="e.g. bridge, shelter, post id"
        )
    return browse.Filters(**chosen)


def _listing(
    source: browse.Source, filters: browse.Filters, prefix: str, model: str, total: int | None, download: Download
) -> pd.DataFrame | None:
    """Order, paging and folding; the page's table and the export of every matching post. Returns
    the page's rows, or None when no post matches (or the query failed; the page says why)."""
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1.5])
    order = c1.selectbox("Order", source.sorts, key=_key(prefix, "order"))
    size = c2.selectbox("Posts per page", PAGE_SIZES, index=1, key=_key(prefix, "size"))
    fold = source.has(browse.GROUP) and c4.toggle(
        "Fold near-duplicates",
        key=_key(prefix, "fold"),
        help="Retweets, reposts and the same photo shared again shown as one row, with the number of copies.",
    )
    signature, page_key, post_key = _key(prefix, SIGNATURE), _key(prefix, PAGE), _key(prefix, POST)
    if st.session_state.get(signature) != (asked := (filters.signature(), order, size, fold)):
        st.session_state[signature] = asked  # new filters: back to the first page
        st.session_state[page_key] = 1
    if post_key not in st.session_state and (linked := links.linked(links.POST)):
        found = widgets.guard(lambda: browse.page_of(source, filters, order, linked, size, fold), "find the post")
        if found:
            st.session_state[page_key] = found  # a link's post: open the page it is on
        else:
            unfiltered = filters.signature() == browse.Filters().signature()
            where = ("this collection" if prefix == COLLECTION else "this run") if unfiltered else "these filters"
            links.refuse(links.POST, where, "no post is open; pick one in the table")
    number = max(int(st.session_state.get(page_key, 1)), 1)
    answer = widgets.guard(lambda: loaders.browse_page(source, filters, order, number, size, fold), "query the posts")
    if answer is None:
        return None
    pages = max(1, math.ceil(answer.counts.listed / size))
    if number > pages:  # fewer rows than the page asked: the last page
        number = pages
        answer = loaders.browse_page(source, filters, order, number, size, fold)
    st.session_state[page_key] = number
    c3.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key=page_key)
    counts, rows = answer.counts, answer.rows
    if not counts.matching:
        st.warning("No post matches these filters. Loosen them to see posts again.")
        return None
    first = (number - 1) * size + 1
    line = [f"**{counts.matching:,}** matching posts" + (f" of {total:,}" if total else "")]
    if counts.wrong is not None:
        line.append(f"{counts.wrong:,} of them wrong ({counts.wrong / counts.matching:.0%})")
    st.markdown(" · ".join([*line, f"showing {first:,}–{first + len(rows) - 1:,}"]))

    table = browse.table_view(rows, source)
    if fold:
        st.caption(
            f"Folded: {counts.listed:,} rows stand for the {counts.matching:,} matching posts; a row with "
            "copies shows the first of its group in this order."
        )
        table.insert(1, "Copies", rows["copies"].values)
    show_table(table, rows["post_id"].tolist(), _key(prefix, TABLE), post_key)
    st.caption(
        f"Click a row (the box at its left) to open the post below. Answer and confidence: the {model.lower()} "
        "model's; words share is the weight of the words' own evidence in its decision (the rest: the photo's, "
        "and both together)."
        + (
            " The falls say how much the answer's probability drops when the post is scored again without its "
            "words, or without its photo."
            if source.has("reliance_words") or source.has("reliance_photo")
            else ""
        )
        + f" {DETAILS_CAPTION}"
    )
    _exports(source, filters, order, prefix, counts.matching, download)
    return rows


@dataclass(frozen=True)
class Download:
    """What Browse's downloads are named and written with."""

    file_name: str  # without its suffix
    answers: dict[str, str]  # label column -> its display name, a column of the answers in words
    data_root: Path | None  # photo paths are written relative to it


def _exports(
    source: browse.Source, filters: browse.Filters, order: str, prefix: str, matching: int, download: Download
) -> None:
    """CSV and Parquet of every post that passes the filters, written when clicked."""
    c1, c2, _ = st.columns([1, 1, 2])

    def table() -> pd.DataFrame:
        return export.for_analyst(browse.matching_rows(source, filters, order), download.answers, download.data_root)

    for col, (kind, to_bytes, mime) in zip(
        (c1, c2), (("CSV", export.to_csv, "text/csv"), ("Parquet", export.to_parquet, "application/vnd.apache.parquet"))
    ):
        col.download_button(
            f"{kind}: {matching:,} posts",
            icon=":material/download:",
            data=lambda to_bytes=to_bytes: to_bytes(table()),
            file_name=f"{download.file_name}.{kind.lower()}",
            mime=mime,
            on_click="ignore",
            key=_key(prefix, f"export-{kind.lower()}"),
            help="Every post that passes the filters (folded or not), with its answer in words, its labels, "
            "confidence, each label's probability, the weight of each vote, and, where known, the falls without "
            "words and without photo and its near-duplicate group; photo paths relative to the data folder.",
        )


def _run_post(run: TaskRun, row: pd.Series) -> None:
    """A post of the run: its true label and the recorded answer, then the model's answer now,
    scored again, with its explanation."""
    image, right = show_post(row, "This post has no photo: the model read its text only.")
    with right:
        verdict = "✓ right" if row["correct"] else "✗ wrong"
        st.markdown(
            f"**True label:** {pretty(row['true_label'])} · **Model said:** "
            f"{pretty(row['predicted_label'])} ({row['confidence']:.0%} sure) · {verdict} · "
            + badge(reliability_of(run)),
            help=RELIABILITY_CAPTION,
        )
        prediction = widgets.guard(
            lambda: loaders.explain(run, row["text"], row["image_path"] or None), "explain this post"
        )
        if prediction is not None:
            widgets.show_probabilities(prediction, key=RUN)
            if prediction.label is None:  # e.g. the photo unreadable now: a photo-judged task cannot judge it
                st.info(f"Scored again now: {prediction.cannot_judge}")
            elif (
                prediction.label != row["predicted_label"]
                or abs(prediction.confidence - float(row["confidence"])) > 0.05
            ):
                st.warning(
                    f"Scored again now, the model says {pretty(prediction.label)} "
                    f"({prediction.confidence:.0%} sure); the table shows the score recorded when the run was "
                    "evaluated. The chart and the explanation below are from the new scoring."
                )
    if prediction is not None:
        _why(run, prediction, image, RUN)


def _collection_post(collection: Collection, task: str, row: pd.Series) -> None:
    """A post of the collection: its photo, text, warnings, every task's answer and the stored
    probabilities of the chosen one; then that task's model explains it (when its run is still there)."""
    photo, _ = resolve_image(row["image_path"], collection.images)
    image, image_error = loaders.open_image(photo)
    st.divider()
    st.subheader(f"Post {row['post_id']}")
    left, right = st.columns([2, 3])
    with left:
        show_photo(image, image_error, "The model read this post's text only (no usable photo).")
    with right:
        widgets.post_text(row["text"])
        if row["warnings"]:
            st.warning(row["warnings"])
        tasks = {prefix: spec["task"] for prefix, spec in collection.tasks.items()}
        given = {  # a task that could not judge the post (damage without a photo) is left out
            prefix: row[f"{prefix}_label"] for prefix in tasks if pd.notna(row[f"{prefix}_label"])
        }
        st.markdown(" · ".join(f"**{task_title(tasks[p])}:** {pretty(label)}" for p, label in given.items()))
        answers: dict[str, str | None] = {}
        for prefix, label in given.items():
            answers.setdefault(tasks[prefix], label)
        for clash in contradictions(answers):
            st.warning(clash.note, icon="⚠️")
        if pd.notna(row["label"]):
            probabilities = {label: float(row[prob_column(label)]) for label in collection.tasks[task]["labels"]}
            st.plotly_chart(
                post_figures.probabilities_bar(probabilities), key=_key(COLLECTION, "probs"), width="stretch"
            )
            st.caption(figures.CAPTIONS["probabilities"])
    runs = widgets.guard(lambda: discover_run(collection.run), "find the run that scored this collection")
    run = next((r for r in runs.runs.values() if column_prefix(r.name) == task), None) if runs else None
    if run is None:
        return
    prediction = widgets.guard(lambda: loaders.explain(run, row["text"], photo or None), "explain this post")
    if prediction is not None:
        _why(run, prediction, image, COLLECTION, with_badge=True)


def _why(run: TaskRun, prediction: Prediction, image: Image.Image | None, key: str, with_badge: bool = False) -> None:
    """The explanation of the post, scored again by the run's model."""
    st.subheader("Why the model said this")
    if with_badge:  # the run's page shows it at the top already
        reliability_badge(run)
    if note := widgets.dominance_note(run):
        st.warning(note)
    widgets.show_explanation(prediction, image, key=key)


def _errors(collection: Collection) -> None:
    count = collection.summary.get("errors", 0)
    if not count:
        return
    with st.expander(f"{count:,} {'row' if count == 1 else 'rows'} could not be scored: why"):
        st.dataframe(loaders.collection_errors(collection), hide_index=True, width="stretch")
