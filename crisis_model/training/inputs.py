"""Batches for the training loop: from the feature cache (frozen backbones), or read from the
posts at every step (backbones that learn)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from crisis_model.model import CrisisModel
from crisis_model.model.modeling import TEXT_INPUTS
from crisis_model.training.features import ImageFiles, PostFeatures


class CachedInputs:
    """Batches from the feature cache (frozen backbones): the head alone runs each step."""

    workers = 0

    def __init__(self, features: PostFeatures, device: torch.device) -> None:
        self.features, self.device = features, device

    def dataset(self, rows: Sequence[int]) -> Sequence[int]:
        return list(rows)

    def collate(self, rows: list[int]) -> Tensor:
        return torch.tensor(rows)

    def inputs(self, batch: Tensor, drop: str | None = None) -> tuple[Tensor, dict[str, Any]]:
        return batch, self.features.inputs(batch, self.device, drop)


class RawInputs:
    """Batches read from the posts at every step, for backbones that train (LoRA, full)."""

    def __init__(self, model: CrisisModel, frame: pd.DataFrame, workers: int, device: torch.device) -> None:
        self.model, self.device, self.workers = model, device, workers
        self.texts = frame["text"].tolist()
        self.paths = frame["image_path"].tolist() if model.config.uses_image else [""] * len(frame)

    def dataset(self, rows: Sequence[int]) -> Dataset:
        return ImageFiles([self.paths[row] for row in rows], self.model.config.image_size, ids=rows)

    collate = staticmethod(list)

    def inputs(
        self, batch: list[tuple[int, Tensor | str | None]], drop: str | None = None
    ) -> tuple[Tensor, dict[str, Any]]:
        """The batch's rows and model inputs; with `drop` "photo" or "words", without them."""
        # an unreadable image (an error message here) leaves a text-only post, as at inference
        batch = [(row, image if isinstance(image, Tensor) and drop != "photo" else None) for row, image in batch]
        rows = torch.tensor([row for row, _ in batch])
        has_image = torch.tensor([image is not None for _, image in batch])
        inputs: dict[str, Any] = {"has_image": has_image.to(self.device)}
        if self.model.config.uses_text:
            encoded = self.model.tokenize(["" if drop == "words" else self.texts[row] for row in rows.tolist()])
            inputs.update({k: encoded[k].to(self.device) for k in TEXT_INPUTS})
        if bool(has_image.any()):
            size = self.model.config.image_size
            blank = torch.zeros(3, size, size)
            pixels = [image if image is not None else blank for _, image in batch]
            inputs["pixel_values"] = torch.stack(pixels).to(self.device)
        return rows, inputs


Inputs = CachedInputs | RawInputs


def make_loader(
    source: Inputs, rows: Sequence[int], batch_size: int, sampler: DistributedSampler | None = None
) -> DataLoader:
    return DataLoader(
        source.dataset(rows),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=source.workers,
        collate_fn=source.collate,
        pin_memory=source.device.type == "cuda",
    )
