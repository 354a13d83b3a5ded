"""What the model returns for a batch: one named output, as transformers' ModelOutput classes are."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class CrisisOutput:
    """The model's answer for a batch, with everything needed to explain it."""

    logits: Tensor  # (B, num_labels): the log of `probabilities`
    probabilities: Tensor  # (B, num_labels): the votes of the evidence groups, weighted
    modality_weights: Tensor  # (B, 3): the weights of the text, image and joint votes; sum to 1
    capsule_lengths: Tensor  # (B, S): length of each capsule the GRU reads, group after group
    has_image: Tensor  # (B,) bool: what the model saw
    token_to_region: Tensor | None = None  # (B, L, 49): each token's attention over the regions
    region_to_token: Tensor | None = None  # (B, 49, L); None for a batch without photos
    routing_coefficients: Tensor | None = None  # (B, I, J): each group's capsules, group after group; sums to 1 over j
    vote_logits: dict[str, Tensor] = field(default_factory=dict)  # per evidence group: its vote (B, num_labels)
