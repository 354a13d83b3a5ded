"""The Review page under AppTest on the session's demo run: accept, correct, undo, skip and next
land in the corrections database; every queue order runs; a duplicate group is reviewed as one;
a corrections file that is not SQLite or is from a newer schema is named in an error while the
queue stays readable and the other pages work."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from crisis_dashboard import duplicate_groups, literal, review_desk
from crisis_dashboard.routing import page_file
from crisis_model.corrections import SCHEMA_VERSION, STRATEGIES, CorrectionStore
from crisis_model.predictions import POST_KEY_COLUMN
from crisis_model.predictions import normalise as normalise_predictions
from tests.dashboard_support import assert_clean

REVIEW = page_file("review")


def shown_post(at) -> str:
    return next(h.value for h in at.subheader if h.value.startswith("Post ")).removeprefix("Post ")


def progress(at) -> str:
    return at.get("progress")[0].proto.text


def test_accept_correct_and_undo_are_kept_in_the_database(app, db, demo_run):
    at = app(REVIEW, reviewer="ana")
    assert_clean(at)
    post = shown_post(at)
    assert progress(at).startswith("**0 reviewed /")
    at.button(key="rv-accept-informative").click().run()
    fix = next(b for b in at.button if b.key.startswith("rv-fix-humanitarian-"))
    fix.click().run()
    assert_clean(at)
    latest = CorrectionStore(db).latest().set_index("task")
    assert set(latest["post_id"]) == {post} and set(latest.index) == {"informative", "humanitarian"}
    assert latest.loc["humanitarian", "label_after"] == fix.key.removeprefix("rv-fix-humanitarian-")
    assert latest.loc["humanitarian", "action"] == "correct" and latest.loc["informative", "action"] == "accept"
    scored = normalise_predictions(pd.read_parquet(demo_run / "informative" / "predictions.parquet"))
    key = scored.set_index("post_id").loc[post, POST_KEY_COLUMN]  # what train.py --corrections matches on
    assert set(latest["post_key"]) == {key}
    assert progress(at).startswith("**1 reviewed /")
    assert len(at.table) == 1 and len(at.table[0].value) == 2

    at.button(key="rv-undo-button").click().run()  # takes the correction back, keeps the accept
    assert_clean(at)
    assert CorrectionStore(db).latest()["task"].tolist() == ["informative"]
    assert len(CorrectionStore(db).history()) == 3  # accept, correct, undo
    assert any(m.value.startswith("Undone:") for m in at.markdown)

    at.button(key="rv-next").click().run()
    assert shown_post(at) != post
    skipped = shown_post(at)
    at.button(key="rv-skip").click().run()
    assert shown_post(at) not in (post, skipped)
    assert len(CorrectionStore(db).history()) == 3  # next and skip record nothing


def test_nothing_is_recorded_without_a_reviewer_name(app, db):
    at = app(REVIEW)
    assert_clean(at)
    assert at.button(key="rv-accept-informative").disabled
    assert any("Enter your name" in i.value for i in at.info)


def test_every_queue_order_runs(app, db):
    at = app(REVIEW, reviewer="ana")
    for strategy in STRATEGIES:
        at.selectbox(key="rv-strategy").set_value(strategy).run()
        assert_clean(at)
        assert "in queue" in progress(at)


def test_a_duplicate_group_is_one_queue_row_and_one_click_reviews_all_of_it(app, db, demo_run, monkeypatch):
    def grouped(frame, data_folder, max_distance=6):  # a made-up grouping: one event, split and predicted label
        return frame.assign(duplicate_group=frame["event"] + "/" + frame["split"] + "/" + frame["predicted_label"])

    monkeypatch.setattr(duplicate_groups, "with_duplicate_groups", grouped)
    at = app(REVIEW, reviewer="ana")
    assert_clean(at)
    shown = pd.read_parquet(demo_run / "informative" / "predictions.parquet")  # the queue's task
    groups = shown.groupby(["event", "split", "predicted_label"]).size()
    assert progress(at).startswith(f"**0 reviewed / {len(groups):,} in queue")
    box = next(c for c in at.checkbox if c.key.startswith("rv-group-"))
    # the made-up groups join posts whose words differ: applying to all is offered, off by default
    assert "near-duplicates" in box.label and not box.value
    box.check().run()
    box = next(c for c in at.checkbox if c.key.startswith("rv-group-"))
    assert box.value
    at.button(key="rv-accept-informative").click().run()
    assert_clean(at)
    history = CorrectionStore(db).history()
    assert len(history) == int(box.label.split()[5]) > 1 and history["batch"].nunique() == 1
    assert progress(at).startswith(f"**1 reviewed / {len(groups):,} in queue")


@pytest.mark.parametrize("fault", ["not sqlite", "newer schema"])
def test_a_bad_corrections_file_is_named_and_the_queue_stays_read_only(app, db, fault):
    db.parent.mkdir(parents=True)
    if fault == "not sqlite":
        db.write_text("post,label\n1,informative\n" * 100)
    else:
        CorrectionStore(db)
        with sqlite3.connect(db) as handle:
            handle.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    at = app(REVIEW, reviewer="ana")
    assert not at.exception
    assert len(at.error) == 1 and literal.inline(str(db)) in at.error[0].value and "read-only" in at.error[0].value
    assert shown_post(at)  # the queue and the post are still shown
    assert at.button(key="rv-accept-informative").disabled
    at.switch_page(page_file("overview")).run()
    assert_clean(at)


def test_a_database_that_cannot_be_written_shows_its_reviews_and_records_none(app, db, monkeypatch):
    """A shared copy on a read-only mount: its reviews are read, the buttons are off, and the page says why."""
    at = app(REVIEW, reviewer="ana")
    at.button(key="rv-accept-informative").click().run()
    monkeypatch.setattr(review_desk, "CorrectionStore", lambda path: CorrectionStore(path, create=False))
    at = app(REVIEW, reviewer="ana")
    assert_clean(at)
    assert any("can be read but not written" in w.value for w in at.warning)
    assert at.button(key="rv-accept-informative").disabled
    assert progress(at).startswith("**1 reviewed /")  # the review recorded before is read
    assert len(CorrectionStore(db).history()) == 1
