"""The reviewers' corrections, kept in one SQLite file: every click is a row, nothing is overwritten.

    store = CorrectionStore("workspace/corrections.db")       # created and migrated on first use
    batch = store.record([Review("123_0", "informative", "informative", "not_informative",
                                 run="runs/demo/informative", reviewer="ana")], action="correct")
    store.latest("informative")                               # one row per post: the latest review wins
    store.undo(batch, reviewer="ana")                         # appends an 'undo' row; the history stays

Claims and skips (claims.py) and the settled labels of disagreements (agreement.py) live in the
same file, from schema version 3.

Why the standard library's sqlite3 and not SQLAlchemy + Alembic: the store is one append-only
table and four queries; sqlite3 needs no package, and its `PRAGMA user_version` with a list of
migration scripts is all the versioning one table needs, where Alembic would bring two packages
and a migrations folder. SQLite itself gives what the store must guarantee:

- many writers: WAL mode lets readers go on while one writer writes; each write is one short
  `BEGIN IMMEDIATE` transaction, and a writer waits (up to BUSY_TIMEOUT_S) for the one before it,
  so two analysts clicking at once both land;
- a kill at any moment: a transaction is committed whole or not at all (`synchronous=FULL`), so a
  SIGKILL loses at most the write in flight and the file stays readable;
- history: triggers refuse UPDATE and DELETE; an undo is a new row naming the click it takes back.

Every fault raises DatabaseError naming the file, with its `kind` (FAULT_KINDS) in the message's
own words: a lock another program holds, a read-only file, a file that is not SQLite, another
program's database, a schema newer than SCHEMA_VERSION; nothing is written to a file it refuses. A
database whose file or folder cannot be written (a shared copy on a read-only mount) opens
read-only: its reviews are read, and recording raises DatabaseError(kind="read_only"). A new file
is created under the umask, as any new file is (SQLite alone would make it 0644, so a team whose
umask shares files could not all record).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from crisis_model.errors import DatabaseError, ReviewConflict
from crisis_model.file_faults import os_reason, path_fault

BUSY_TIMEOUT_S = 30.0  # how long a write waits for another session's write to finish
ACTIONS = ("accept", "correct")  # a review; 'undo' rows take a review's batch back

# Migration k takes the schema from version k to k + 1; a database records its version in
# PRAGMA user_version. Append new scripts; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL CHECK (action IN ('accept', 'correct', 'undo')),
        post_id TEXT NOT NULL,
        task TEXT NOT NULL,
        label_before TEXT,           -- the model's answer the reviewer saw
        label_after TEXT,            -- the label the reviewer gave (the answer itself for 'accept')
        run TEXT NOT NULL,           -- the run folder whose answer was reviewed
        reviewer TEXT NOT NULL,
        created_at TEXT NOT NULL,    -- UTC, ISO 8601
        batch TEXT NOT NULL,         -- one click; a correction of a duplicate group writes one row per post
        duplicate_group TEXT,        -- the group the click applied to, NULL for one post
        retracts TEXT                -- for 'undo': the batch it takes back
    );
    CREATE INDEX reviews_by_post ON reviews (task, post_id, id);
    CREATE INDEX reviews_by_batch ON reviews (batch);
    CREATE TRIGGER reviews_no_update BEFORE UPDATE ON reviews
        BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
    CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews
        BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
    """,
    """
    ALTER TABLE reviews ADD COLUMN post_key TEXT;  -- what the post was (predictions.post_key), NULL before v2
    """,
    # v3, a team on one server: who holds which post (claims.py), what each reviewer skipped, and the
    # label an admin settled where two reviewers disagree (agreement.py). Claims and skips are state, not
    # history (a claim expires, a reviewer may take skips back); settlements are history, append-only.
    """
    CREATE TABLE claims (
        task TEXT NOT NULL,
        post_id TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        claimed_at TEXT NOT NULL,    -- UTC, ISO 8601
        expires REAL NOT NULL,       -- Unix seconds: after it the post is free again
        PRIMARY KEY (task, post_id)
    );
    CREATE INDEX claims_by_reviewer ON claims (reviewer, task);
    CREATE TABLE skips (
        reviewer TEXT NOT NULL,
        task TEXT NOT NULL,
        post_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (reviewer, task, post_id)
    );
    CREATE TABLE settlements (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task TEXT NOT NULL,
        post_id TEXT NOT NULL,
        label TEXT NOT NULL,         -- the label that wins for training
        admin TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX settlements_by_post ON settlements (task, post_id, id);
    CREATE TRIGGER settlements_no_update BEFORE UPDATE ON settlements
        BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
    CREATE TRIGGER settlements_no_delete BEFORE DELETE ON settlements
        BEGIN SELECT RAISE(ABORT, 'settlements are append-only'); END;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
COLUMNS = (
    "id",
    "action",
    "post_id",
    "task",
    "label_before",
    "label_after",
    "run",
    "reviewer",
    "created_at",
    "batch",
    "duplicate_group",
    "retracts",
    "post_key",
)
SETTLEMENT_COLUMNS = ("id", "task", "post_id", "label", "admin", "created_at")
FAULT_KINDS = {  # DatabaseError.kind -> what it means for the user
    "missing": "no database at that path (and none is to be created)",
    "cannot_create": "the database or its folder cannot be created there",
    "no_access": "the file or its folder may not be read by this user",
    "not_a_database": "the file is not an SQLite database (or not a file at all)",
    "other_program": "an SQLite database of another program",
    "newer_schema": "written by a newer CrisisLens",
    "damaged": "an SQLite database whose pages do not add up",
    "locked": "another program holds a lock on it for too long; trying again later may work",
    "read_only": "the file or its folder cannot be written: reviews are read, not recorded",
    "disk": "the disk failed or is full",
    "unreadable": "any other fault of reading it",
}
# sqlite3's error names (Python 3.11+: `sqlite_errorname`), by prefix -> the kind and its words
_SQLITE_FAULTS = (
    ("SQLITE_BUSY", "locked", f"locked by another program for over {BUSY_TIMEOUT_S:g} s; try again when it is done"),
    ("SQLITE_LOCKED", "locked", "locked by another connection; try again when it is done"),
    ("SQLITE_READONLY", "read_only", "read-only (the file or its folder cannot be written): no review can be recorded"),
    ("SQLITE_NOTADB", "not_a_database", "not an SQLite database, so not a CrisisLens corrections database"),
    ("SQLITE_CORRUPT", "damaged", "a damaged SQLite database; restore a copy, or choose another file"),
    ("SQLITE_CANTOPEN", "no_access", "cannot be opened (its folder is missing or may not be read)"),
    ("SQLITE_IOERR", "disk", "a disk error while reading or writing it"),
    ("SQLITE_FULL", "disk", "the disk is full"),
)


@dataclass(frozen=True)
class Review:
    """One post's review for one task."""

    post_id: str
    task: str
    label_before: str | None  # the model's answer
    label_after: str  # the reviewer's label
    run: str
    reviewer: str
    duplicate_group: str | None = None
    # what the post was (crisis_model.predictions.post_key of its text and photo): train.py applies the
    # review to a post of that key only, whatever row number or run folder names it later
    post_key: str | None = None


class CorrectionStore:
    """One corrections database. Every method opens its own short-lived connection, so one store may
    serve several threads (Streamlit's sessions) and several processes may share the file.
    `read_only`: opened to read (create=False, or a file or folder that cannot be written)."""

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path).expanduser()
        fault = path_fault(self.path, "file")
        if fault and fault.kind == "missing":
            if not create:
                raise DatabaseError(f"{self.path}: no such corrections database.", kind="missing")
            self._create_file()
        elif fault:
            kind = "not_a_database" if fault.kind == "wrong_kind" else "no_access"
            raise DatabaseError(f"{self.path}: {fault}, not a corrections database file.", kind=kind)
        self.read_only = not create or not _writable(self.path)
        with self._connect(read_only=True) as db:  # looked at before anything is written to it
            self.version = self._check_version(db)
        if self.read_only and self.version == 0:
            raise DatabaseError(
                f"{self.path}: holds no reviews yet (an empty database), and cannot be written.",
                kind="read_only" if create else "not_a_database",
            )
        if not self.read_only and self.version < SCHEMA_VERSION:  # a current file is opened once, to look
            with self._connect() as db:
                self._migrate(db)
            self.version = SCHEMA_VERSION

    def _create_file(self) -> None:
        """An empty file (SQLite's empty database) made as any new file is, under the umask."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            if not self.path.is_file():  # the folder path is a file, or another process made it a folder
                raise DatabaseError(
                    f"{self.path}: cannot create the corrections database (a part of the path is a file).",
                    kind="cannot_create",
                ) from None
        except OSError as err:
            raise DatabaseError(
                f"{self.path}: cannot create the corrections database ({os_reason(err)}).", kind="cannot_create"
            ) from None

    # ---------------------------------------------------------------------------- connections

    @contextlib.contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (transactions are explicit); sqlite3's errors become
        DatabaseError naming the file and the fault."""
        try:
            if read_only:
                uri = f"{self.path.absolute().as_uri()}?mode=ro"
                if not _writable_folder(self.path) and not _has_wal(self.path):
                    uri += "&immutable=1"  # nobody can be writing it, and its lock files cannot be made
                db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
            else:
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as err:
            raise _database_error(self.path, err) from None
        try:
            if not read_only:
                _use_wal(db)
                db.execute("PRAGMA synchronous=FULL")
            yield db
        except sqlite3.Error as err:
            raise _database_error(self.path, err) from None
        finally:
            db.close()

    def _check_version(self, db: sqlite3.Connection) -> int:
        tables = _tables(db)  # reads the schema: a damaged file is found here, not at the first review
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DatabaseError(
                f"{self.path}: written by a newer CrisisLens (schema version {version}; this one reads up to "
                f"{SCHEMA_VERSION}). Update CrisisLens, or choose another corrections database.",
                kind="newer_schema",
            )
        if version == 0 and tables:
            raise DatabaseError(
                f"{self.path}: an SQLite database of another program (tables {', '.join(tables)}), "
                "not a CrisisLens corrections database.",
                kind="other_program",
            )
        return version

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Brings the schema to SCHEMA_VERSION, one migration per transaction; a second process
        migrating at the same moment waits, then finds nothing left to do."""
        while self._check_version(db) < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            try:
                version = self._check_version(db)  # again, inside the lock
                if version < SCHEMA_VERSION:
                    for statement in _statements(MIGRATIONS[version]):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {version + 1}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # ---------------------------------------------------------------------------- writing

    def record(self, reviews: Sequence[Review], action: str, seen_up_to: int | None = None) -> str:
        """Appends the reviews of one click ('accept' or 'correct') in one transaction; returns
        the click's batch id, which `undo` takes. `seen_up_to`: the last review id the reviewer's
        page showed; a review of the same post and task by someone else after it raises
        ReviewConflict and records nothing (None: record whatever came after)."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
        batch = uuid.uuid4().hex
        now = _now()
        rows = [(action, *astuple(r)[:6], now, batch, r.duplicate_group, None, r.post_key) for r in reviews]
        with self.transaction() as db:
            earlier = _reviews_since(db, reviews, seen_up_to) if seen_up_to is not None else []
            if earlier:
                raise ReviewConflict(f"{self.path}: " + "; ".join(map(str, earlier)) + ".", earlier)
            _insert(db, rows)
        return batch

    def undo(self, batch: str, reviewer: str) -> int:
        """Takes one of `reviewer`'s clicks back: an 'undo' row for each of its reviews. Returns how
        many (0: the click was undone already). A click of another reviewer is refused (ValueError)."""
        with self.transaction() as db:
            taken = db.execute(
                "SELECT post_id, task, run, duplicate_group, reviewer FROM reviews "
                "WHERE batch = ? AND action != 'undo' "
                "AND NOT EXISTS (SELECT 1 FROM reviews u WHERE u.action = 'undo' AND u.retracts = ?)",
                (batch, batch),
            ).fetchall()
            if any(owner != reviewer for *_, owner in taken):
                raise ValueError(f"review {batch} was recorded by {taken[0][4]!r}, not by {reviewer!r}")
            now = _now()
            _insert(db, [("undo", post, task, None, None, run, reviewer, now, uuid.uuid4().hex, group, batch, None)
                         for post, task, run, group, _ in taken])  # fmt: skip
        return len(taken)

    def settle(self, task: str, post_id: str, label: str, admin: str) -> None:
        """An admin's label for a post reviewers disagree on: it wins for training (`latest`)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO settlements (task, post_id, label, admin, created_at) VALUES (?, ?, ?, ?, ?)",
                (task, post_id, label, admin, _now()),
            )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (`BEGIN IMMEDIATE`: the writers queue, up to BUSY_TIMEOUT_S), committed
        whole when the block ends, rolled back when it raises."""
        if self.read_only:
            raise DatabaseError(
                f"{self.path}: opened read-only (the file or its folder cannot be written): reviews cannot be "
                "recorded in it; choose another corrections database.",
                kind="read_only",
            )
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection (sqlite3's errors become DatabaseError naming the file)."""
        with self._connect(read_only=True) as db:
            yield db

    # ---------------------------------------------------------------------------- reading

    def history(self) -> pd.DataFrame:
        """Every row ever written, oldest first (undo rows included)."""
        columns = [c if c != "post_key" or self.version >= 2 else "NULL AS post_key" for c in COLUMNS]
        with self.reading() as db:
            rows = db.execute(f"SELECT {', '.join(columns)} FROM reviews ORDER BY id").fetchall()
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def settlements(self) -> pd.DataFrame:
        """Every settled label, oldest first (none in a database older than schema 3)."""
        if self.version < 3:
            return pd.DataFrame(columns=list(SETTLEMENT_COLUMNS))
        with self.reading() as db:
            rows = db.execute(f"SELECT {', '.join(SETTLEMENT_COLUMNS)} FROM settlements ORDER BY id").fetchall()
        return pd.DataFrame(rows, columns=list(SETTLEMENT_COLUMNS))

    def latest(self, task: str | None = None) -> pd.DataFrame:
        """The review in force for each (post, task): the latest one not taken back by an undo,
        its label replaced by an admin's settled one where there is one (`settled_by`)."""
        return settled(latest_reviews(self.history(), task), self.settlements())

    def undoable(self, reviewer: str, task: str | None = None) -> pd.DataFrame:
        """`reviewer`'s clicks not undone yet (of `task`), the last first: one row per batch."""
        history = self.history()
        undone = set(history.loc[history["action"] == "undo", "retracts"])
        live = (history["action"] != "undo") & ~history["batch"].isin(undone)
        own = history[live & (history["reviewer"] == reviewer)]
        if task is not None:
            own = own[own["task"] == task]
        return own.drop_duplicates("batch").sort_values("id", ascending=False).reset_index(drop=True)


def settled(latest: pd.DataFrame, settlements: pd.DataFrame) -> pd.DataFrame:
    """`latest` (latest_reviews) with each post's last settled label over the reviewers' one."""
    last = settlements.drop_duplicates(["task", "post_id"], keep="last")[["task", "post_id", "label", "admin"]]
    merged = latest.merge(last.astype(object), on=["task", "post_id"], how="left")
    merged["label_after"] = merged["label"].where(merged["label"].notna(), merged["label_after"])
    return merged.drop(columns="label").rename(columns={"admin": "settled_by"})


def latest_reviews(history: pd.DataFrame, task: str | None = None) -> pd.DataFrame:
    """One row per (post_id, task) of `history` (CorrectionStore.history): its latest review not
    undone; `task` keeps one task's."""
    undone = set(history.loc[history["action"] == "undo", "retracts"])
    live = history[(history["action"] != "undo") & ~history["batch"].isin(undone)]
    if task is not None:
        live = live[live["task"] == task]
    return live.sort_values("id").drop_duplicates(["post_id", "task"], keep="last").reset_index(drop=True)


@dataclass(frozen=True)
class OtherReview:
    """A review by someone else that came after the reviewer's page was drawn."""

    reviewer: str
    task: str
    post_id: str
    label: str
    created_at: str  # UTC, ISO 8601

    def __str__(self) -> str:
        return f"{self.reviewer} labelled this {self.label} at {self.created_at[11:16]} UTC"


def _reviews_since(db: sqlite3.Connection, reviews: Sequence[Review], seen_up_to: int) -> list[OtherReview]:
    """Reviews in force by other reviewers of `reviews`' posts and tasks, written after id `seen_up_to`."""
    found = []
    for review in reviews:
        rows = db.execute(
            "SELECT reviewer, task, post_id, label_after, created_at FROM reviews r WHERE task = ? AND post_id = ? "
            "AND id > ? AND action != 'undo' AND reviewer != ? "
            "AND NOT EXISTS (SELECT 1 FROM reviews u WHERE u.action = 'undo' AND u.retracts = r.batch) ORDER BY id",
            (review.task, review.post_id, seen_up_to, review.reviewer),
        ).fetchall()
        found += [OtherReview(*row) for row in rows]
    return found


def _insert(db: sqlite3.Connection, rows: list[tuple]) -> None:
    placeholders = ", ".join("?" * (len(COLUMNS) - 1))
    db.executemany(f"INSERT INTO reviews ({', '.join(COLUMNS[1:])}) VALUES ({placeholders})", rows)


def _use_wal(db: sqlite3.Connection) -> None:
    """WAL mode, which the file keeps once set. Switching a new file to it needs the file to itself,
    and SQLite does not wait for that (no busy timeout): a second session's first look at the same
    new file made the switch fail at once as 'locked'. So it is tried again, up to the timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if getattr(err, "sqlite_errorname", "") != "SQLITE_BUSY" or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _database_error(path: Path, err: sqlite3.Error) -> DatabaseError:
    name = getattr(err, "sqlite_errorname", "") or ""
    for prefix, kind, words in _SQLITE_FAULTS:
        if name.startswith(prefix):
            return DatabaseError(f"{path}: {words} ({err}).", kind=kind)
    return DatabaseError(f"{path}: not a readable CrisisLens corrections database ({err}).")


def _writable_folder(path: Path) -> bool:
    return os.access(path.parent, os.W_OK)


def _writable(path: Path) -> bool:
    """Whether a connection may write: the file, and its folder (for the WAL's files)."""
    return os.access(path, os.W_OK) and _writable_folder(path)


def _has_wal(path: Path) -> bool:
    """A write-ahead log left beside the file (writes not yet copied into it): reading needs it."""
    wal = path.with_name(path.name + "-wal")
    return wal.is_file() and wal.stat().st_size > 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _tables(db: sqlite3.Connection) -> list[str]:
    return [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def _statements(script: str) -> list[str]:
    """A migration script's statements (a trigger's body keeps its inner semicolons)."""
    out, current = [], ""
    for line in script.strip().splitlines():
        current += line.split("--")[0] + "\n"
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out
