"""The training objective: the answer's cross-entropy, plus what keeps both modalities alive.

A gated fusion can settle on one modality when that one alone fits the training labels; the gate
then saturates, the other stream gets no gradient, and the weights shown to an analyst say 100 %
of the decision came from it. Two terms push back (each switchable, for the ablation):

- auxiliary heads: the words' summary and the photo's summary each classify the post on their
  own, with their own cross-entropy (`aux_weight`), so each stream stays informative;
- a gate-entropy bonus (`gate_entropy_weight`): a gate that puts all its weight on one group for
  posts with a photo pays for it, so it moves away from a modality only when the answer gains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from crisis_model.model import CrisisOutput


@dataclass(frozen=True)
class Objective:
    aux_weight: float = 0.0
    gate_entropy_weight: float = 0.0
    class_weights: Tensor | None = None


def classification_loss(logits: Tensor, labels: Tensor, class_weights: Tensor | None = None) -> Tensor:
    """Cross-entropy on the logits (in fp32 under autocast), optionally weighted per class."""
    return F.cross_entropy(logits.float(), labels, weight=class_weights)


def training_loss(output: CrisisOutput, labels: Tensor, objective: Objective) -> Tensor:
    """The answer's loss, plus the auxiliary heads' losses and minus the gate's entropy bonus."""
    loss = classification_loss(output.logits, labels, objective.class_weights)
    with_photo = output.has_image
    if objective.aux_weight > 0:
        for group, logits in output.aux_logits.items():
            rows = with_photo if group == "image" else torch.ones_like(with_photo)
            if bool(rows.any()):
                aux = classification_loss(logits[rows], labels[rows], objective.class_weights)
                loss = loss + objective.aux_weight * aux
    # only a gate that learns has weights with a gradient; the fixed ones of the simpler variants do not
    if objective.gate_entropy_weight > 0 and output.modality_weights.requires_grad and bool(with_photo.any()):
        weights = output.modality_weights[with_photo].float()
        entropy = -(weights * weights.clamp_min(1e-8).log()).sum(dim=-1).mean()
        loss = loss - objective.gate_entropy_weight * entropy
    return loss


def balanced_weights(labels: np.ndarray, classes: int) -> Tensor:
    """n / (classes present x count): each class weighs as much in the loss; absent classes 0."""
    counts = np.bincount(labels, minlength=classes).astype(float)
    weights = np.where(counts > 0, len(labels) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)
