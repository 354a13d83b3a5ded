"""The training objective: the answer's cross-entropy, plus what keeps every modality alive.

The answer is the gate's weighted mean of the votes of the words, the photo and the two read
together (crisis_model.model.fusion). Trained on the answer alone, a vote the gate weighs little
gets little gradient: the gate can settle on one modality, and the other stream starves while
the weights shown to an analyst say 100 % of the decision came from the first. So each vote is
also trained on its own (`vote_weight`: its cross-entropy, the photo's and the joint vote's on
posts with a photo), and a gate-entropy bonus (`gate_entropy_weight`) makes a gate that puts all
its weight on one vote pay for it, so that it moves away from a vote only where the answer gains.
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
    vote_weight: float = 0.0
    gate_entropy_weight: float = 0.0
    class_weights: Tensor | None = None


def classification_loss(logits: Tensor, labels: Tensor, class_weights: Tensor | None = None) -> Tensor:
    """Cross-entropy on the logits (in fp32 under autocast), optionally weighted per class."""
    return F.cross_entropy(logits.float(), labels, weight=class_weights)


def training_loss(output: CrisisOutput, labels: Tensor, objective: Objective) -> Tensor:
    """The answer's loss, plus the votes' own losses and minus the gate's entropy bonus."""
    loss = classification_loss(output.logits, labels, objective.class_weights)
    with_photo = output.has_image
    if objective.vote_weight > 0:
        for group, logits in output.vote_logits.items():
            rows = torch.ones_like(with_photo) if group == "text" else with_photo
            if bool(rows.any()):
                vote = classification_loss(logits[rows], labels[rows], objective.class_weights)
                loss = loss + objective.vote_weight * vote
    # only a gate that learns has weights with a gradient; the fixed ones of the simpler variants do not
    if not (output.modality_weights.requires_grad and bool(with_photo.any())):
        return loss
    weights = output.modality_weights[with_photo].float()
    if objective.gate_entropy_weight > 0:
        entropy = -(weights * weights.clamp_min(1e-8).log()).sum(dim=-1).mean()
        loss = loss - objective.gate_entropy_weight * entropy
    return loss


def balanced_weights(labels: np.ndarray, classes: int) -> Tensor:
    """n / (classes present x count): each class weighs as much in the loss; absent classes 0."""
    counts = np.bincount(labels, minlength=classes).astype(float)
    weights = np.where(counts > 0, len(labels) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)
