"""The retrain lock of a job process killed outright (SIGKILL, the OOM killer): the process stays
a zombie of the server that started it until reaped, and a zombie still answers signal 0, so the
lock looked held for ever: the page said "running" and no retrain could start until a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from crisis_dashboard import retrain_job


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
