"""The reviewers' corrections, kept in one SQLite file: every click is a row, nothing is overwritten.

    store = CorrectionStore("workspace/corrections.db")       # created and migrated on first use
    batch = store.record([Review("123_0", "informative", "informative", "not_informative",
                                 run="runs/demo/informative", reviewer="ana")], action="correct")
    store.latest("informative")                               # one row per post: the latest review wins
    store.undo(batch, reviewer="ana")                         # appends an 'undo' row; the history stays

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

A file that is not SQLite, another program's database, or a schema newer than SCHEMA_VERSION
raises DatabaseError naming the file; nothing is written to it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from crisis_model.errors import DatabaseError

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


class CorrectionStore:
    """One corrections database. Every method opens its own short-lived connection, so one store may
    serve several threads (Streamlit's sessions) and several processes may share the file."""

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path).expanduser()
        if not create and not self.path.is_file():
            raise DatabaseError(f"{self.path}: no such corrections database.")
        if self.path.is_dir():
            raise DatabaseError(f"{self.path}: a folder, not a corrections database file.")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect(read_only=not create) as db:
            if create:
                self._migrate(db)
            else:
                self._check_version(db)

    # ---------------------------------------------------------------------------- connections

    @contextlib.contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (transactions are explicit); sqlite3's errors become
        DatabaseError naming the file."""
        try:
            if read_only:
                db = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            else:
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as err:
            raise DatabaseError(f"{self.path}: cannot open the corrections database ({err}).") from None
        try:
            if not read_only:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
            yield db
        except sqlite3.DatabaseError as err:
            raise DatabaseError(f"{self.path}: not a readable CrisisLens corrections database ({err}).") from None
        finally:
            db.close()

    def _check_version(self, db: sqlite3.Connection) -> int:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DatabaseError(
                f"{self.path}: written by a newer CrisisLens (schema version {version}; this one reads up to "
                f"{SCHEMA_VERSION}). Update CrisisLens, or choose another corrections database."
            )
        if version == 0 and _tables(db):
            raise DatabaseError(
                f"{self.path}: an SQLite database of another program (tables {', '.join(_tables(db))}), "
                "not a CrisisLens corrections database."
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

    def record(self, reviews: Sequence[Review], action: str) -> str:
        """Appends the reviews of one click ('accept' or 'correct') in one transaction; returns
        the click's batch id, which `undo` takes."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
        batch = uuid.uuid4().hex
        now = _now()
        rows = [(action, *astuple(r)[:6], now, batch, r.duplicate_group, None) for r in reviews]
        self._append(rows)
        return batch

    def undo(self, batch: str, reviewer: str) -> int:
        """Takes one click back: an 'undo' row for each of its reviews. Returns how many."""
        with self._connect() as db:
            taken = db.execute(
                "SELECT post_id, task, run, duplicate_group FROM reviews WHERE batch = ? AND action != 'undo'",
                (batch,),
            ).fetchall()
        now = _now()
        rows = [("undo", post, task, None, None, run, reviewer, now, uuid.uuid4().hex, group, batch)
                for post, task, run, group in taken]  # fmt: skip
        self._append(rows)
        return len(rows)

    def _append(self, rows: list[tuple]) -> None:
        if not rows:
            return
        placeholders = ", ".join("?" * (len(COLUMNS) - 1))
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(f"INSERT INTO reviews ({', '.join(COLUMNS[1:])}) VALUES ({placeholders})", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # ---------------------------------------------------------------------------- reading

    def history(self) -> pd.DataFrame:
        """Every row ever written, oldest first (undo rows included)."""
        with self._connect(read_only=True) as db:
            rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM reviews ORDER BY id").fetchall()
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def latest(self, task: str | None = None) -> pd.DataFrame:
        """The review in force for each (post, task): the latest one not taken back by an undo."""
        return latest_reviews(self.history(), task)


def latest_reviews(history: pd.DataFrame, task: str | None = None) -> pd.DataFrame:
    """One row per (post_id, task) of `history` (CorrectionStore.history): its latest review not
    undone; `task` keeps one task's."""
    undone = set(history.loc[history["action"] == "undo", "retracts"])
    live = history[(history["action"] != "undo") & ~history["batch"].isin(undone)]
    if task is not None:
        live = live[live["task"] == task]
    return live.sort_values("id").drop_duplicates(["post_id", "task"], keep="last").reset_index(drop=True)


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
