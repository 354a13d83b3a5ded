"""The demo's runs on every core: `train_demo` for a share of the tasks in each of a few processes.

Each run's fusion head trains on one thread (loop.py: immune to OpenMP stalls on a busy machine),
so on a machine of two cores the demo's three runs, one after the other, left a core idle for most
of the first start. Here the first process starts alone and reads every post once into the feature
cache (the text and photo readers: what costs most before the first round); the others start when
it has, and find the posts read. A run is the same as `train_demo`'s: its own seed, one thread,
the features from the same cache (written atomically: a post read twice is written twice alike).

Spawned, not forked: the dashboard calls this from a thread of a server that holds locks and
threads of its own.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import traceback
from pathlib import Path
from typing import Any

from crisis_model.data.demo import DEFAULT_TWEETS, DEMO_DATA_DIR, generate_demo_dataset
from crisis_model.errors import CrisisLensError, TrainingError
from crisis_model.training.demo import DEMO_TASKS, train_demo
from crisis_model.training.progress import Progress, ProgressEvent

MAX_PROCESSES = 2  # each loads both readers: a third costs memory and gives a 2-core laptop nothing
POLL_SECONDS = 0.2


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
    out = Path(out)
    data = generate_demo_dataset(Path(data_dir) if data_dir is not None else DEMO_DATA_DIR, n_tweets=n_tweets)
    count = min(processes or min(os.cpu_count() or 1, MAX_PROCESSES), len(tasks))
    if count < 2:
        return train_demo(out, progress, data, n_tweets, tasks, **overrides)
    groups = _shares(tasks, count)
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    workers = [
        context.Process(
            target=_train_share,
            args=(index, out, data, n_tweets, group, overrides, events),
            name=f"crisislens-demo-{'-'.join(group)}",
            daemon=True,
        )
        for index, group in enumerate(groups)
    ]
    offsets = [sum(len(g) for g in groups[:i]) for i in range(len(groups))]
    workers[0].start()
    started, finished = 1, set()
    try:
        while len(finished) < len(workers):
            try:
                index, kind, payload = events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _check_alive(workers, finished, groups)
                continue
            if kind == "event":
                event = dataclasses.replace(payload, run_index=offsets[index] + payload.run_index, run_count=len(tasks))
                if progress is not None:
                    progress(event)
                # the first share's posts are read: the others start, and find them in the cache
                if index == 0 and started < len(workers) and event.stage in ("epoch", "epoch_end", "done"):
                    for worker in workers[started:]:
                        worker.start()
                    started = len(workers)
            elif kind == "failed":
                raise TrainingError(f"training the demo's {', '.join(groups[index])} model failed: {payload}")
            else:
                finished.add(index)
                if started < len(workers):  # the first share ended before any round (all its runs were done)
                    for worker in workers[started:]:
                        worker.start()
                    started = len(workers)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            if worker.pid is not None:
                worker.join()
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


def _check_alive(workers: list, finished: set[int], groups: list[tuple[str, ...]]) -> None:
    """TrainingError when a started process ended without saying so (killed, out of memory)."""
    for index, worker in enumerate(workers):
        if index not in finished and worker.pid is not None and not worker.is_alive() and worker.exitcode != 0:
            raise TrainingError(
                f"the process training the demo's {', '.join(groups[index])} model stopped (exit code "
                f"{worker.exitcode}); its output is in the server's log."
            )


def _train_share(
    index: int,
    out: Path,
    data: Path,
    n_tweets: int,
    tasks: tuple[str, ...],
    overrides: dict[str, Any],
    events: Any,
) -> None:
    """In a process of its own: train_demo for `tasks`, every event and the end sent to `events`."""

    def send(event: ProgressEvent) -> None:
        events.put((index, "event", event))

    try:
        train_demo(out, send, data, n_tweets, tasks, **overrides)
    except CrisisLensError as err:
        events.put((index, "failed", str(err)))
    except Exception as err:  # the details in this process's output (the server's log)
        traceback.print_exc()
        events.put((index, "failed", f"{type(err).__name__}: {err}"))
    else:
        events.put((index, "finished", None))
