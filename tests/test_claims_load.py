"""Claims under load (issue 20): four processes, each a reviewer doing 50 claim/record cycles on one
database, never hold the same post at once and lose no review; a process SIGKILLed while it claims
leaves the database readable and at most a claim that expires."""

from __future__ import annotations

import signal
import sqlite3
import time

from crisis_model.corrections import CorrectionStore
from crisis_model.corrections.claims import claim_next, live_claims

POSTS = 240
CYCLES = 50

REVIEWER = """
import sys
from crisis_model.corrections import CorrectionStore, Review
from crisis_model.corrections.claims import claim_next, live_claims
path, name, cycles, posts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store = CorrectionStore(path)
queue = [f"p{i:03d}" for i in range(posts)]
for _ in range(cycles):
    post = claim_next(store, "informative", queue, name)
    holders = [c.reviewer for c in live_claims(store, "informative") if c.post_id == post]
    assert holders == [name], (post, holders)  # held by this reviewer alone
    store.record([Review(post, "informative", "informative", "informative", "run", name)], "accept")
    print(post, flush=True)
"""

CLAIMER = """
import sys
from crisis_model.corrections import CorrectionStore
from crisis_model.corrections.claims import claim_next
store = CorrectionStore(sys.argv[1])
for i in range(100000):
    claim_next(store, "informative", [f"p{i % 7}" for i in range(7)], "killed", ttl_s=float(sys.argv[2]))
    print(i, flush=True)
"""


def test_four_reviewers_in_four_processes_never_share_a_post_and_lose_nothing(tmp_path, python_process) -> None:
    path = tmp_path / "c.db"
    CorrectionStore(path)
    processes = [python_process("-c", REVIEWER, str(path), f"r{k}", str(CYCLES), str(POSTS)) for k in range(4)]
    outputs = [p.communicate(timeout=240) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, [err[-2000:] for _, err in outputs]
    printed = [line for out, _ in outputs for line in out.split()]
    history = CorrectionStore(path).history()
    assert len(printed) == len(history) == 4 * CYCLES
    assert history["post_id"].is_unique  # no post reviewed twice: nobody got a post another held or had done
    assert history.groupby("reviewer").size().tolist() == [CYCLES] * 4


def test_a_sigkill_while_claiming_leaves_a_claim_that_expires(tmp_path, python_process) -> None:
    path = tmp_path / "c.db"
    CorrectionStore(path)
    ttl = 3.0
    process = python_process("-c", CLAIMER, str(path), str(ttl), stderr=None)
    for _ in range(30):  # claims going round
        process.stdout.readline()
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = time.time()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = CorrectionStore(path)
    held = [c for c in live_claims(store) if c.reviewer == "killed"]
    assert len(held) <= 1
    if held:  # the claim of the last committed cycle: its post is not free until it expires
        assert held[0].expires <= killed_at + ttl
        assert claim_next(store, "informative", [held[0].post_id], "ana") is None
    time.sleep(ttl + 0.2)
    assert [c.reviewer for c in live_claims(store)] == []
    assert claim_next(store, "informative", ["p0"], "ana") == "p0"
