"""Where code runs, for training and scoring alike: one process or torchrun's several, the device,
autocast, seeds and CPU threads."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist

from crisis_model.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")  # auto: a CUDA GPU when PyTorch sees one


@dataclass
class Distributed:
    """This process's place among torchrun's processes; the default is a single process.
    `share(value)` gives every process process 0's value (what the others pass is not used)."""

    rank: int = 0
    world: int = 1
    barrier: Callable[[], None] = lambda: None
    share: Callable[[Any], Any] = lambda value: value


def _share_from_first(value: Any) -> Any:
    box = [value]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


@contextlib.contextmanager
def processes(device_choice: str) -> Iterator[tuple[Distributed, torch.device]]:
    """One process, or one of torchrun's (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPUs."""
    use_cuda = torch.cuda.is_available() and device_choice != "cpu"
    if device_choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is visible to PyTorch")
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        yield Distributed(), torch.device("cuda" if use_cuda else "cpu")
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    owned = not torch_dist.is_initialized()
    if owned:
        torch_dist.init_process_group("nccl" if use_cuda else "gloo")
    try:
        rank, world = torch_dist.get_rank(), torch_dist.get_world_size()
        yield Distributed(rank, world, torch_dist.barrier, _share_from_first), device
    finally:
        if owned:
            torch_dist.destroy_process_group()


def seed_everything(seed: int, epoch: int | None = None) -> None:
    """Seeds every generator; each epoch from (seed, epoch), so a resumed run repeats the epochs
    an uninterrupted one would have run without storing any generator state."""
    value = seed if epoch is None else int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)


@contextlib.contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """torch's CPU threads set to `count` (None: unchanged) for the duration."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def compute_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast precision of training on `device`: bf16 on a GPU; None (full precision) on the
    CPU, where bf16 matmuls are slow on most chips."""
    return torch.bfloat16 if device.type == "cuda" else None


def device_autocast(device: torch.device) -> contextlib.AbstractContextManager:
    dtype = compute_dtype(device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
