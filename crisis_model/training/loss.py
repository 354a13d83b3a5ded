"""The training objective."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def compute_loss(logits: Tensor, labels: Tensor, class_weights: Tensor | None) -> Tensor:
    """Cross-entropy on the logits (in fp32 under autocast), optionally weighted per class."""
    return F.cross_entropy(logits.float(), labels, weight=class_weights)


def balanced_weights(labels: np.ndarray, classes: int) -> Tensor:
    """n / (classes present x count): each class weighs as much in the loss; absent classes 0."""
    counts = np.bincount(labels, minlength=classes).astype(float)
    weights = np.where(counts > 0, len(labels) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)
