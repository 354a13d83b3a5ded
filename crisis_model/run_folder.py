"""The run folder: what `train.py` writes, spelled out once, written safely, and found again.

A run folder (the dashboard and the scoring command read it as it is):

    checkpoint/          the epoch with the best dev macro-F1: config.json, model.safetensors, tokenizer/
    last/                resume state of the last completed epoch: trainable weights and optimizer
                         state (safetensors) and state.json (epoch, best score, history)
    metrics.json         split -> scores of the best checkpoint (see crisis_model.metrics)
    predictions.parquet  one row per dev / test post: labels, probabilities, modality weights, routing
    history.jsonl        one line per epoch: losses, dev scores, learning rate, seconds
    train_config.json    the TrainConfig;  command.txt: the command of each start (and resume)
    corrections.json     with --corrections: the corrections applied, held-out scores with them apart

A folder of runs holds one run per task (runs/demo/{informative,humanitarian,damage}/); an ablation
folder holds one run per variant and seed beside ablation.json / ablation.md.

Every file is written with crisis_model.atomic_files, so a kill at any moment leaves the old or the
new version, never half of one. The checkpoint folder's own files are named in crisis_model.config.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from crisis_model.config import CONFIG_FILE, TOKENIZER_DIR, WEIGHTS_FILE
from crisis_model.errors import CheckpointError

# A run folder (train.py).
CHECKPOINT_DIR = "checkpoint"
LAST_DIR = "last"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.parquet"
HISTORY_FILE = "history.jsonl"
TRAIN_CONFIG_FILE = "train_config.json"
COMMAND_FILE = "command.txt"
CORRECTIONS_FILE = "corrections.json"  # train.py --corrections: what the reviewers' corrections changed
INIT_DIR = ".init"  # the new model process 0 hands to the other torchrun processes
RUN_FILES = (
    CHECKPOINT_DIR,
    LAST_DIR,
    METRICS_FILE,
    PREDICTIONS_FILE,
    HISTORY_FILE,
    TRAIN_CONFIG_FILE,
    COMMAND_FILE,
    CORRECTIONS_FILE,
    INIT_DIR,
)

# last/: the resume state.
STATE_FILE = "state.json"
TRAINABLE_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"

# An ablation folder (train.py --ablation).
ABLATION_JSON = "ablation.json"
ABLATION_MD = "ablation.md"
ABLATION_RUNS = "ablation_runs.json"  # written first: marks a folder as an ablation's

TASK_ORDER = ("informative", "humanitarian", "damage")


# ------------------------------------------------------------------------------ finding runs


def mtime(path: Path) -> float:
    """The file's modification time, 0 when it is missing: a cache key that changes on rewrite."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@dataclass(frozen=True)
class TaskRun:
    """One trained model and the files train.py wrote beside it."""

    name: str  # the task, or "<task> (<folder>)" when a folder holds two runs of one task
    task: str
    folder: Path
    config: dict = field(hash=False, compare=False)

    @property
    def checkpoint(self) -> Path:
        return self.folder / CHECKPOINT_DIR if (self.folder / CHECKPOINT_DIR).is_dir() else self.folder

    @property
    def label_names(self) -> list[str]:
        return [str(label) for label in self.config.get("label_names", [])]

    def file(self, name: str) -> Path:
        return self.folder / name

    @property
    def stamp(self) -> float:
        """Changes when the weights are rewritten, so caches keyed by it reload."""
        return mtime(self.checkpoint / WEIGHTS_FILE)


@dataclass(frozen=True)
class RunSet:
    root: Path
    runs: dict[str, TaskRun]
    problems: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return list(self.runs)


def read_checkpoint_config(checkpoint: Path) -> dict:
    """A checkpoint's config.json as a dict, without building anything."""
    path = checkpoint / CONFIG_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not readable ({err}).") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: expected a JSON object.")
    return values


def _is_run(folder: Path) -> bool:
    return (folder / CHECKPOINT_DIR / CONFIG_FILE).is_file()


def _run_folders(root: Path) -> list[Path]:
    """`root` itself when it is one run (or a bare checkpoint), else its subfolders that are runs."""
    if _is_run(root) or (root / CONFIG_FILE).is_file():
        return [root]
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    return [p for p in children if _is_run(p)]


def discover_run(root: str | Path) -> RunSet:
    """The task runs in `root` (one run, a bare checkpoint, or a folder of runs); CheckpointError
    when there is none."""
    root = Path(root).expanduser()
    if not root.exists():
        raise CheckpointError(f"{root}: no such folder.")
    if not root.is_dir():
        raise CheckpointError(f"{root}: not a folder; a run folder is a folder written by train.py.")
    found: list[TaskRun] = []
    problems: list[str] = []
    for folder in _run_folders(root):
        checkpoint = folder / CHECKPOINT_DIR if (folder / CHECKPOINT_DIR).is_dir() else folder
        try:
            config = read_checkpoint_config(checkpoint)
        except CheckpointError as err:
            problems.append(str(err))
            continue
        if not (checkpoint / WEIGHTS_FILE).is_file():
            problems.append(f"{checkpoint}: {WEIGHTS_FILE} is missing.")
            continue
        task = str(config.get("task", folder.name))
        found.append(TaskRun(name=task, task=task, folder=folder, config=config))
    if not found:
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise CheckpointError(
            f"{root}: not a CrisisLens run: no {CHECKPOINT_DIR}/ folder in it or in its subfolders{detail}. "
            "Train one with `python train.py --demo --out runs/demo`, or enter another run folder in the sidebar."
        )
    order = {task: i for i, task in enumerate(TASK_ORDER)}
    found.sort(key=lambda r: (order.get(r.task, len(order)), r.task, r.folder.name))
    counts: dict[str, int] = {}
    for run in found:
        counts[run.task] = counts.get(run.task, 0) + 1
    runs = {}
    for run in found:
        name = run.task if counts[run.task] == 1 else f"{run.task} ({run.folder.name})"
        runs[name] = TaskRun(name=name, task=run.task, folder=run.folder, config=run.config)
    return RunSet(root=root, runs=runs, problems=tuple(problems))


def demo_run_complete(root: Path) -> bool:
    """Whether `root` holds a finished run of every demo task (checkpoint and predictions)."""
    for task in TASK_ORDER:
        folder = root / task
        checkpoint = folder / CHECKPOINT_DIR
        if not (
            (checkpoint / WEIGHTS_FILE).is_file()
            and (checkpoint / CONFIG_FILE).is_file()
            and (folder / PREDICTIONS_FILE).is_file()
        ):
            return False
    return True


def folders_below(base: Path, max_depth: int, skip: tuple[str, ...] = ()) -> Iterator[Path]:
    """`base` and the folders below it down to `max_depth` levels, nearest first, in name order;
    hidden folders and those named in `skip` are not entered."""
    base = Path(base)
    if not base.is_dir():
        return
    for folder, dirs, _files in os.walk(base):
        depth = len(Path(folder).relative_to(base).parts)
        dirs[:] = sorted(d for d in dirs if d not in skip and not d.startswith(".")) if depth < max_depth else []
        yield Path(folder)


def find_runs(base: Path, max_depth: int = 4) -> list[Path]:
    """Run folders below `base`, nearest first."""
    skip = (CHECKPOINT_DIR, LAST_DIR, TOKENIZER_DIR, "__pycache__")
    return [folder for folder in folders_below(base, max_depth, skip) if _is_run(folder)]


def runs_of_task(folders: Iterable[Path], task: str, exclude: Path) -> list[Path]:
    """The run folders among `folders` whose checkpoint is for `task`, without `exclude`, once each."""
    seen, out = {exclude.resolve()}, []
    for folder in folders:
        key = folder.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            if read_checkpoint_config(folder / CHECKPOINT_DIR).get("task") == task:
                out.append(folder)
        except CheckpointError:
            continue
    return out
