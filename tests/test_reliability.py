"""Reliability gaps not covered elsewhere (see the audit in the README's reliability section):
the train.py CLI run as a real process on hostile input (one `error:` line, no traceback, a non-zero
exit, before any training), training killed with SIGKILL at seeded random moments and resumed to the
metrics of an uninterrupted run, and a feature cache with corrupt entries inside a training run."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from crisis_model.training import ProgressEvent, TrainConfig, train
from crisis_model.training.run_start import start_folder

REPO = Path(__file__).resolve().parents[1]
EPOCHS, BATCH = 10, 4  # 13 steps an epoch on the 60-tweet demo: kills land inside epochs too


@pytest.fixture(scope="module")
def train_cli(python_process) -> Callable[..., subprocess.Popen]:
    """`train_cli(*args)`: `python train.py *args` started in its own process."""
    return lambda *args: python_process(str(REPO / "train.py"), *args)


@pytest.fixture(scope="module")
def cache_dir(new_feature_cache) -> Path:
    """This module's own cache: the corrupt-cache test damages entries of its runs, not other tests'."""
    return new_feature_cache()


@pytest.fixture(scope="module")
def straight(tmp_path_factory, demo_root, cache_dir) -> Path:
    """An uninterrupted run (in this process; it also fills the feature cache the CLI runs share)."""
    out = tmp_path_factory.mktemp("straight") / "run"
    cfg = TrainConfig(
        out=str(out),
        data_root=str(demo_root),
        preset="tiny",
        epochs=EPOCHS,
        batch_size=BATCH,
        workers=0,
        cache_dir=str(cache_dir),
    )
    return train(cfg)


def commands(run: Path) -> int:
    """How many starts command.txt records: each start appends its line after loading the data."""
    path = run / "command.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


# --------------------------------------------------------------------------- the CLI on bad input


def test_cli_reports_bad_input_in_one_line_without_traceback(tmp_path, demo_root, straight, train_cli) -> None:
    tsv_root = tmp_path / "tsv-root"
    shutil.copytree(demo_root / "crisismmd_datasplit_all", tsv_root / "crisismmd_datasplit_all")
    train_tsv = tsv_root / "crisismmd_datasplit_all" / "task_informative_text_img_train.tsv"
    lines = train_tsv.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3] + "\tstray\tfields"
    train_tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")

    no_text = tmp_path / "no_text.csv"
    no_text.write_text("message,label\nflood downtown,informative\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\ncaf\u00e9 flooded,informative\n".encode("latin-1"))

    broken = tmp_path / "broken-run"
    shutil.copytree(straight, broken)
    weights = broken / "checkpoint" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a torn checkpoint

    common = ["--preset", "tiny", "--workers", "0", "--no-cache"]
    cases = {
        "malformed tsv": (
            ["--data-root", str(tsv_root), "--out", str(tmp_path / "r1"), *common],
            [str(train_tsv), "line 4", "tab-separated fields"],
        ),
        "csv without text": (
            ["--posts", str(no_text), "--out", str(tmp_path / "r2"), *common],
            [str(no_text), "line 1", "no 'text' column"],
        ),
        "non-utf-8 posts": (["--posts", str(latin1), "--out", str(tmp_path / "r3"), *common], [str(latin1), "UTF-8"]),
        "broken checkpoint": (["--out", str(broken), "--resume"], [str(weights), "not a readable safetensors file"]),
    }
    processes = {name: train_cli(*args) for name, (args, _) in cases.items()}  # all at once: faster
    for name, process in processes.items():
        _, err = process.communicate(timeout=120)
        assert process.returncode == 2, (name, err)
        assert "Traceback" not in err, (name, err)
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == 1 and errors[0].startswith("error: "), (name, err)
        for words in cases[name][1]:
            assert words in errors[0], (name, words, errors[0])
    for out in ("r1", "r2", "r3"):  # refused before anything was written
        assert not (tmp_path / out).exists()
    assert (broken / "metrics.json").read_bytes() == (straight / "metrics.json").read_bytes()


# --------------------------------------------------------------------------- SIGKILL and resume


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_metrics(
    tmp_path, demo_root, cache_dir, straight, train_cli
) -> None:
    out = tmp_path / "killed"
    first = [
        "--data-root",
        str(demo_root),
        "--out",
        str(out),
        "--preset",
        "tiny",
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        str(BATCH),
        "--workers",
        "0",
        "--cache-dir",
        str(cache_dir),
    ]
    rng = random.Random(20261127)
    kills, starts, landed = 0, 0, []  # landed: epochs done when each kill struck
    while True:
        started = (out / "train_config.json").exists()
        if not started:  # killed before the run folder was written: nothing to lose, start afresh
            shutil.rmtree(out, ignore_errors=True)
        before = commands(out)
        process = train_cli(*(["--out", str(out), "--resume"] if started else first))
        starts += 1
        if kills < 3:
            deadline = time.monotonic() + 60
            while commands(out) == before and process.poll() is None:  # data loaded, folder written
                assert time.monotonic() < deadline, "train.py never wrote its run folder"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 2.0))  # into model building, features, epochs or saving
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.communicate(timeout=30)
                kills += 1
                history = out / "history.jsonl"
                landed.append(len(history.read_text().splitlines()) if history.exists() else 0)
                continue
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        break
    assert kills >= 2 and starts == kills + 1, f"only {kills} kills struck before the run finished"
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    assert metrics(out) == metrics(straight), f"kills struck after epochs {landed}"
    assert not list(out.glob(".*"))  # no temporary or half-swapped files left behind


def test_a_restart_deletes_the_files_a_killed_writer_left_half_written(tmp_path) -> None:
    """A kill inside `atomic_write` leaves `.NAME.<pid>-<hex>.tmp` beside NAME (one of the random
    SIGKILLs above once did); the next start deletes it once its writer is dead, and never touches
    a file a live process is still writing or one of another kind."""
    out = tmp_path / "run"
    out.mkdir()
    writer = subprocess.Popen(["true"])
    writer.wait()  # reaped: its pid no longer names a process
    orphan = out / f".history.jsonl.{writer.pid}-0123abcd.tmp"
    in_progress = out / f".metrics.json.{os.getpid()}-89abcdef.tmp"
    other = out / ".notes.tmp"
    for path in (orphan, in_progress, other):
        path.write_text("half")
    start_folder(TrainConfig(out=str(out), resume=True), out, "python train.py --resume")
    assert not orphan.exists()
    assert in_progress.exists() and other.exists()


# --------------------------------------------------------------------------- a corrupt feature cache


def test_corrupt_cache_entries_in_a_training_run_are_recomputed(tmp_path, cache_dir, straight) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(cache_dir, cache)
    entries = {kind: sorted((cache / kind).rglob("*.safetensors")) for kind in ("text", "image")}
    assert entries["text"] and entries["image"]
    damaged = {"text": entries["text"][:3], "image": entries["image"][:2]}
    for paths in damaged.values():
        for i, path in enumerate(paths):
            data = bytearray(path.read_bytes())
            if i % 2:
                data = data[: len(data) // 3]  # a torn write
            else:
                data[-5] ^= 0x40  # a flipped bit in the tensor bytes
            path.write_bytes(bytes(data))

    saved = json.loads((straight / "train_config.json").read_text())
    cfg = TrainConfig(**{**saved, "out": str(tmp_path / "run"), "cache_dir": str(cache)})
    events: list[ProgressEvent] = []
    run = train(cfg, progress=events.append)
    stats = next(e.stats for e in events if e.stage == "features" and e.stats is not None)
    assert stats["text"]["corrupt"] == 3 and stats["image"]["corrupt"] == 2
    assert metrics(run) == metrics(straight)

    events.clear()
    train(dataclasses.replace(cfg, out=str(tmp_path / "again")), progress=events.append)
    stats = next(e.stats for e in events if e.stage == "features" and e.stats is not None)
    assert stats["text"]["corrupt"] == 0 and stats["image"]["corrupt"] == 0  # rewritten, now trusted
    assert stats["text"]["misses"] == 0 and stats["image"]["misses"] == 0
