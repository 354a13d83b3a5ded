"""Retraining from the reviews, started from the dashboard: one job at a time per server, in a
process of its own, so it outlives the page, its reloads and the session that started it. No
Streamlit here: `python -m crisis_dashboard.retrain_job FOLDER` is that process.

    jobs = job_folder(server)                       # [paths] jobs, else <corrections database's folder>/retrain
    start(jobs, run_set, corrections_db, "ana@…")   # JobRunning when one is under way
    status(jobs)                                    # what every admin's page shows, None before any

A job retrains every run of the reviewed run set (each run's own command.txt, with --corrections
and a new --out) into <jobs>/runs/<set>-reviewed-<UTC time>/<run>, one after the other. The lock is
a file made with O_EXCL holding the job process's id: a second start is refused while that process
lives, and a lock whose process is gone (a killed server) is taken over. job.json holds the job's
state, written atomically by the job process; its progress is read from each run's history.jsonl.
The run an admin chose to serve instead of the configured one is served.json.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from crisis_dashboard.server_config import DEFAULT_CORRECTIONS, ServerConfig
from crisis_model.atomic_files import write_json
from crisis_model.errors import CrisisLensError
from crisis_model.run_folder import COMMAND_FILE, HISTORY_FILE, TRAIN_CONFIG_FILE, RunSet, TaskRun

JOBS_DIR = "retrain"
JOB_FILE, LOCK_FILE, LOG_FILE, SERVED_FILE = "job.json", "job.lock", "job.log", "served.json"
REPO_ROOT = Path(__file__).resolve().parents[1]


class JobRunning(CrisisLensError):
    """A retrain is under way on this server already."""


@dataclass
class Job:
    out: str  # the new run set
    reviewed: str  # the run set whose answers were reviewed
    corrections: str
    started_by: str
    started_at: str  # UTC, ISO 8601
    commands: list[list[str]]  # train.py's arguments, one list per run
    epochs: list[int]  # each run's epochs, for the progress
    state: str = "running"  # running, done, failed
    current: int = 0  # the run being trained
    returncode: int | None = None
    pid: int | None = None
    runs: list[str] = field(default_factory=list)  # each run's --out


def job_folder(server: ServerConfig) -> Path:
    """The server's retrain folder: [paths] jobs, else beside its corrections database."""
    return server.paths.get("jobs") or server.paths.get("corrections", DEFAULT_CORRECTIONS).parent / JOBS_DIR


def retrain_commands(runs: RunSet, corrections: Path, out: Path) -> tuple[list[list[str]], list[int], list[str]]:
    """For each run of `runs`: train.py's arguments (its own command, with --corrections and a new
    --out), its epochs, and its new folder. A run without command.txt cannot be retrained so."""
    commands, epochs, outs = [], [], []
    for run in runs.runs.values():
        try:
            # a resumed run's file has a line per start; the first is the whole command (a resume
            # may not change it): all lines as one would hand train.py "python train.py ..." as arguments
            lines = [line for line in run.file(COMMAND_FILE).read_text(encoding="utf-8").splitlines() if line.strip()]
            words = shlex.split(lines[0]) if lines else []
        except (OSError, ValueError) as err:
            message = f"{run.folder / COMMAND_FILE}: how the run was trained cannot be read ({err})."
            raise CrisisLensError(message) from None
        args = words[words.index("train.py") + 1 :] if "train.py" in words else []
        target = out / run.folder.name
        args = _without(args, ("--out", "--corrections"), ("--overwrite", "--resume"))
        commands.append([*args, "--out", str(target), "--corrections", str(corrections)])
        epochs.append(_epochs(run, args))
        outs.append(str(target))
    return commands, epochs, outs


def start(jobs: Path, runs: RunSet, corrections: Path, started_by: str) -> Job:
    """Takes the server's lock and starts the job process; JobRunning while another job lives."""
    jobs.mkdir(parents=True, exist_ok=True)
    _take_lock(jobs)
    try:
        now = datetime.now(UTC)
        out = jobs / "runs" / f"{runs.root.name}-reviewed-{now:%Y%m%d-%H%M%S}"
        commands, epochs, outs = retrain_commands(runs, corrections, out)
        job = Job(str(out), str(runs.root), str(corrections), started_by, now.isoformat(timespec="seconds"),
                  commands, epochs, runs=outs)  # fmt: skip
        write_json(jobs / JOB_FILE, asdict(job))
        with open(jobs / LOG_FILE, "w") as log:
            process = subprocess.Popen([sys.executable, "-m", "crisis_dashboard.retrain_job", str(jobs)], cwd=REPO_ROOT,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        (jobs / LOCK_FILE).write_text(str(process.pid))
    except BaseException:
        (jobs / LOCK_FILE).unlink(missing_ok=True)
        raise
    job.pid = process.pid
    return job


def status(jobs: Path) -> Job | None:
    """The last job's state (None before the first); a job whose process died unannounced failed."""
    try:
        job = Job(**json.loads((jobs / JOB_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if job.state == "running" and not _lock_alive(jobs):
        job.state = "failed"
    return job


def epochs_done(job: Job, index: int) -> int:
    try:
        return len((Path(job.runs[index]) / HISTORY_FILE).read_text(encoding="utf-8").splitlines())
    except (OSError, IndexError):
        return 0


def log_tail(jobs: Path, lines: int = 12) -> str:
    try:
        return "\n".join((jobs / LOG_FILE).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def serve(jobs: Path, run: Path, configured: Path | None) -> None:
    """Makes `run` the run this server shows by default, instead of the configured one (None: the
    demo), which is recorded with it: the operator's next configuration wins again."""
    write_json(jobs / SERVED_FILE, {"run": str(run), "instead_of": str(configured) if configured else None})


def served(jobs: Path, configured: Path | None) -> Path | None:
    """The run an admin made the served one, while the operator still configures the run it replaced."""
    try:
        found = json.loads((jobs / SERVED_FILE).read_text(encoding="utf-8"))
        value, instead_of = found.get("run"), found.get("instead_of")
    except (OSError, ValueError, AttributeError):
        return None
    if instead_of != (str(configured) if configured else None):
        return None  # the operator has configured another run since
    return Path(value) if isinstance(value, str) and Path(value).is_dir() else None


def run_job(jobs: Path) -> int:
    """The job process: trains each run in turn, writing the state after each; frees the lock."""
    job = Job(**json.loads((jobs / JOB_FILE).read_text(encoding="utf-8")))
    job.pid = os.getpid()
    try:
        for index, args in enumerate(job.commands):
            job.current = index
            write_json(jobs / JOB_FILE, asdict(job))
            print(f"$ python train.py {shlex.join(args)}", flush=True)
            job.returncode = subprocess.run([sys.executable, "train.py", *args], cwd=REPO_ROOT).returncode
            if job.returncode != 0:
                break
        job.state = "done" if job.returncode == 0 else "failed"
        write_json(jobs / JOB_FILE, asdict(job))
    finally:
        (jobs / LOCK_FILE).unlink(missing_ok=True)
    return 0 if job.state == "done" else 1


def _take_lock(jobs: Path) -> None:
    lock = jobs / LOCK_FILE
    for _ in range(2):
        try:
            handle = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            # this server's id until the job's replaces it: a server killed in between leaves a lock
            # whose process is gone, which the next start removes (an empty one would hold for ever)
            os.write(handle, str(os.getpid()).encode())
            os.close(handle)
            return
        except FileExistsError:
            if _lock_alive(jobs):
                job = status(jobs)
                who = f" (started by {job.started_by} at {job.started_at[11:16]} UTC)" if job else ""
                raise JobRunning(f"A retrain is under way on this server{who}; one runs at a time.") from None
            lock.unlink(missing_ok=True)  # its process is gone: a killed server left it
    raise JobRunning("Another retrain took the lock at the same moment; one runs at a time.")


def _lock_alive(jobs: Path) -> bool:
    """Whether the lock's job process (its id in the file) still runs; a lock being made counts."""
    try:
        text = (jobs / LOCK_FILE).read_text().strip()
    except OSError:
        return False
    if not text:
        return True  # made by start() this instant, its process id not written yet
    try:
        pid = int(text)
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    # a job process killed outright (SIGKILL, the OOM killer) stays a zombie of this server until
    # reaped, and signal 0 reaches a zombie: reap it here, so its lock does not hold for ever
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:  # not this process's child (another server, or reaped already)
        pass
    return True


def _without(args: list[str], valued: tuple[str, ...], flags: tuple[str, ...]) -> list[str]:
    """`args` less the options `valued` (with their values) and the `flags`."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in valued:
            skip = True
        elif arg not in flags and arg.split("=")[0] not in valued:
            out.append(arg)
    return out


def _epochs(run: TaskRun, args: list[str]) -> int:
    """The run's epochs: as typed in its command, else as its train_config.json says (0: unknown)."""
    if "--epochs" in args[:-1]:
        return int(args[args.index("--epochs") + 1])
    from crisis_model.training.config import load_train_config  # torch and the data layer: only when asked

    try:
        return load_train_config(run.file(TRAIN_CONFIG_FILE)).total_epochs
    except CrisisLensError:
        return 0


if __name__ == "__main__":
    sys.exit(run_job(Path(sys.argv[1])))
