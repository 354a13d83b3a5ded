"""Run folders: what `train.py` writes, found and described for the dashboard.

A run folder is either one run (it holds checkpoint/, predictions.parquet, metrics.json ...) or a
folder of runs, one per task (runs/demo/{informative,humanitarian,damage}/). Nothing here
imports Streamlit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from crisis_model.errors import CheckpointError

TASK_ORDER = ("informative", "humanitarian", "damage")


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
        return self.folder / "checkpoint" if (self.folder / "checkpoint").is_dir() else self.folder

    @property
    def label_names(self) -> list[str]:
        return [str(label) for label in self.config.get("label_names", [])]

    def file(self, name: str) -> Path:
        return self.folder / name

    @property
    def stamp(self) -> float:
        """Changes when the weights are rewritten, so caches keyed by it reload."""
        return mtime(self.checkpoint / "model.safetensors")


@dataclass(frozen=True)
class RunSet:
    root: Path
    runs: dict[str, TaskRun]
    problems: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return list(self.runs)


def read_checkpoint_config(checkpoint: Path) -> dict:
    try:
        values = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{checkpoint / 'config.json'}: not readable ({err}).") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{checkpoint / 'config.json'}: expected a JSON object.")
    return values


def _run_folders(root: Path) -> list[Path]:
    """`root` itself when it is one run (or a bare checkpoint), else its subfolders that are runs."""
    if (root / "checkpoint" / "config.json").is_file() or (root / "config.json").is_file():
        return [root]
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    return [p for p in children if (p / "checkpoint" / "config.json").is_file()]


def discover_run(root: str | Path) -> RunSet:
    """The task runs in `root`; CheckpointError when there is none."""
    root = Path(root).expanduser()
    if not root.exists():
        raise CheckpointError(f"{root}: no such folder.")
    if not root.is_dir():
        raise CheckpointError(f"{root}: not a folder; a run folder is a folder written by train.py.")
    found: list[TaskRun] = []
    problems: list[str] = []
    for folder in _run_folders(root):
        checkpoint = folder / "checkpoint" if (folder / "checkpoint").is_dir() else folder
        try:
            config = read_checkpoint_config(checkpoint)
        except CheckpointError as err:
            problems.append(str(err))
            continue
        if not (checkpoint / "model.safetensors").is_file():
            problems.append(f"{checkpoint}: model.safetensors is missing.")
            continue
        task = str(config.get("task", folder.name))
        found.append(TaskRun(name=task, task=task, folder=folder, config=config))
    if not found:
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise CheckpointError(
            f"{root}: not a CrisisLens run: no checkpoint/ folder in it or in its subfolders{detail}. "
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
        if not ((folder / "checkpoint" / "model.safetensors").is_file()
                and (folder / "checkpoint" / "config.json").is_file()
                and (folder / "predictions.parquet").is_file()):
            return False
    return True


def find_runs(base: Path, max_depth: int = 4) -> list[Path]:
    """Run folders (holding checkpoint/config.json) below `base`, nearest first."""
    out: list[Path] = []
    base = Path(base)
    if not base.is_dir():
        return out
    for folder, dirs, _files in os.walk(base):
        depth = len(Path(folder).relative_to(base).parts)
        skip = ("checkpoint", "last", "tokenizer", "__pycache__")
        dirs[:] = sorted(d for d in dirs if d not in skip and not d.startswith("."))
        if depth >= max_depth:
            dirs[:] = []
        if (Path(folder) / "checkpoint" / "config.json").is_file():
            out.append(Path(folder))
    return out




def runs_of_task(folders: Iterable[Path], task: str, exclude: Path) -> list[Path]:
    """The run folders among `folders` whose checkpoint is for `task`, without `exclude`, once each."""
    seen, out = {exclude.resolve()}, []
    for folder in folders:
        key = folder.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            if read_checkpoint_config(folder / "checkpoint").get("task") == task:
                out.append(folder)
        except CheckpointError:
            continue
    return out
