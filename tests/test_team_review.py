"""A team reviewing on one database (issue 20): claims give two reviewers different posts and expire,
skips and undo persist across restarts (a new store on the same file), a review of a post someone
else reviewed after the page was drawn is refused with their label, a database of schema 2 is
migrated keeping its reviews, disagreements are listed and the admin's settled label wins for
training, and Cohen's kappa per reviewer pair."""

from __future__ import annotations

import sqlite3
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from crisis_model.corrections import SCHEMA_VERSION, CorrectionStore, Review
from crisis_model.corrections import store as store_module
from crisis_model.corrections.agreement import cohen_kappa, disagreements, kappa_table
from crisis_model.corrections.claims import claim_next, live_claims, release, skip, skipped, unskip
from crisis_model.errors import ReviewConflict

TASK = "informative"
POSTS = [f"p{i}" for i in range(6)]


def review(post: str, after: str, reviewer: str, before: str = "informative") -> Review:
    return Review(post, TASK, before, after, run="runs/demo/informative", reviewer=reviewer)


def test_two_reviewers_get_different_posts_and_a_reviewed_post_is_not_handed_out(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "c.db")
    ana = claim_next(store, TASK, POSTS, "ana")
    ben = claim_next(store, TASK, POSTS, "ben")
    assert (ana, ben) == ("p0", "p1")
    store.record([review(ana, "informative", "ana")], "accept")
    release(store, TASK, "ana")
    assert claim_next(store, TASK, POSTS, "cy") == "p2"  # p0 is reviewed, p1 is Ben's
    assert {c.reviewer: c.post_id for c in live_claims(store, TASK)} == {"ben": "p1", "cy": "p2"}


def test_a_reviewer_holds_one_claim_per_task_and_keeps_the_post_they_are_on(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "c.db")
    assert claim_next(store, TASK, POSTS, "ana") == "p0"
    assert claim_next(store, TASK, POSTS, "ana", keep="p0") == "p0"
    assert claim_next(store, TASK, POSTS[1:], "ana") == "p1"  # moving on gives p0 up
    assert [c.post_id for c in live_claims(store)] == ["p1"]
    assert claim_next(store, TASK, POSTS, "ben") == "p0"


def test_a_claim_expires(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "c.db")
    assert claim_next(store, TASK, POSTS[:1], "ana", ttl_s=0.2) == "p0"
    assert claim_next(store, TASK, POSTS[:1], "ben") is None
    time.sleep(0.3)
    assert claim_next(store, TASK, POSTS[:1], "ben") == "p0"


def test_skips_persist_per_reviewer_across_a_restart_until_taken_back(tmp_path) -> None:
    path = tmp_path / "c.db"
    store = CorrectionStore(path)
    assert claim_next(store, TASK, POSTS, "ana") == "p0"
    skip(store, TASK, "p0", "ana")
    store = CorrectionStore(path)  # a server restart
    assert skipped(store, TASK, "ana") == ["p0"] and skipped(store, TASK, "ben") == []
    assert claim_next(store, TASK, POSTS, "ana") == "p1"
    assert claim_next(store, TASK, POSTS, "ben") == "p0"  # skipped by Ana only, and her claim went
    assert unskip(store, TASK, "ana") == 1 and skipped(store, TASK, "ana") == []


def test_undo_after_a_restart_takes_back_the_reviewers_own_last_click_only(tmp_path) -> None:
    path = tmp_path / "c.db"
    store = CorrectionStore(path)
    first = store.record([review("p0", "not_informative", "ana")], "correct")
    store.record([review("p1", "informative", "ben")], "accept")
    second = store.record([review("p2", "informative", "ana")], "accept")
    store = CorrectionStore(path)
    assert store.undoable("ana")["batch"].tolist() == [second, first]
    with pytest.raises(ValueError, match="ben"):
        store.undo(store.undoable("ben")["batch"].iloc[0], "ana")
    assert store.undo(second, "ana") == 1
    assert store.undo(second, "ana") == 0  # undone already: nothing more
    assert store.undoable("ana")["batch"].tolist() == [first]
    assert sorted(store.latest(TASK)["post_id"]) == ["p0", "p1"]


def test_a_review_after_the_page_was_drawn_is_refused_with_who_said_what(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "c.db")
    store.record([review("p9", "informative", "cy")], "accept")
    seen = int(store.history()["id"].max())  # Ben's page is drawn
    store.record([review("p0", "not_informative", "ana")], "correct")
    with pytest.raises(ReviewConflict, match=r"ana labelled this not_informative at \d\d:\d\d UTC") as caught:
        store.record([review("p0", "informative", "ben")], "accept", seen_up_to=seen)
    assert [(o.reviewer, o.label) for o in caught.value.earlier] == [("ana", "not_informative")]
    assert len(store.history()) == 2  # nothing written
    store.record([review("p1", "informative", "ben")], "accept", seen_up_to=seen)  # another post: fine
    store.record([review("p0", "informative", "ben")], "accept")  # Ben chose his: both stay in the history
    assert store.history()["reviewer"].tolist() == ["cy", "ana", "ben", "ben"]


def test_a_schema_2_database_is_migrated_keeping_its_reviews(tmp_path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for version, script in enumerate(store_module.MIGRATIONS[:2]):
            for statement in store_module._statements(script):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")
        db.execute(
            "INSERT INTO reviews (action, post_id, task, label_before, label_after, run, reviewer, created_at, batch) "
            "VALUES ('correct', 'p0', 'informative', 'informative', 'not_informative', 'r', 'ana', '2026', 'b0')"
        )
    old = CorrectionStore(path, create=False)  # read only: not migrated, still readable
    assert old.version == 2 and skipped(old, TASK, "ana") == [] and old.settlements().empty
    store = CorrectionStore(path)
    assert store.version == SCHEMA_VERSION == 3
    assert store.latest(TASK)["label_after"].tolist() == ["not_informative"]
    assert claim_next(store, TASK, ["p0", "p1"], "ben") == "p1"


def test_disagreements_are_listed_and_the_settled_label_wins(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "c.db")
    store.record([review("p0", "not_informative", "ana")], "correct")
    store.record([review("p0", "informative", "ben")], "accept")
    store.record([review("p1", "informative", "ana"), review("p1", "informative", "ben")], "accept")
    table = disagreements(store.history(), store.settlements(), TASK)
    assert table[["post_id", "labels", "settled"]].values.tolist() == [
        ["p0", [("ana", "not_informative"), ("ben", "informative")], ""]
    ]
    assert store.latest(TASK).set_index("post_id").loc["p0", "label_after"] == "informative"  # Ben's, the latest
    store.settle(TASK, "p0", "not_informative", "admin@example.org")
    latest = store.latest(TASK).set_index("post_id")
    assert latest.loc["p0", ["label_after", "settled_by"]].tolist() == ["not_informative", "admin@example.org"]
    assert disagreements(store.history(), store.settlements(), TASK)["settled"].tolist() == ["not_informative"]


def test_training_reads_the_settled_label(tmp_path) -> None:
    from crisis_model.predictions import post_keys
    from crisis_model.training.corrections import apply_corrections

    frame = pd.DataFrame({"post_id": ["p0"], "label": ["informative"], "text": ["flood"], "image_path": [""]})
    key = post_keys(frame)[0]
    store = CorrectionStore(tmp_path / "c.db")
    for reviewer, label in (("ana", "not_informative"), ("ben", "informative")):
        store.record([Review("p0", TASK, "informative", label, "r", reviewer, post_key=key)], "correct")
    labels = ["informative", "not_informative"]
    assert apply_corrections(frame, store.path, TASK, labels)["label"].tolist() == ["informative"]  # Ben's, latest
    store.settle(TASK, "p0", "not_informative", "admin")
    assert apply_corrections(frame, store.path, TASK, labels)["label"].tolist() == ["not_informative"]


def test_kappa_matches_sklearn_and_needs_twenty_shared_posts(tmp_path) -> None:
    rng = np.random.default_rng(0)
    labels = ["informative", "not_informative"]
    a = rng.choice(labels, 30)
    b = np.where(rng.uniform(size=30) < 0.8, a, rng.choice(labels, 30))
    store = CorrectionStore(tmp_path / "c.db")
    store.record([review(f"p{i}", a[i], "ana") for i in range(30)], "correct")
    store.record([review(f"p{i}", b[i], "ben") for i in range(30)], "correct")
    store.record([review(f"p{i}", a[i], "cy") for i in range(19)], "correct")  # 19 shared: no kappa
    table = kappa_table(store.history())
    assert table[["reviewer_a", "reviewer_b", "shared_posts"]].values.tolist() == [["ana", "ben", 30]]
    assert table["agreed"].iloc[0] == int((a == b).sum())
    assert table["kappa"].iloc[0] == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(pd.Series(a), pd.Series(a)) == pytest.approx(1.0)
