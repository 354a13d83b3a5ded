"""The resume state in last/: what training changes, saved after every epoch as safetensors + JSON.

An interrupted run resumes from it to exactly the result an uninterrupted run would have had:
the trainable weights, the optimizer's state and the run's counters. Frozen weights are the same
as in checkpoint/, which a resumed run starts from, so they are not saved twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from crisis_model.atomic_files import replace_dir
from crisis_model.errors import TrainingError
from crisis_model.model import CrisisModel
from crisis_model.run_folder import LAST_DIR, OPTIMIZER_FILE, STATE_FILE, TRAINABLE_FILE


def trainable_state(model: CrisisModel) -> dict[str, Tensor]:
    """Parameters that learn, and buffers (batch-norm statistics in full fine-tuning)."""
    learning = {name for name, p in model.named_parameters() if p.requires_grad}
    buffers = {name for name, _ in model.named_buffers()}
    return {
        name: t.detach().cpu().contiguous()
        for name, t in model.state_dict().items()
        if name in learning or name in buffers
    }


def save_last(folder: Path, model: CrisisModel, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Writes last/ whole: trainable.safetensors, optimizer.safetensors and state.json."""

    def build(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        save_file(trainable_state(model), str(tmp / TRAINABLE_FILE))
        opt = optimizer.state_dict()
        tensors, scalars = {}, {}
        for index, values in opt["state"].items():
            for name, value in values.items():
                if isinstance(value, Tensor):
                    tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
                else:
                    scalars[f"{index}.{name}"] = value
        save_file(tensors, str(tmp / OPTIMIZER_FILE))
        state_json = {**state, "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars}}
        (tmp / STATE_FILE).write_text(json.dumps(state_json, indent=2) + "\n", encoding="utf-8")

    replace_dir(folder, build)


def load_last(folder: Path, model: CrisisModel, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restores the weights and optimizer of the last completed epoch; returns state.json."""
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        trainable = load_file(str(folder / TRAINABLE_FILE))
        tensors = load_file(str(folder / OPTIMIZER_FILE))
        saved_groups, scalars = state["optimizer"]["param_groups"], state["optimizer"]["scalars"]
    except (OSError, ValueError, SafetensorError, KeyError, TypeError) as err:
        raise TrainingError(
            f"{folder}: unreadable resume state ({type(err).__name__}: {err}); start the run again with --overwrite"
        ) from None
    missing = set(trainable_state(model)) - set(trainable)
    unexpected = set(trainable) - set(model.state_dict())
    if missing or unexpected:
        raise TrainingError(f"{folder}: resume state does not match the model ({sorted(missing | unexpected)[:3]})")
    peaks = [group["peak_lr"] for group in optimizer.param_groups]
    if len(saved_groups) != len(peaks):
        raise TrainingError(
            f"{folder}: the resume state has {len(saved_groups)} groups of weights and this model {len(peaks)} "
            "(a run of an older CrisisLens?); start it again with --overwrite"
        )
    try:
        model.load_state_dict(trainable, strict=False)
        per_param: dict[int, dict[str, Any]] = {}
        for key, value in list(tensors.items()) + list(scalars.items()):
            index, name = key.split(".", 1)
            per_param.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": per_param, "param_groups": saved_groups})
    except (RuntimeError, ValueError, KeyError, TypeError) as err:  # shapes of another model, a hand-edited file
        reason = " ".join(str(err).split())[:300]  # torch's message spans lines, one per mismatched weight
        raise TrainingError(
            f"{folder}: resume state does not fit this model ({type(err).__name__}: {reason}); "
            "start the run again with --overwrite"
        ) from None
    for group, peak in zip(optimizer.param_groups, peaks):  # an older resume state has no peak
        group["peak_lr"] = peak
    return state


def epochs_done(run: Path) -> int:
    """How many epochs the run in `run` has completed (0 when none)."""
    path = run / LAST_DIR / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8"))["epoch"] if path.exists() else 0
