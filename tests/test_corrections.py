"""The corrections database, the review queue and the reviewed set's export: history kept (the latest
review wins, an undo takes one back), many writers at once lose nothing, a SIGKILL during a burst
of writes loses at most the write in flight, bad files are refused naming them, the queue's
strategies and duplicate groups, and the export's round trip."""

from __future__ import annotations

import io
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from crisis_dashboard.export import to_csv, to_parquet
from crisis_model.corrections import SCHEMA_VERSION, CorrectionStore, Review, build_queue, group_members
from crisis_model.corrections.export import EXPORT_COLUMNS, reviewed_set
from crisis_model.corrections.queue import margin
from crisis_model.errors import DatabaseError


def review(post: str, after: str, before: str = "informative", reviewer: str = "ana", **kw) -> Review:
    return Review(post, "informative", before, after, run="runs/demo/informative", reviewer=reviewer, **kw)


# ------------------------------------------------------------------------------ history


def test_the_latest_review_wins_and_the_history_stays(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "c.db")
    store.record([review("p1", "informative")], "accept")
    store.record([review("p1", "not_informative", reviewer="bo")], "correct")
    store.record([review("p2", "not_informative")], "correct")
    latest = store.latest("informative").set_index("post_id")
    assert latest.loc["p1", "label_after"] == "not_informative" and latest.loc["p1", "reviewer"] == "bo"
    assert len(store.history()) == 3


def test_an_undo_takes_one_click_back_and_the_review_before_it_wins_again(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "c.db")
    store.record([review("p1", "not_informative")], "correct")
    second = store.record([review("p1", "informative"), review("p2", "informative")], "accept")
    assert store.undo(second, "ana") == 2
    latest = store.latest()
    assert latest["post_id"].tolist() == ["p1"] and latest["label_after"].tolist() == ["not_informative"]
    history = store.history()
    assert history["action"].tolist() == ["correct", "accept", "accept", "undo", "undo"]


def test_rows_cannot_be_updated_or_deleted(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "c.db")
    store.record([review("p1", "informative")], "accept")
    with sqlite3.connect(store.path) as db:
        for statement in ("UPDATE reviews SET label_after = 'x'", "DELETE FROM reviews"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)


def test_a_new_database_is_in_wal_mode_at_the_current_schema(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "sub" / "c.db")
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


# ------------------------------------------------------------------------------ bad files


def test_a_file_that_is_not_sqlite_is_refused_naming_it(tmp_path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is a text file, not a database\n" * 200)
    for create in (True, False):
        with pytest.raises(DatabaseError, match="notes.db: not an SQLite database") as refused:
            CorrectionStore(path, create=create)
        assert refused.value.kind == "not_a_database"
    assert path.read_bytes().startswith(b"this is a text file")


def test_a_database_from_a_newer_schema_is_refused_naming_it(tmp_path) -> None:
    path = tmp_path / "future.db"
    CorrectionStore(path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(
        DatabaseError, match=f"future.db: written by a newer CrisisLens \\(schema version {SCHEMA_VERSION + 1}"
    ):
        CorrectionStore(path)


def test_another_programs_sqlite_database_is_refused(tmp_path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    with pytest.raises(DatabaseError, match="other.db: an SQLite database of another program"):
        CorrectionStore(path)


def test_reading_a_missing_database_is_refused(tmp_path) -> None:
    with pytest.raises(DatabaseError, match="absent.db: no such corrections database"):
        CorrectionStore(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


# ------------------------------------------------------------------------------ many writers, kills


def _write_many(path: str, reviewer: str, count: int) -> None:
    store = CorrectionStore(path)
    for i in range(count):
        store.record([review(f"{reviewer}-{i}", "informative", reviewer=reviewer)], "accept")


def test_sessions_writing_at_once_lose_nothing(tmp_path) -> None:
    """Four sessions (Streamlit runs each in a thread of its own), each with its own store, as the
    dashboard's sessions have."""
    path = str(tmp_path / "c.db")
    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(_write_many, path, f"r{k}", 40) for k in range(4)]:
            done.result()
    history = CorrectionStore(path).history()
    assert len(history) == 160 and history.groupby("reviewer").size().tolist() == [40] * 4
    assert history["id"].is_unique


BURST = """
import sys
from crisis_model.corrections import CorrectionStore, Review
store = CorrectionStore(sys.argv[1])
for i in range(100000):
    store.record([Review(f"p{i}", "informative", "informative", "informative", "run", "burst")], "accept")
    print(i, flush=True)
"""


def test_a_sigkill_during_a_burst_of_writes_loses_at_most_the_write_in_flight(tmp_path, python_process) -> None:
    path = tmp_path / "c.db"
    CorrectionStore(path)
    for seed in range(3):
        acknowledged = len(CorrectionStore(path).history())
        process = python_process("-c", BURST, str(path), stderr=None)
        printed = [process.stdout.readline() for _ in range(20)]  # the burst is under way
        time.sleep(0.05 + 0.1 * seed)
        process.send_signal(signal.SIGKILL)
        printed += process.stdout.read().split()
        process.wait()
        stored = len(CorrectionStore(path).history())
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert acknowledged + len(printed) <= stored <= acknowledged + len(printed) + 1


# ------------------------------------------------------------------------------ the queue


def predictions(n: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.0, 1.0, n)
    return pd.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(n)],
            "true_label": ["informative", "not_informative"] * (n // 2),
            "predicted_label": np.where(p >= 0.5, "informative", "not_informative"),
            "confidence": np.maximum(p, 1 - p),
            "prob_informative": p,
            "prob_not_informative": 1 - p,
            "reliance_words": np.linspace(-0.4, 0.4, n),
            "reliance_photo": np.linspace(0.3, -0.3, n),
        }
    )


def test_least_confident_puts_the_smallest_margin_first() -> None:
    frame = predictions()
    queue = build_queue(frame, "least_confident")
    assert queue["queue_score"].is_monotonic_increasing and len(queue) == len(frame)
    assert queue["post_id"].iloc[0] == frame.loc[margin(frame).idxmin(), "post_id"]


def test_disagreement_keeps_only_posts_whose_label_differs_from_the_answer() -> None:
    frame = predictions()
    queue = build_queue(frame, "label_disagreement")
    wrong = frame[frame["true_label"] != frame["predicted_label"]]
    assert set(queue["post_id"]) == set(wrong["post_id"]) and queue["queue_score"].is_monotonic_decreasing


def test_words_vs_photo_keeps_posts_whose_parts_pull_opposite_ways() -> None:
    frame = predictions()
    queue = build_queue(frame, "words_vs_photo")
    assert len(queue) > 0
    assert (queue["reliance_words"] * queue["reliance_photo"] < 0).all()
    assert queue["queue_score"].is_monotonic_decreasing


def test_the_random_audit_is_a_permutation_fixed_by_its_seed() -> None:
    frame = predictions(20)
    first, again, other = (build_queue(frame, "random", seed=s)["post_id"].tolist() for s in (1, 1, 2))
    assert first == again and first != other and sorted(first) == sorted(frame["post_id"])


def test_a_duplicate_group_is_one_row_of_the_queue_with_its_size() -> None:
    frame = predictions().assign(duplicate_group=["g1", "g1", None, "g2", "", "g1", "g2", None])
    queue = build_queue(frame, "least_confident")
    assert len(queue) == 5  # g1, g2 and three posts of their own
    sizes = dict(zip(queue["group_key"], queue["group_size"]))
    assert sizes["group:g1"] == 3 and sizes["group:g2"] == 2 and sizes["post:p2"] == 1
    assert sorted(group_members(frame, "p5")) == ["p0", "p1", "p5"] and group_members(frame, "p4") == ["p4"]


# ------------------------------------------------------------------------------ export


def test_the_reviewed_set_shows_the_settled_label_that_training_takes(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "c.db")
    store.record([Review("p1", "informative", "informative", "not_informative", "run", "ana")], "correct")
    store.record([Review("p1", "informative", "informative", "informative", "run", "ben")], "accept")
    store.settle("informative", "p1", "not_informative", "lead")
    table = reviewed_set(store.history(), {"informative": predictions()}, store.settlements())
    trained_on = store.latest("informative")["label_after"].tolist()
    assert table["reviewed_label"].tolist() == trained_on == ["not_informative"]
    assert table["corrected"].tolist() == [True] and table["settled_by"].tolist() == ["lead"]


def test_the_reviewed_set_survives_a_csv_and_a_parquet_round_trip(tmp_path) -> None:
    store = CorrectionStore(tmp_path / "c.db")
    store.record([review("p1", "not_informative"), review("p2", "not_informative")], "correct")
    store.record([review("p3", "informative")], "accept")
    store.record([review("zz", "informative", duplicate_group="g7")], "accept")  # not in the predictions
    table = reviewed_set(store.history(), {"informative": predictions()})
    assert list(table.columns) == list(EXPORT_COLUMNS) and len(table) == 4
    assert table["corrected"].tolist() == [True, True, False, False]
    assert table.loc[table["post_id"] == "zz", "duplicate_group"].item() == "g7"
    from_parquet = pd.read_parquet(io.BytesIO(to_parquet(table)))
    pd.testing.assert_frame_equal(from_parquet, table)
    from_csv = pd.read_csv(
        io.BytesIO(to_csv(table)),
        dtype={c: "string" for c in EXPORT_COLUMNS},
        keep_default_na=False,
        na_values=[""],
    )
    for column in ("confidence", "reliance_words", "reliance_photo"):
        from_csv[column] = from_csv[column].astype(float)
    from_csv["corrected"] = from_csv["corrected"].map({"True": True, "False": False})
    pd.testing.assert_frame_equal(from_csv, table, check_dtype=False)
