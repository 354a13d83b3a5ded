"""The demo's runs on every core: `train_demo` for a share of the tasks in each of a few processes.

Each run's fusion head trains on one thread (loop.py: immune to OpenMP stalls on a busy machine),
so on a machine of two cores the demo's three runs, one after the other, left a core idle for most
of the first start. Here the first process starts alone and reads every post once into the feature
cache (the text and photo readers: what costs most before the first round); the others start when
it has, and find the posts read. A run is the same as `train_demo`'s: its own seed, one thread,
the features from the same cache (written atomically: a post read twice is written twice alike).

The processes are `python -m crisis_model.training.demo_processes SPEC`, each sending its events
as JSON lines on its output: not multiprocessing, whose spawned child runs the parent's main
module again, and in the dashboard that is app.py, run by Streamlit as __main__.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from crisis_model.data.demo import DEFAULT_TWEETS, DEMO_DATA_DIR, generate_demo_dataset
from crisis_model.errors import CrisisLensError, TrainingError
from crisis_model.training.demo import DEMO_TASKS, train_demo
from crisis_model.training.progress import Progress, ProgressEvent

MAX_PROCESSES = 2  # each loads both readers: a third costs memory and gives a 2-core laptop nothing
MARK = "crisislens-demo-event "  # starts an event's line; the process's other output is passed on
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds crisis_model/


def train_demo_processes(
    out: str | Path,
    progress: Progress | None = None,
    data_dir: str | Path | None = None,
    n_tweets: int = DEFAULT_TWEETS,
    tasks: tuple[str, ...] = tuple(DEMO_TASKS),
    processes: int | None = None,
    **overrides: Any,
) -> Path:
    """`train_demo(out, progress, data_dir, n_tweets, tasks, **overrides)`, the tasks shared among
    `processes` (default: one per core, at most MAX_PROCESSES) in the order given, the first
    process's before the others'. Events reach `progress` in this process, each run's `run_index`
    its place in `tasks`. A process's failure raises TrainingError with its message."""
    out = Path(out).absolute()
    data = generate_demo_dataset(Path(data_dir) if data_dir is not None else DEMO_DATA_DIR, n_tweets=n_tweets)
    count = min(processes or min(os.cpu_count() or 1, MAX_PROCESSES), len(tasks))
    if count < 2:
        return train_demo(out, progress, data, n_tweets, tasks, **overrides)
    shares = _shares(tasks, count)
    offsets = [sum(len(share) for share in shares[:index]) for index in range(len(shares))]
    messages: queue.Queue = queue.Queue()
    started: list[subprocess.Popen] = []

    def start(index: int) -> None:
        spec = {"out": str(out), "data": str(data.absolute()), "n_tweets": n_tweets, "tasks": shares[index]}
        started.append(_start_share(index, {**spec, "overrides": overrides}, messages))

    start(0)
    ended = 0
    try:
        while ended < len(shares):
            index, kind, payload = messages.get()
            if kind == "event":
                event = dataclasses.replace(payload, run_index=offsets[index] + payload.run_index, run_count=len(tasks))
                if progress is not None:
                    progress(event)
                # the first share's posts are read (its first round began): the others start and find them
                if index == 0 and len(started) == 1 and event.stage in ("epoch", "epoch_end", "done"):
                    for other in range(1, len(shares)):
                        start(other)
            elif kind == "failed":
                raise TrainingError(f"training the demo's {', '.join(shares[index])} model failed: {payload}")
            else:  # the process ended
                if payload != 0:
                    raise TrainingError(
                        f"the process training the demo's {', '.join(shares[index])} model stopped (exit code "
                        f"{payload}); its output is in the server's log."
                    )
                ended += 1
                if len(started) == 1:  # it had nothing to train: the others start now
                    for other in range(1, len(shares)):
                        start(other)
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()
            process.wait()
    return out


def _shares(tasks: tuple[str, ...], count: int) -> list[tuple[str, ...]]:
    """`tasks` cut into `count` runs of neighbours, the first the longest (it starts first)."""
    size, extra = divmod(len(tasks), count)
    shares, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        shares.append(tasks[start:end])
        start = end
    return shares


def _start_share(index: int, spec: dict[str, Any], messages: queue.Queue) -> subprocess.Popen:
    """Starts the process of one share and a thread that puts (index, kind, payload) on `messages`
    for each of its events, its failure and its end (kind "ended", payload its exit code)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", __name__, json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=env,
    )

    def relay() -> None:
        try:
            for line in process.stdout:
                if line.startswith(MARK):
                    message = json.loads(line[len(MARK) :])
                    payload = _event(message["event"]) if message["kind"] == "event" else message["message"]
                    messages.put((index, message["kind"], payload))
                else:
                    sys.stdout.write(line)
        finally:  # whatever happens here, the training loop hears that the process ended
            messages.put((index, "ended", process.wait()))

    threading.Thread(target=relay, name=f"crisislens-demo-share-{index}", daemon=True).start()
    return process


def _event(fields: dict[str, Any]) -> ProgressEvent:
    return ProgressEvent(**{**fields, "warnings": tuple(fields.get("warnings") or ())})


def _send(kind: str, **message: Any) -> None:
    print(MARK + json.dumps({"kind": kind, **message}), flush=True)


def main(spec_json: str) -> int:
    """One share, in a process of its own: train_demo for its tasks, every event on stdout."""
    spec = json.loads(spec_json)
    try:
        train_demo(
            Path(spec["out"]),
            lambda event: _send("event", event=dataclasses.asdict(event)),
            Path(spec["data"]),
            spec["n_tweets"],
            tuple(spec["tasks"]),
            **spec["overrides"],
        )
    except CrisisLensError as err:
        _send("failed", message=str(err))
        return 1
    return 0  # any other fault: its traceback on stderr, the server's log, and a non-zero exit code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
