"""Hostile corrections databases and reviews: each fault of a database file refused as a
DatabaseError whose `kind` and words say which fault it is (locked, read-only, not a database, a
newer schema, ...), never a bare OS error nor one message for all; a file or folder that cannot be
written opens read-only; a new database is made under the umask; and `train.py --corrections`
applies a review to the post it was about only, whatever row number or run folder names it now.
HOSTILE_CASES is this surface's list (tests/hostile_cases.py counts every surface's). What needs
another user (permissions) is in tests/test_hostile_permissions.py."""

from __future__ import annotations

import dataclasses
import os
import re
import sqlite3
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from crisis_model.corrections import CorrectionStore, Review, store
from crisis_model.errors import DatabaseError, DataError
from crisis_model.predictions import post_key
from crisis_model.training.corrections import UnknownPostsWarning, apply_corrections


def review(post: str = "1", label: str = "not_informative", run: str = "runs/a", key: str | None = None) -> Review:
    return Review(post, "informative", "informative", label, run, "ana", post_key=key)


# ------------------------------------------------------------------------------ database files


@dataclass(frozen=True)
class FileCase:
    id: str
    make: Callable[[Path], Path]  # makes the database's path in the folder given, returns it
    kind: str
    words: str
    create: bool = True


def text_file(folder: Path) -> Path:
    (folder / "c.db").write_text("this is a text file, not a database\n" * 200)
    return folder / "c.db"


def another_programs(folder: Path) -> Path:
    with sqlite3.connect(folder / "c.db") as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    return folder / "c.db"


def newer_schema(folder: Path) -> Path:
    CorrectionStore(folder / "c.db")
    with sqlite3.connect(folder / "c.db") as db:
        db.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    return folder / "c.db"


def damaged(folder: Path) -> Path:
    """A database whose schema page is overwritten after its 100-byte header."""
    CorrectionStore(folder / "c.db").record([review()], "correct")
    data = bytearray((folder / "c.db").read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)
    (folder / "c.db").write_bytes(bytes(data))
    return folder / "c.db"


def under_a_file(folder: Path) -> Path:
    (folder / "notes.txt").write_text("a file")
    return folder / "notes.txt" / "c.db"


def two_levels_under_a_file(folder: Path) -> Path:
    (folder / "notes.txt").write_text("a file")
    return folder / "notes.txt" / "sub" / "c.db"


def a_fifo(folder: Path) -> Path:
    os.mkfifo(folder / "c.db")
    return folder / "c.db"


def a_folder(folder: Path) -> Path:
    (folder / "c.db").mkdir()
    return folder / "c.db"


def empty_file(folder: Path) -> Path:
    (folder / "c.db").write_bytes(b"")
    return folder / "c.db"


FILE_CASES = [
    FileCase("not-sqlite", text_file, "not_a_database", "not an SQLite database"),
    FileCase("not-sqlite-reading", text_file, "not_a_database", "not an SQLite database", create=False),
    FileCase("another-programs-database", another_programs, "other_program", "an SQLite database of another program"),
    FileCase("newer-schema", newer_schema, "newer_schema", "written by a newer CrisisLens"),
    FileCase("newer-schema-reading", newer_schema, "newer_schema", "written by a newer CrisisLens", create=False),
    FileCase("damaged", damaged, "damaged", "a damaged SQLite database"),
    FileCase("damaged-reading", damaged, "damaged", "a damaged SQLite database", create=False),
    FileCase("under-a-regular-file", under_a_file, "cannot_create", "cannot create the corrections database"),
    FileCase("folder-uncreatable", two_levels_under_a_file, "cannot_create", "cannot create the corrections database"),
    FileCase("a-fifo", a_fifo, "not_a_database", "not a file but a named pipe (FIFO)"),
    FileCase("a-folder", a_folder, "not_a_database", "not a file but a folder"),
    FileCase("missing-reading", lambda folder: folder / "absent.db", "missing", "no such corrections database", False),
    FileCase("empty-reading", empty_file, "not_a_database", "holds no reviews yet", create=False),
    FileCase("nul-in-the-path", lambda folder: folder / "c\x00.db", "no_access", "not a usable path"),
]


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda case: case.id)
def test_a_bad_database_file_is_refused_saying_which_fault(case, tmp_path) -> None:
    path = case.make(tmp_path)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(DatabaseError, match=re.escape(case.words)) as refused:
        CorrectionStore(path, create=case.create)
    assert refused.value.kind == case.kind and refused.value.kind in store.FAULT_KINDS
    assert str(refused.value).startswith(str(path)) and "\n" not in str(refused.value)
    if before is not None:
        assert path.read_bytes() == before, "a refused file is not written"


# ------------------------------------------------------------------------------ locks, read-only, modes


def test_a_lock_held_too_long_is_named_as_a_lock(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 0.2)
    corrections = CorrectionStore(tmp_path / "c.db")
    holder = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseError, match="locked by another program") as refused:
            corrections.record([review()], "correct")
        assert refused.value.kind == "locked"
        assert corrections.history().empty, "a writer's lock does not stop readers (WAL)"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    corrections.record([review()], "correct")
    assert len(corrections.history()) == 1


@pytest.mark.parametrize("cannot_write", ["file", "folder"])
def test_a_database_that_cannot_be_written_opens_read_only(tmp_path, monkeypatch, cannot_write) -> None:
    """What a read-only mount or another user's file gives (tests/test_hostile_permissions.py does it
    for real, as another user): the reviews are read, recording one is refused as read-only."""
    CorrectionStore(tmp_path / "c.db").record([review("p1")], "correct")
    monkeypatch.setattr(store, "_writable", lambda path: False)
    if cannot_write == "folder":
        monkeypatch.setattr(store, "_writable_folder", lambda path: False)
    shared = CorrectionStore(tmp_path / "c.db")
    assert shared.read_only and shared.latest()["post_id"].tolist() == ["p1"]
    with pytest.raises(DatabaseError, match="opened read-only") as refused:
        shared.record([review("p2")], "correct")
    assert refused.value.kind == "read_only"


@pytest.mark.parametrize("umask", [0o002, 0o077])
def test_a_new_database_is_made_under_the_umask(tmp_path, umask) -> None:
    before = os.umask(umask)
    try:
        CorrectionStore(tmp_path / "c.db").record([review()], "correct")
    finally:
        os.umask(before)
    assert (tmp_path / "c.db").stat().st_mode & 0o777 == 0o666 & ~umask


def version_one(path: Path) -> None:
    with sqlite3.connect(path) as db:
        for statement in store._statements(store.MIGRATIONS[0]):
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO reviews (action, post_id, task, label_before, label_after, run, reviewer, created_at, "
                   "batch) VALUES ('correct', 'p1', 'informative', 'a', 'b', 'r', 'ana', 'now', 'x')")  # fmt: skip


@pytest.mark.parametrize("create", [True, False], ids=["migrated", "read-as-it-is"])
def test_a_database_of_the_first_schema_is_read_and_migrated(tmp_path, create) -> None:
    version_one(tmp_path / "c.db")
    old = CorrectionStore(tmp_path / "c.db", create=create)
    assert old.history()["post_key"].isna().all() and old.history()["post_id"].tolist() == ["p1"]
    with sqlite3.connect(tmp_path / "c.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == (store.SCHEMA_VERSION if create else 1)


MODE_CASES = ["lock-held", "cannot-write-file", "cannot-write-folder", "umask-002", "umask-077", "schema-1-migrated",
              "schema-1-read"]  # fmt: skip


# ------------------------------------------------------------------------------ which post a review is about


@dataclass(frozen=True)
class ReviewCase:
    id: str
    review: Review
    applied: bool
    left_out: dict[str, int] = field(default_factory=dict)


POSTS = pd.DataFrame(
    {
        "post_id": ["1", "2", "3"],
        "text": ["Bridge collapsed on route 9", "Shelter open downtown", "Lovely day"],
        "image_path": ["/data/a/photo1.jpg", "", ""],
        "label": ["informative", "informative", "not_informative"],
        "split": ["train", "dev", "test"],
    }
)
OTHER_FILE = "Row one of another posts file"  # its post "1" is another post
RUN = "REVIEWED_RUN"  # replaced by a run folder whose predictions name post 1 as POSTS does
OTHER_RUN = "OTHER_RUN"  # replaced by a run folder whose predictions name post 1 as another file does
KEY = post_key(POSTS.loc[0, "text"], "/moved/elsewhere/photo1.jpg")  # the photo's folder does not count

REVIEW_CASES = [
    ReviewCase("key-recorded-and-matching", review(key=KEY, run="runs/moved-away"), applied=True),
    ReviewCase(
        "key-of-another-posts-files-row", review(key=post_key(OTHER_FILE, ""), run=RUN), False, {"other_posts": 1}
    ),  # fmt: skip
    ReviewCase(
        "key-of-another-photo", review(key=post_key(POSTS.loc[0, "text"], "other.jpg")), False, {"other_posts": 1}
    ),  # fmt: skip
    ReviewCase("no-key-run-names-the-same-post", review(run=RUN), applied=True),
    ReviewCase("no-key-run-names-another-post", review(run=OTHER_RUN), False, {"other_posts": 1}),
    ReviewCase("no-key-run-folder-moved", review(run="runs/moved-away"), False, {"unmatched_posts": 1}),
    ReviewCase("no-key-run-without-predictions", review(run="EMPTY_RUN"), False, {"unmatched_posts": 1}),
    ReviewCase("a-post-this-data-lacks", review(post="99", key=KEY), False, {"unknown_posts": 1}),
]


def run_folder(root: Path, name: str, first_text: str | None) -> str:
    folder = root / name
    folder.mkdir()
    if first_text is not None:
        predictions = POSTS.assign(text=[first_text, *POSTS["text"][1:]])
        predictions.to_parquet(folder / "predictions.parquet")
    return str(folder)


@pytest.mark.parametrize("case", REVIEW_CASES, ids=lambda case: case.id)
def test_a_review_is_applied_to_the_post_it_was_about_only(case, tmp_path) -> None:
    runs = {
        RUN: run_folder(tmp_path, "reviewed", POSTS.loc[0, "text"]),
        OTHER_RUN: run_folder(tmp_path, "other", OTHER_FILE),
        "EMPTY_RUN": run_folder(tmp_path, "empty", None),
    }
    given = dataclasses.replace(case.review, run=runs.get(case.review.run, case.review.run))
    CorrectionStore(tmp_path / "c.db").record([given], "correct")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = apply_corrections(POSTS, tmp_path / "c.db", "informative", ["informative", "not_informative"])
    assert len([w for w in caught if issubclass(w.category, UnknownPostsWarning)]) == len(case.left_out)
    assert bool(frame["corrected"].any()) == case.applied
    assert (frame.loc[0, "label"] == "not_informative") == (case.applied and given.post_id == "1")
    report = frame.attrs["corrections"]
    for kind in ("unknown_posts", "other_posts", "unmatched_posts"):
        assert report[kind] == case.left_out.get(kind, 0), kind


def test_a_label_of_another_task_refuses_the_whole_database(tmp_path) -> None:
    CorrectionStore(tmp_path / "c.db").record([review(post="99", label="flood", key=KEY)], "correct")
    with pytest.raises(DataError, match="gives post '99' the informative label 'flood'"):
        apply_corrections(POSTS, tmp_path / "c.db", "informative", ["informative", "not_informative"])


HOSTILE_CASES = [*FILE_CASES, *MODE_CASES, *REVIEW_CASES, "label-of-another-task"]
