"""Retrains from the dashboard (crisis_dashboard.retrain_job): the lock of a job process killed
outright (SIGKILL, the OOM killer), which stays a zombie of the server that started it until reaped
(a zombie still answers signal 0, so the lock looked held for ever: the page said "running" and no
retrain could start until a restart); and the command of a resumed run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from crisis_dashboard import retrain_job
from crisis_model.run_folder import TRAIN_CONFIG_FILE, discover_run


def test_a_job_process_killed_outright_frees_the_lock_and_reads_failed(tmp_path) -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    pid = process.pid
    (tmp_path / retrain_job.LOCK_FILE).write_text(str(pid))
    (tmp_path / retrain_job.JOB_FILE).write_text(json.dumps(
        {"out": "o", "reviewed": "r", "corrections": "c", "started_by": "ana", "started_at": "2026-01-01T00:00:00",
         "commands": [[]], "epochs": [1]}))  # fmt: skip
    assert retrain_job._lock_alive(tmp_path)
    del process  # as start() leaves it: nobody waits for the job process
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not retrain_job._lock_alive(tmp_path)
    assert retrain_job.status(tmp_path).state == "failed"
    retrain_job._take_lock(tmp_path)  # a new retrain may start


def test_a_resumed_runs_retrain_takes_its_first_command_not_every_line_as_one(demo_run, tmp_path) -> None:
    """A run resumed once has two lines in command.txt; read as one, the second line's "python
    train.py" became arguments of train.py, and the retrain failed at once."""
    import shutil

    from crisis_model.run_folder import COMMAND_FILE, discover_run

    runs = tmp_path / "demo"
    shutil.copytree(demo_run / "damage", runs / "damage")
    command = runs / "damage" / COMMAND_FILE
    first = command.read_text(encoding="utf-8")
    command.write_text(first + "python train.py --out elsewhere/damage --resume\n", encoding="utf-8")
    (args,), _, _ = retrain_job.retrain_commands(discover_run(runs), tmp_path / "c.db", tmp_path / "out")
    assert "python" not in args and "train.py" not in args and "--resume" not in args
    assert args[-4:] == ["--out", str(tmp_path / "out" / "damage"), "--corrections", str(tmp_path / "c.db")]


def test_a_lock_left_by_a_server_killed_before_its_job_started_is_taken_again(tmp_path) -> None:
    """The lock holds the server's own id until the job's replaces it: a server killed in between
    (its id gone) leaves a lock the next start removes; an empty lock would have held for ever."""
    take = "import pathlib, sys, crisis_dashboard.retrain_job as job; job._take_lock(pathlib.Path(sys.argv[1]))"
    server = subprocess.Popen([sys.executable, "-c", take, str(tmp_path)], cwd=Path(__file__).resolve().parents[1])
    assert server.wait(timeout=60) == 0
    assert (tmp_path / retrain_job.LOCK_FILE).read_text() == str(server.pid)
    assert not retrain_job._lock_alive(tmp_path)
    retrain_job._take_lock(tmp_path)
    assert (tmp_path / retrain_job.LOCK_FILE).read_text() == str(os.getpid())


def test_the_served_run_gives_way_when_the_operator_configures_another(tmp_path) -> None:
    retrained, configured, later = (tmp_path / name for name in ("retrained", "configured", "later"))
    for folder in (retrained, configured, later):
        folder.mkdir()
    retrain_job.serve(tmp_path, retrained, configured)
    assert retrain_job.served(tmp_path, configured) == retrained
    assert retrain_job.served(tmp_path, later) is None  # the operator's new configuration wins
    assert retrain_job.served(tmp_path, None) is None


def test_the_retrains_epochs_come_from_the_runs_options_and_a_broken_file_reads_unknown(demo_run, tmp_path) -> None:
    """A run saved with no --epochs gets its default worked out (10 with a frozen reader); a
    train_config.json that is not JSON, or holds an unknown option, gives 0 (unknown), never an error."""
    runs = tmp_path / "demo"
    shutil.copytree(demo_run / "informative", runs / "informative")
    saved = runs / "informative" / TRAIN_CONFIG_FILE
    values = json.loads(saved.read_text(encoding="utf-8"))
    run = next(iter(discover_run(runs).runs.values()))
    saved.write_text(json.dumps({**values, "epochs": None}), encoding="utf-8")
    assert retrain_job._epochs(run, []) == 10
    assert retrain_job._epochs(run, ["--epochs", "4", "--out", "x"]) == 4
    for broken in ("{not json", json.dumps({**values, "secret": 1}), json.dumps([1, 2])):
        saved.write_text(broken, encoding="utf-8")
        assert retrain_job._epochs(run, []) == 0
