"""Browse predictions: every post of the run with its true and predicted label, filters, paging,
and the detail of one post (photo, text, probabilities, explanation); or, when one is chosen, a
scored collection (crisis_dashboard.collection_browse)."""

import math

import streamlit as st

from crisis_dashboard import browse, collection_browse, duplicate_groups, export, links, loaders, widgets
from crisis_dashboard.names import pretty, task_title
from crisis_dashboard.post_view import pick_post, show_post, show_table
from crisis_dashboard.reliability import RELIABILITY_CAPTION, badge, reliability_badge, reliability_of
from crisis_dashboard.routing import page_state
from crisis_dashboard.state import training_data_root

state = page_state()
if state.collection is not None:
    source = st.radio(
        "Posts",
        ["collection", "run"],
        horizontal=True,
        key="br-source",
        format_func=lambda v: {"collection": "the scored collection", "run": "the run's dev and test posts"}[v],
    )
    if source == "collection":
        found = widgets.guard(lambda: loaders.open_collection(state.collection), "open the scored collection")
        if found is not None:
            collection_browse.show(found)
        st.stop()
run = widgets.require_run(state)
frame = widgets.guard(lambda: loaders.load_predictions(run), "read the predictions")
if frame is None:
    st.stop()
frame = duplicate_groups.with_duplicate_groups(frame, training_data_root(run))
splits_scored = " and ".join(s for s in ("train", "dev", "test") if s in set(frame["split"])) or "all"
st.markdown(
    f"The **{task_title(run.task)}** model's answer for every {splits_scored} post of its dataset "
    f"({len(frame):,} posts). Narrow the list with the filters, then pick a post to see why the model "
    "answered as it did."
)
reliability_badge(run)
trained_on = training_data_root(run)
if trained_on is not None and state.data_root is not None and trained_on.resolve() != state.data_root.resolve():
    st.info(
        f"These are the posts this model was scored on when it was trained (from `{trained_on}`), not the "
        f"dataset chosen in the sidebar (`{state.data_root}`). To score other posts, upload them as a CSV "
        "file on *Analyse a post*."
    )


def options(column: str) -> list[str]:
    return sorted(v for v in frame[column].unique() if v)


with st.container(border=True):
    c1, c2, c3, c4 = st.columns(4)
    events = c1.multiselect("Event", options("event"), format_func=pretty, key="br-events", placeholder="all events")
    splits = c2.multiselect("Split", options("split"), key="br-splits", placeholder="all splits")
    true_labels = c3.multiselect(
        "True label", options("true_label"), format_func=pretty, key="br-true", placeholder="any"
    )
    predicted = c4.multiselect(
        "Predicted label", options("predicted_label"), format_func=pretty, key="br-pred", placeholder="any"
    )
    c1, c2, c3, c4 = st.columns(4)
    outcome = c1.radio("Model was", ["all", "right", "wrong"], horizontal=True, key="br-outcome")
    photo = c2.radio(
        "Photo",
        ["all", "with", "without"],
        horizontal=True,
        key="br-photo",
        format_func=lambda v: {"all": "all", "with": "with a photo", "without": "text only"}[v],
    )
    confidence = c3.slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.05, key="br-conf")
    query = c4.text_input("Search the text", key="br-query", placeholder="e.g. bridge, shelter, post id")

filters = browse.Filters(events, splits, true_labels, predicted, outcome, photo, confidence, query)
matches = browse.apply_filters(frame, filters)

c1, c2, c3, c4 = st.columns([2, 1, 1, 1.5])
order = c1.selectbox("Order", list(browse.SORTS), key="br-order")
size = c2.selectbox("Posts per page", [25, 50, 100], index=1, key="br-size")
fold = c4.toggle(
    "Fold near-duplicates",
    key="br-fold",
    help="Retweets, reposts and the same photo shared again shown as one row, with the number of copies.",
)
ordered = browse.sort_rows(matches, order)
listed = browse.fold_groups(ordered) if fold else ordered
pages = max(1, math.ceil(len(listed) / size))
signature = (filters.signature(), order, size, fold)
if st.session_state.get("br-signature") != signature:  # new filters: back to the first page
    st.session_state["br-signature"] = signature
    st.session_state["br-page"] = 1
if "br-post" not in st.session_state and (linked := browse.page_of(listed, links.linked(links.POST), size)):
    st.session_state["br-page"] = linked  # a link's post: open the page it is on
st.session_state["br-page"] = min(max(int(st.session_state.get("br-page", 1)), 1), pages)
page = c3.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="br-page")

rows = browse.page_slice(listed, page, size)
if matches.empty:
    st.warning("No post matches these filters. Loosen them to see posts again.")
    st.stop()
first = (page - 1) * size + 1
wrong = int((~matches["correct"]).sum())
st.markdown(
    f"**{len(matches):,}** matching posts of {len(frame):,} · {wrong:,} of them wrong "
    f"({wrong / len(matches):.0%}) · showing {first:,}–{first + len(rows) - 1:,}"
)


table = browse.table_view(rows)
if fold:
    st.caption(
        f"Folded: {len(listed):,} rows stand for the {len(matches):,} matching posts; a row with copies "
        "shows the first of its group in this order."
    )
    table.insert(1, "Copies", rows["copies"].values)
show_table(table, rows["post_id"].tolist(), "br-table", "br-post")
st.caption(
    "Click a row (the box at its left) to open the post below. Confidence is the probability of the "
    "predicted label; words share is the weight of the words' own evidence; the falls say how much the "
    "answer's probability drops when the post is scored again without its words, or without its photo."
)
exported = export.export_table(ordered)
c1, c2, _ = st.columns([1, 1, 2])
for col, (kind, to_bytes, mime) in zip(
    (c1, c2), (("CSV", export.to_csv, "text/csv"), ("Parquet", export.to_parquet, "application/vnd.apache.parquet"))
):
    col.download_button(
        f"{kind}: {len(matches):,} posts",
        icon=":material/download:",
        data=lambda to_bytes=to_bytes: to_bytes(exported),
        file_name=f"crisislens-{run.task}-posts.{kind.lower()}",
        mime=mime,
        on_click="ignore",
        key=f"br-export-{kind.lower()}",
        help="Every post that passes the filters (folded or not), with its true and predicted label, "
        "confidence, each label's probability, the weight of each vote, the falls without words and "
        "without photo where the run measured them, and its near-duplicate group.",
    )

post_id = pick_post(rows, "br-post")
if post_id is None:
    st.stop()

row = rows[rows["post_id"] == post_id].iloc[0]
image, right = show_post(row, "This post has no photo: the model read its text only.")
with right:
    verdict = "✓ right" if row["correct"] else "✗ wrong"
    st.markdown(
        f"**True label:** {pretty(row['true_label'])} · **Model said:** "
        f"{pretty(row['predicted_label'])} ({row['confidence']:.0%} sure) · {verdict} · " + badge(reliability_of(run)),
        help=RELIABILITY_CAPTION,
    )
    prediction = widgets.guard(
        lambda: loaders.explain(run, row["text"], row["image_path"] or None), "explain this post"
    )
    if prediction is not None:
        widgets.show_probabilities(prediction, key="br")
        if prediction.label is None:  # e.g. the photo unreadable now: a photo-judged task cannot judge it
            st.info(f"Scored again now: {prediction.cannot_judge}")
        elif prediction.label != row["predicted_label"] or abs(prediction.confidence - float(row["confidence"])) > 0.05:
            st.warning(
                f"Scored again now, the model says {pretty(prediction.label)} "
                f"({prediction.confidence:.0%} sure); the table shows the score recorded when the run was "
                "evaluated. The chart and the explanation below are from the new scoring."
            )
if prediction is not None:
    st.subheader("Why the model said this")
    if note := widgets.dominance_note(run):
        st.warning(note)
    widgets.show_explanation(prediction, image, key="br")
