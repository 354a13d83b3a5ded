"""A hostile --out for `python -m crisis_model.score`: a folder that cannot be made, read or written,
or that holds something else, is one error naming it; a folder another job is writing is refused
naming that job's host and pid, and a lock left by a killed job is taken over; temporary files are
named per write, so two writers never write into each other's; a disk that fills mid-run keeps the
parts written. In-process with a tiny model; the command line itself (exit status 2 and one
`error:` line, torchrun's processes all stopping) in a few slow cases. HOSTILE_CASES is this
surface's list (tests/hostile_cases.py counts every surface's)."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from crisis_model.atomic_files import atomic_write
from crisis_model.errors import CrisisLensError
from crisis_model.scoring import ScoreOptions, score_collection
from crisis_model.scoring.folder import PARTS_DIR
from crisis_model.scoring.lock import LOCK_FILE, FolderLock

OPTIONS = ScoreOptions(chunk_rows=2, progress=False, device="cpu")
POSTS = "text\nBridge collapsed\nShelter open\nRoads flooded\nPower out\nWater rising\n"


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Path], Path]  # prepares --out in the folder given, returns its path
    words: str


def a_file(root: Path) -> Path:
    (root / "out").write_text("not a folder")
    return root / "out"


def under_a_file(root: Path) -> Path:
    (root / "notes.txt").write_text("a file")
    return root / "notes.txt" / "out"


def foreign(root: Path) -> Path:
    (root / "out").mkdir()
    (root / "out" / "holiday.jpg").write_bytes(b"photo")
    return root / "out"


def manifest(text: str) -> Callable[[Path], Path]:
    def make(root: Path) -> Path:
        (root / "out").mkdir()
        (root / "out" / "manifest.json").write_text(text)
        return root / "out"

    return make


def dangling_link(root: Path) -> Path:
    (root / "out").symlink_to(root / "nowhere")
    return root / "out"


FOLDER_CASES = [
    Case("out-a-file", a_file, "not a folder"),
    Case("out-under-a-file", under_a_file, "cannot create the folder or write in it (Not a directory)"),
    Case("out-someone-elses-folder", foreign, "not empty and holds no manifest.json"),
    Case("out-manifest-not-json", manifest("{torn"), "manifest.json: not readable"),
    Case("out-manifest-an-array", manifest("[]"), "holds the scoring of another input"),
    Case("out-manifest-of-another-input", manifest('{"input": "/elsewhere.csv"}'), "holds the scoring of another"),
    Case("out-a-link-to-nowhere", dangling_link, "no such folder"),
    Case("out-nul-in-the-name", lambda root: root / "o\x00ut", "not a usable path"),
]


@pytest.fixture
def posts(tmp_path) -> Path:
    (tmp_path / "posts.csv").write_text(POSTS)
    return tmp_path / "posts.csv"


@pytest.mark.parametrize("case", FOLDER_CASES, ids=lambda case: case.id)
def test_an_out_folder_that_cannot_be_used_is_one_error_naming_it(case, tiny_run, posts, tmp_path) -> None:
    out = case.make(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(CrisisLensError, match=case.words.replace("(", r"\(").replace(")", r"\)")) as refused:
        score_collection(tiny_run, posts, out, None, OPTIONS)
    assert str(refused.value).startswith(str(out)) and "\n" not in str(refused.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "nothing written"


def test_a_folder_another_job_is_writing_is_refused_naming_it(tiny_run, posts, tmp_path) -> None:
    running = FolderLock.take(tmp_path / "out")  # what a running scorer's process 0 holds
    try:
        with pytest.raises(CrisisLensError, match="another scoring job is writing this folder") as refused:
            score_collection(tiny_run, posts, tmp_path / "out", None, OPTIONS)
        assert f"pid {os.getpid()} on {socket.gethostname()}" in str(refused.value)
    finally:
        running.release()
    assert score_collection(tiny_run, posts, tmp_path / "out", None, OPTIONS)["scored"] == 5


def test_a_lock_file_left_by_a_killed_job_is_taken_over(tiny_run, posts, tmp_path) -> None:
    """A kill leaves the file but not the lock (the kernel lets go of it with the process)."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": 999_999_999}))
    assert score_collection(tiny_run, posts, tmp_path / "out", None, OPTIONS)["scored"] == 5
    assert not (tmp_path / "out" / LOCK_FILE).exists()


def test_a_torn_temporary_file_of_a_killed_job_is_removed_at_start(tiny_run, posts, tmp_path) -> None:
    score_collection(tiny_run, posts, tmp_path / "out", None, OPTIONS)
    torn = tmp_path / "out" / PARTS_DIR / ".part-000009.parquet.4242-deadbeef.tmp"
    torn.write_bytes(b"half a part")
    score_collection(tiny_run, posts, tmp_path / "out", None, OPTIONS)
    assert not torn.exists()


def test_two_writers_of_one_file_never_write_into_each_others_temporary_file(tmp_path) -> None:
    started = threading.Barrier(2)

    def slow_writer(text: str) -> Callable[[Path], None]:
        def write(tmp: Path) -> None:
            started.wait()  # both are writing at once
            with tmp.open("w") as handle:
                for char in text:
                    handle.write(char)
                    time.sleep(0.001)

        return write

    threads = [threading.Thread(target=atomic_write, args=(tmp_path / "f", slow_writer(c * 50))) for c in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (tmp_path / "f").read_text() in ("a" * 50, "b" * 50)
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_disk_that_fills_mid_run_keeps_the_parts_written_and_the_run_resumes(
    tiny_run, posts, tmp_path, monkeypatch
) -> None:
    real, written = pq.write_table, []

    def fills_after_one(table, where, **options) -> None:
        if written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(where)
        real(table, where, **options)

    monkeypatch.setattr(pq, "write_table", fills_after_one)
    with pytest.raises(CrisisLensError, match=r"part-000001.parquet: cannot be written \(No space left on device\)"):
        score_collection(tiny_run, posts, tmp_path / "out", None, OPTIONS)
    assert len(list((tmp_path / "out" / PARTS_DIR).iterdir())) == 1, "the finished part kept, no temporary file"
    monkeypatch.setattr(pq, "write_table", real)
    summary = score_collection(tiny_run, posts, tmp_path / "out", None, OPTIONS)
    assert (summary["scored"], summary["chunks_done_before_this_start"]) == (5, 1)


# ------------------------------------------------------------------------------ the command line (slow)


def score_command(python_process, *args: str, env: dict | None = None):
    return python_process("-m", "crisis_model.score", *args, env=env)


def one_error_line(process, timeout: float = 120) -> str:
    _, err = process.communicate(timeout=timeout)
    assert process.returncode == 2, err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err[-2000:]
    return lines[0]


def broken_weights(run: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(run / "checkpoint" / "model.safetensors"))
    state[sorted(state)[-1]].fill_(float("nan"))
    save_file(state, str(run / "checkpoint" / "model.safetensors"))


CLI_CASES = [
    ("fake-parquet-input", "posts.parquet", "not a readable Parquet file"),
    ("out-under-a-file", "posts.csv", "cannot create the folder"),
    ("weights-nan", "posts.csv", "holds NaN or infinite values"),
]


@pytest.mark.parametrize(("name", "input_name", "words"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_the_command_says_a_fault_of_the_whole_file_in_one_line_and_exits_2(
    name, input_name, words, tiny_run, tmp_path, python_process
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (tmp_path / "posts.csv").write_text(POSTS)
    (tmp_path / "posts.parquet").write_bytes(b"PAR1 not really PAR1")
    out = tmp_path / "out"
    if name == "out-under-a-file":
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file" / "out"
    if name == "weights-nan":
        broken_weights(run)
    process = score_command(python_process, "--run", str(run), "--input", str(tmp_path / input_name), "--out", str(out))
    assert words in one_error_line(process)


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from crisis_model.scoring.lock import FolderLock
FolderLock.take(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(600)
"""


def test_a_job_killed_with_sigkill_leaves_no_lock_that_stops_the_next(tiny_run, posts, tmp_path, python_process):
    holder = python_process("-c", LOCK_HOLDER, str(tmp_path / "out"))
    assert holder.stdout.readline().strip() == "locked"
    refused = score_command(
        python_process, "--run", str(tiny_run), "--input", str(posts), "--out", str(tmp_path / "out")
    )
    assert f"pid {holder.pid} on {socket.gethostname()}" in one_error_line(refused)
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=30)
    assert (tmp_path / "out" / LOCK_FILE).exists(), "the kill left the file"
    again = score_command(python_process, "--run", str(tiny_run), "--input", str(posts), "--out", str(tmp_path / "out"))
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err[-2000:]


def test_every_process_of_a_second_torchrun_job_stops_and_none_hangs(tiny_run, posts, tmp_path, python_process):
    running = FolderLock.take(tmp_path / "out")
    try:
        command = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "crisis_model.score",
                   "--", "--run", str(tiny_run), "--input", str(posts), "--out", str(tmp_path / "out"),
                   "--device", "cpu", "--no-progress"]  # fmt: skip
        job = python_process(*command, env={"OMP_NUM_THREADS": "1"})
        _, err = job.communicate(timeout=180)
    finally:
        running.release()
    assert job.returncode != 0
    assert err.count(f"another scoring job is writing this folder (pid {os.getpid()}") == 2, err[-3000:]


OUT_CASES = [
    *FOLDER_CASES,
    "another-job-writing",
    "lock-of-a-killed-job",
    "torn-temporary-file",
    "two-writers-one-file",
    "disk-full-mid-run",
    *CLI_CASES,
    "sigkill-then-the-next-job",
    "second-torchrun-job",
]
HOSTILE_CASES = OUT_CASES
