"""Files shut to the user, and folders that cannot be written: each fault is said as what it is
(permission denied, read-only), never "no such file" nor a bare OS error, and a database in a
read-only place is still read. The test prepares the files, then one Python process that obeys file
permissions tries them all (as root, its capabilities dropped: root reads and writes everything);
each case is a parametrized test on its answer. HOSTILE_CASES is this surface's list
(tests/hostile_cases.py counts every surface's)."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from crisis_model.corrections import CorrectionStore, Review

PR_CAPBSET_DROP = 24  # linux/prctl.h

TRIES = r"""
import json, sys
from pathlib import Path
from crisis_model import load_model
from crisis_model.corrections import CorrectionStore, Review
from crisis_model.scoring import ScoreOptions, score_collection
from crisis_model.scoring.reader import CollectionFile

root = Path(sys.argv[1])
run, review = root / "run", Review("p2", "informative", "informative", "not_informative", "r", "bo")
tries = {
    "input-unreadable": lambda: CollectionFile.open(root / "secret.csv"),
    "input-in-a-closed-folder": lambda: CollectionFile.open(root / "closed" / "posts.csv"),
    "out-in-a-read-only-folder": lambda: score_collection(run, root / "posts.csv", root / "read-only" / "out", None,
                                                          ScoreOptions(progress=False, device="cpu")),
    "checkpoint-of-another-user": lambda: load_model(root / "closed" / "checkpoint", device="cpu"),
    "checkpoint-config-unreadable": lambda: load_model(root / "secret-checkpoint", device="cpu"),
    "database-unreadable": lambda: CorrectionStore(root / "secret.db"),
    "database-file-read-only": lambda: CorrectionStore(root / "read-only.db").record([review], "correct"),
    "database-folder-read-only": lambda: CorrectionStore(root / "read-only" / "c.db").record([review], "correct"),
    "database-new-in-a-read-only-folder": lambda: CorrectionStore(root / "read-only" / "new.db"),
    "database-file-read-only-is-read": lambda: len(CorrectionStore(root / "read-only.db").history()),
    "database-folder-read-only-is-read": lambda: len(CorrectionStore(root / "read-only" / "c.db").history()),
}
answers = {}
for name, attempt in tries.items():
    try:
        answers[name] = {"returned": repr(attempt())}
    except Exception as err:  # every answer is compared by the test, raw errors included
        answers[name] = {"type": type(err).__name__, "kind": getattr(err, "kind", None), "message": str(err)}
print(json.dumps(answers))
"""

# case -> (exception type or None, DatabaseError kind, words of the message or of what it returned)
EXPECTED = {
    "input-unreadable": ("DataError", None, "secret.csv: cannot be read (Permission denied)"),
    "input-in-a-closed-folder": ("DataError", None, "posts.csv: cannot be reached (Permission denied)"),
    "out-in-a-read-only-folder": ("ConfigError", None, "out: cannot create the folder or write in it (Permission"),
    "checkpoint-of-another-user": ("CheckpointError", None, "checkpoint: cannot be reached (Permission denied)"),
    "checkpoint-config-unreadable": ("CheckpointError", None, "config.json: cannot be read (Permission denied)"),
    "database-unreadable": ("DatabaseError", "no_access", "secret.db: cannot be read (Permission denied)"),
    "database-file-read-only": ("DatabaseError", "read_only", "read-only.db: opened read-only"),
    "database-folder-read-only": ("DatabaseError", "read_only", "c.db: opened read-only"),
    "database-new-in-a-read-only-folder": ("DatabaseError", "cannot_create", "new.db: cannot create the corrections"),
    "database-file-read-only-is-read": (None, None, "1"),
    "database-folder-read-only-is-read": (None, None, "1"),
}
HOSTILE_CASES = list(EXPECTED)


def without_root_powers() -> None:
    """Run in the child before it starts Python: with every capability dropped from its bounding set,
    root keeps uid 0 but no longer overrides file permissions (CAP_DAC_OVERRIDE and the others)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    capability = 0
    while prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) == 0:
        capability += 1


@pytest.fixture(scope="module")
def answers(tiny_run, python_process) -> Iterator[dict]:
    """Every case tried once, by one process that obeys file permissions."""
    root = Path(tempfile.mkdtemp(prefix="crisislens-permissions-"))
    try:
        prepare(root, tiny_run)
        as_user = {"preexec_fn": without_root_powers} if os.geteuid() == 0 else {}
        process = python_process("-c", TRIES, str(root), **as_user)
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
        yield json.loads(stdout.strip().splitlines()[-1])
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o700)
        shutil.rmtree(root)


def prepare(root: Path, tiny_run: Path) -> None:
    """Files shut to everyone (mode 0, the owner too) and read-only ones (0444, a folder 0555)."""
    (root / "posts.csv").write_text("text\nBridge collapsed\n")
    (root / "secret.csv").write_text("text\nBridge collapsed\n")
    shutil.copytree(tiny_run, root / "run")
    (root / "closed").mkdir()
    (root / "closed" / "posts.csv").write_text("text\nBridge collapsed\n")
    shutil.copytree(tiny_run / "checkpoint", root / "closed" / "checkpoint")
    shutil.copytree(tiny_run / "checkpoint", root / "secret-checkpoint")
    (root / "read-only").mkdir()
    for path in (root / "secret.db", root / "read-only.db", root / "read-only" / "c.db"):
        CorrectionStore(path).record([Review("p1", "informative", "informative", "informative", "r", "ana")], "accept")
    for path in (root / "secret.csv", root / "secret.db", root / "secret-checkpoint" / "config.json", root / "closed"):
        path.chmod(0)
    (root / "read-only.db").chmod(0o444)
    (root / "read-only").chmod(0o555)


@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_a_file_that_may_not_be_read_or_written_is_said_so(case, answers) -> None:
    error, kind, words = EXPECTED[case]
    answer = answers[case]
    if error is None:
        assert answer == {"returned": words}
        return
    assert (answer["type"], answer["kind"]) == (error, kind), answer
    assert words in answer["message"] and "No such" not in answer["message"], answer
