"""Browse's one query model (crisis_dashboard.browse) on both of its sources: the same six posts as
a run's predictions table and as a scored collection written in the scoring command's layout.
A filter or a sort is written once and must work on both; what a source lacks is not offered.
Fast: no model, no Streamlit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from crisis_dashboard import browse, collection, export
from crisis_model.model.fusion import GROUPS
from crisis_model.predictions import normalise as normalise_predictions
from crisis_model.scoring import folder
from crisis_model.scoring.chunks import ChunkResult
from crisis_model.scoring.columns import ERRORS_SCHEMA, scored_schema

LABELS = ["informative", "not_informative"]
DAMAGE = ["little_or_none", "severe_damage"]
POSTS = pd.DataFrame(
    {
        "post_id": ["p0", "p1", "p2", "p3", "p4", "p5"],
        "text": ["Bridge down on Main St", "bridge closed", "Shelter open", "nothing here", "Flood water", "Bridge!"],
        "image_path": ["a.jpg", "", "c.jpg", "", "e.jpg", "f.jpg"],
        "label": ["informative", "not_informative", "informative", "not_informative", "informative", "informative"],
        "confidence": [0.9, 0.6, 0.7, 0.55, 0.95, 0.8],
        "text_weight": [0.2, 0.9, 0.4, 0.8, 0.1, 0.5],
    }
)


def predictions() -> pd.DataFrame:
    frame = POSTS.rename(columns={"label": "predicted_label"}).assign(
        event=["flood", "flood", "quake", "quake", "flood", "flood"],
        split=["dev", "test"] * 3,
        true_label=["informative"] * 3 + ["not_informative"] * 3,
        duplicate_group=["g0", "g1", "g2", "g3", "g4", "g0"],  # p5 reposts p0
    )
    return normalise_predictions(frame)


def write_collection(out) -> collection.Collection:
    """The posts scored by two tasks, in two parts; damage judges only the posts with a photo."""
    tasks = {"informative": LABELS, "damage": DAMAGE}
    folder.start_folder(out, {"tasks": {t: {"task": t, "labels": labels} for t, labels in tasks.items()}})
    has_image = POSTS["image_path"] != ""
    informative = np.where(POSTS["label"] == "informative", POSTS["confidence"], 1 - POSTS["confidence"])
    columns = {
        "row": np.arange(1, 7),
        "post_id": POSTS["post_id"],
        "text": POSTS["text"],
        "image_path": POSTS["image_path"],
        "created_at": [f"2017-09-0{k + 1}T10:00:00" for k in range(6)],
        "has_image": has_image,
        "warnings": ["", "photo missing: text only", "", "", "", ""],
        "informative_label": POSTS["label"],
        "informative_confidence": POSTS["confidence"],
        "informative_prob_informative": informative,
        "informative_prob_not_informative": 1 - informative,
        "damage_label": np.where(has_image, "severe_damage", None),  # a cell the damage model did not judge
        "damage_confidence": np.where(has_image, 0.6, np.nan),
        "damage_prob_little_or_none": np.where(has_image, 0.4, np.nan),
        "damage_prob_severe_damage": np.where(has_image, 0.6, np.nan),
    }
    for task in tasks:
        for group in GROUPS:
            columns[f"{task}_{group}_weight"] = POSTS["text_weight"] if group == "text" else 0.0
    table = pa.Table.from_pandas(pd.DataFrame(columns), schema=scored_schema(tasks), preserve_index=False)
    for chunk, start in enumerate((0, 3)):
        part = ChunkResult(table.slice(start, 3), ERRORS_SCHEMA.empty_table(), {"rows": 3})
        folder.write_chunk(out, chunk, part, 0.0)
    return collection.open_collection(out)


@pytest.fixture(params=["run", "collection"])
def source(request, tmp_path) -> browse.Source:
    if request.param == "run":
        return browse.frame_source(predictions())
    found = write_collection(tmp_path / "scored")
    return browse.collection_source(collection.connect(collection.build_index(found)), found, "informative")


def ids(page: browse.Page) -> list[str]:
    return page.rows["post_id"].tolist()


def test_a_label_filter_keeps_only_that_answer_on_both_sources(source):
    page = browse.page(source, browse.Filters(labels=["not_informative"]), "Post id", 1, 10)
    assert ids(page) == ["p1", "p3"] and page.counts.matching == 2
    assert set(page.rows["label"]) == {"not_informative"}


def test_least_confident_first_orders_both_sources_and_pages_through_them(source):
    order = "Least confident first"
    assert source.offers(order)
    assert ids(browse.page(source, browse.Filters(), order, 1, 4)) == ["p3", "p1", "p2", "p5"]
    second = browse.page(source, browse.Filters(), order, 2, 4)
    assert ids(second) == ["p0", "p4"] and second.counts.matching == 6
    assert browse.page_of(source, browse.Filters(), order, "p4", 4) == 2
    assert browse.page_of(source, browse.Filters(labels=["not_informative"]), order, "p4", 4) is None


def test_a_text_search_finds_words_and_ids_in_any_case_and_counts_in_the_same_scan(source):
    page = browse.page(source, browse.Filters(query="BRIDGE"), "Most confident first", 1, 2)
    assert ids(page) == ["p0", "p5"] and page.counts.matching == 3  # p1 too, on the next page
    assert ids(browse.page(source, browse.Filters(query="p3"), "File order", 1, 10)) == ["p3"]
    injected = browse.Filters(query="'; DROP TABLE posts; --")
    assert browse.count(source, injected).matching == 0  # a value, never SQL
    assert browse.count(source, browse.Filters()).matching == 6


def test_confidence_and_photo_filters_combine_on_both_sources(source):
    filters = browse.Filters(photo="with", confidence=(0.75, 1.0))
    assert ids(browse.page(source, filters, "Post id", 1, 10)) == ["p0", "p4", "p5"]
    assert ids(browse.page(source, browse.Filters(photo="without"), "Post id", 1, 10)) == ["p1", "p3"]


def test_a_filter_a_source_cannot_answer_is_not_offered(source):
    run = source.has("true_label")
    for name in ("events", "splits", "true_labels", "outcome"):
        assert source.offers(name) == run
    assert source.offers("warnings") == (not run) and source.offers("Newest first") == (not run)
    assert source.has(browse.GROUP) == run  # only the run knows near-duplicate groups
    assert source.sorts[0] == ("Least confident first" if run else "File order")


def test_the_run_counts_wrong_answers_and_folds_near_duplicates():
    source = browse.frame_source(predictions())
    wrong = browse.count(source, browse.Filters())
    assert (wrong.matching, wrong.wrong) == (6, 3)
    assert browse.count(source, browse.Filters(outcome="wrong", events=["flood"])).matching == 3
    folded = browse.page(source, browse.Filters(), "Most confident first", 1, 10, fold=True)
    assert (folded.counts.matching, folded.counts.listed) == (6, 5)
    # the group of p0 and its repost p5 is shown by its first post in this order, with 2 copies
    assert ids(folded) == ["p4", "p0", "p2", "p1", "p3"] and folded.rows["copies"].tolist() == [1, 2, 1, 1, 1]
    assert browse.page_of(source, browse.Filters(), "Most confident first", "p5", 10, fold=True) is None
    assert browse.page_of(source, browse.Filters(), "Most confident first", "p3", 2, fold=True) == 3
    assert browse.options(source, "event") == ["flood", "quake"]


def test_a_collection_leaves_the_cells_a_task_did_not_judge_empty(tmp_path):
    found = write_collection(tmp_path / "scored")
    source = browse.collection_source(collection.connect(collection.build_index(found)), found, "damage")
    assert source.labels == tuple(DAMAGE)
    page = browse.page(source, browse.Filters(), "Least confident first", 1, 10)
    assert ids(page)[-2:] == ["p1", "p3"] and page.rows["label"].isna().sum() == 2  # not judged: last
    assert browse.count(source, browse.Filters(labels=["severe_damage"])).matching == 4
    view = browse.table_view(page.rows, source)
    assert {"Informative or not", "Damage severity", "Warnings", "Posted"} <= set(view.columns)
    assert "True label" not in view and view["Answer"].isna().sum() == 2


def test_the_table_and_the_export_of_the_run(tmp_path):
    source = browse.frame_source(predictions())
    page = browse.page(source, browse.Filters(), "Post id", 1, 3)
    view = browse.table_view(page.rows, source)
    assert list(view.columns[:5]) == ["Text", "Answer", "Confidence", "True label", "Right?"]
    assert {"Event", "Split", "Post"} <= set(view.columns) and "Warnings" not in view
    exported = export.export_table(browse.matching_rows(source, browse.Filters(events=["quake"]), "Post id"))
    assert exported["post_id"].tolist() == ["p2", "p3"]
    assert not set(browse.INTERNAL) & set(exported.columns) and "predicted_label" in exported


def test_apply_filters_keeps_the_frames_rows_and_order():
    frame = predictions()
    found = browse.apply_filters(frame, browse.Filters(query="bridge"))
    assert found["post_id"].tolist() == ["p0", "p1", "p5"] and list(found.columns) == list(frame.columns)
