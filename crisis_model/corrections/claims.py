"""Who holds which post, and what each reviewer skipped: a team's review queue on one database.

    post = claim_next(store, "informative", queue_post_ids, "ana@example.org")   # None: nothing free
    skip(store, "informative", post, "ana@example.org")                          # stays skipped for Ana
    release(store, "informative", "ana@example.org")                             # her claim, if any

A post shown to a reviewer is claimed by them until it expires (CLAIM_TTL_S unless the caller says),
so the queues of the others pass over it; a reviewer holds one claim per task: claiming the next
post gives up the last. Claiming is one `BEGIN IMMEDIATE` transaction that reads the claims and the
reviews and writes the claim, so two reviewers never get the same post, and a post reviewed while
another's queue was being drawn is not handed out again. A process killed while it holds a claim
leaves a row whose expiry frees the post; one killed inside the transaction leaves nothing.

Skips are kept per reviewer and task until the reviewer takes them back (`unskip`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from crisis_model.corrections.store import CorrectionStore

CLAIM_TTL_S = 600.0  # ten minutes: a reviewer reads a post, its photo and its explanations

# A post with a review in force for the task (one not taken back by an undo)
_REVIEWED = (
    "EXISTS (SELECT 1 FROM reviews r WHERE r.task = ? AND r.post_id = ? AND r.action != 'undo' "
    "AND NOT EXISTS (SELECT 1 FROM reviews u WHERE u.action = 'undo' AND u.retracts = r.batch))"
)


@dataclass(frozen=True)
class Claim:
    task: str
    post_id: str
    reviewer: str
    claimed_at: str  # UTC, ISO 8601
    expires: float  # Unix seconds


def claim_next(
    store: CorrectionStore,
    task: str,
    candidates: Sequence[str],
    reviewer: str,
    ttl_s: float = CLAIM_TTL_S,
    keep: str | None = None,
) -> str | None:
    """Claims for `reviewer` the first of `candidates` (queue order) that nobody else holds, that
    `reviewer` did not skip and that has no review in force; returns it, or None when none is free.
    `keep`: the post the reviewer is on, kept (and its claim renewed) while it is still theirs."""
    now = time.time()
    with store.transaction() as db:
        db.execute("DELETE FROM claims WHERE expires <= ?", (now,))
        held = dict(db.execute("SELECT post_id, reviewer FROM claims WHERE task = ?", (task,)).fetchall())
        skipped = {row[0] for row in db.execute(
            "SELECT post_id FROM skips WHERE reviewer = ? AND task = ?", (reviewer, task))}  # fmt: skip
        chosen = None
        if keep is not None and held.get(keep) in (None, reviewer):
            chosen = keep
        for post in candidates if chosen is None else ():
            if held.get(post, reviewer) != reviewer or post in skipped:
                continue
            if not db.execute(f"SELECT {_REVIEWED}", (task, post)).fetchone()[0]:
                chosen = post
                break
        db.execute("DELETE FROM claims WHERE task = ? AND reviewer = ?", (task, reviewer))
        if chosen is not None:
            db.execute(
                "INSERT OR REPLACE INTO claims (task, post_id, reviewer, claimed_at, expires) VALUES (?, ?, ?, ?, ?)",
                (task, chosen, reviewer, _iso(now), now + ttl_s),
            )
    return chosen


def release(store: CorrectionStore, task: str, reviewer: str) -> None:
    """Gives up `reviewer`'s claim on `task`, if they hold one."""
    with store.transaction() as db:
        db.execute("DELETE FROM claims WHERE task = ? AND reviewer = ?", (task, reviewer))


def live_claims(store: CorrectionStore, task: str | None = None) -> list[Claim]:
    """The claims not expired (of `task`), oldest first."""
    if store.version < 3:  # a read-only database older than claims
        return []
    with store.reading() as db:
        rows = db.execute(
            "SELECT task, post_id, reviewer, claimed_at, expires FROM claims WHERE expires > ? "
            "AND (? IS NULL OR task = ?) ORDER BY claimed_at",
            (time.time(), task, task),
        ).fetchall()
    return [Claim(*row) for row in rows]


def skip(store: CorrectionStore, task: str, post_id: str, reviewer: str) -> None:
    """`reviewer` leaves `post_id` for later: it leaves their queue (and their claim on it goes)."""
    with store.transaction() as db:
        db.execute(
            "INSERT OR IGNORE INTO skips (reviewer, task, post_id, created_at) VALUES (?, ?, ?, ?)",
            (reviewer, task, post_id, _iso(time.time())),
        )
        db.execute("DELETE FROM claims WHERE task = ? AND post_id = ? AND reviewer = ?", (task, post_id, reviewer))


def skipped(store: CorrectionStore, task: str, reviewer: str) -> list[str]:
    """The posts `reviewer` skipped for `task`, in the order they skipped them."""
    if store.version < 3:
        return []
    with store.reading() as db:
        rows = db.execute(
            "SELECT post_id FROM skips WHERE reviewer = ? AND task = ? ORDER BY created_at", (reviewer, task)
        ).fetchall()
    return [row[0] for row in rows]


def unskip(store: CorrectionStore, task: str, reviewer: str) -> int:
    """Brings `reviewer`'s skipped posts of `task` back into their queue; returns how many."""
    with store.transaction() as db:
        return db.execute("DELETE FROM skips WHERE reviewer = ? AND task = ?", (reviewer, task)).rowcount


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
