"""Starting a run in its folder: a new folder, the same run resumed, or a run replaced on purpose."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from crisis_model.atomic_files import recover_dir, remove_orphaned_temporaries, write_json, write_text
from crisis_model.errors import TrainingError
from crisis_model.run_folder import CHECKPOINT_DIR, COMMAND_FILE, LAST_DIR, RUN_FILES, TRAIN_CONFIG_FILE
from crisis_model.training.config import RUNTIME_FIELDS, TrainConfig, load_train_config


def check_out(cfg: TrainConfig, marker: str = TRAIN_CONFIG_FILE) -> None:
    """The --out folder must be new, or hold this run (--resume) or a run to replace (--overwrite).
    `marker` is the file that marks the folder as a run's (an ablation's has its own)."""
    out = Path(cfg.out)
    if not out.exists() or not any(out.iterdir()):
        if cfg.resume:
            raise TrainingError(f"{out}: nothing to resume, no run there")
        return
    if not (out / marker).exists():
        raise TrainingError(f"{out}: not empty and not a run folder ({marker} missing); refusing to write into it")
    if cfg.resume:
        if marker == TRAIN_CONFIG_FILE:
            _check_same_run(cfg, load_train_config(out / TRAIN_CONFIG_FILE), out)
    elif not cfg.overwrite:
        raise TrainingError(
            f"{out}: holds another run; choose a new --out, continue it with --resume, or replace it with --overwrite"
        )


def changed_options(cfg: TrainConfig, saved: TrainConfig) -> list[str]:
    """The options (other than how to run) in which `cfg` differs from a run's saved config."""
    return [
        f"{f.name}={getattr(cfg, f.name)!r} (the run has {getattr(saved, f.name)!r})"
        for f in dataclasses.fields(cfg)
        if f.name not in RUNTIME_FIELDS + ("out",) and getattr(cfg, f.name) != getattr(saved, f.name)
    ]


def _check_same_run(cfg: TrainConfig, saved: TrainConfig, out: Path) -> None:
    changed = changed_options(cfg, saved)
    if changed:
        raise TrainingError(f"{out}: --resume continues a run as it was started; changed: {'; '.join(changed)}")


def start_folder(cfg: TrainConfig, out: Path, command: str) -> None:
    """Clears a run being replaced, puts back folders a kill caught mid-swap, deletes files a kill
    caught mid-write, and records the config and the command (appended to those of earlier starts
    when resuming)."""
    out.mkdir(parents=True, exist_ok=True)
    if cfg.overwrite and not cfg.resume:
        for name in RUN_FILES:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for name in (CHECKPOINT_DIR, LAST_DIR):
        recover_dir(out / name)
    remove_orphaned_temporaries(out)
    write_json(out / TRAIN_CONFIG_FILE, {**dataclasses.asdict(cfg), "resume": False, "overwrite": False})
    previous = (out / COMMAND_FILE).read_text(encoding="utf-8") if cfg.resume and (out / COMMAND_FILE).exists() else ""
    write_text(out / COMMAND_FILE, previous + command + "\n")
