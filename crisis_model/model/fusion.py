"""The fusion head: evidence from the words, the photo and the two read together, each routed
and classified, and the three votes weighed by a gate.

The paper names contextual attention and dynamic routing but leaves them open; this is the
design the project fixed (FUSION_VERSION 2):

1. Each modality is summarised on its own, before anything mixes them: the words by the text
   reader's pooled vector (the post's own tokens, or a causal LM's last token), the photo by the
   mean of its 7x7 region vectors, or each feature's maximum over them (`photo_pooling`: damage in
   one corner of a photo survives a maximum but is averaged away by a mean; bench/NOTES.md). Both
   are projected to one width D.
2. Contextual attention: the post's tokens attend over the photo's regions and the regions over
   the post's tokens. What it adds is summarised as a third, *joint* evidence group; it never
   flows back into the words' or the photo's own summary.
3. Each evidence group becomes primary capsules, routed by agreement (Sabour et al. 2017) to J
   fused capsules, which fully connected layers (dropout), a GRU and a linear layer read into
   that group's vote: a probability for each class. The three groups share the FC, GRU and linear
   layers; each has its own capsules and routing.
4. A gate reads the three summaries and weighs the votes (softmax: text, image, joint); the
   answer is the weighted mean of the votes, so a weight says exactly how much a group's vote
   counted. A post without a photo has only the words' vote; a post without words of its own
   (the prompt alone) only the photo's.
5. Training adds each vote's own cross-entropy (crisis_model.training.loss), so that no group
   starves while another fits the labels.

The ablations of the paper's table switch steps off (`CrisisConfig.fusion`): without attention
there is no joint group and no gate (the words' and the photo's votes count half each).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crisis_model.config import CrisisConfig
from crisis_model.model.outputs import CrisisOutput

GROUPS = ("text", "image", "joint")  # the evidence groups, in the order of the gate's weights


def evidence_groups(config: CrisisConfig) -> tuple[str, ...]:
    """The evidence groups a fusion variant builds capsules from, in GROUPS order."""
    used = {"text": config.uses_text, "image": config.uses_image, "joint": config.fusion in ("full", "attention")}
    return tuple(g for g in GROUPS if used[g])


def squash(s: Tensor, dim: int = -1, eps: float = 1e-8) -> Tensor:
    """Sabour et al.'s non-linearity: keeps the direction, maps the length into [0, 1)."""
    squared_norm = (s * s).sum(dim=dim, keepdim=True)
    return squared_norm / (1.0 + squared_norm) * s / torch.sqrt(squared_norm + eps)


class DynamicRouting(nn.Module):
    """Routing-by-agreement from I primary capsules to J output capsules.

    Each primary capsule i predicts every output capsule j through its own matrix W_ij:
    u_hat[j|i] = W_ij u_i. Routing logits b_ij start at 0; each iteration sets the coupling
    coefficients c_ij = softmax over j of b_ij, forms s_j = sum_i c_ij u_hat[j|i], v_j = squash(s_j),
    and raises b_ij by the agreement u_hat[j|i] . v_j.
    """

    def __init__(self, in_capsules: int, out_capsules: int, dim: int, iterations: int) -> None:
        super().__init__()
        self.iterations = iterations
        # scaled so a prediction u_hat is about as long as the capsule u that casts it
        self.weight = nn.Parameter(torch.randn(in_capsules, out_capsules, dim, dim) / dim**0.5)

    def forward(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """u: (B, I, d) -> capsules v (B, J, d) and coupling coefficients c (B, I, J)."""
        u_hat = torch.einsum("ijed,bid->bije", self.weight, u)  # (B, I, J, d)
        logits = u.new_zeros(u_hat.shape[:3])  # b_ij
        for iteration in range(self.iterations):
            coupling = logits.softmax(dim=2)  # over output capsules j
            v = squash((coupling.unsqueeze(-1) * u_hat).sum(dim=1))  # (B, J, d)
            if iteration < self.iterations - 1:
                logits = logits + (u_hat * v.unsqueeze(1)).sum(dim=-1)
        return v, coupling


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class ContextualAttention(nn.Module):
    """Cross-modal attention both ways; returns the joint evidence's summary (B, D) and both
    attention matrices: token->region (B, L, R) and region->token (B, R, L)."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.text_to_image = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.image_to_text = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.joint = nn.Sequential(nn.Linear(2 * width, width), nn.LayerNorm(width))

    def forward(self, tokens: Tensor, post_mask: Tensor, regions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        # the photo in the words' terms: what each of the post's tokens found among the regions
        seen, token_to_region = self.text_to_image(tokens, regions, regions)
        # the words in the photo's terms: what each region found among the post's tokens
        read, region_to_token = self.image_to_text(regions, tokens, tokens, key_padding_mask=~post_mask)
        joint = self.joint(torch.cat([masked_mean(seen, post_mask), read.mean(dim=1)], dim=-1))
        return joint, token_to_region, region_to_token


class FusionHead(nn.Module):
    """Everything after the readers: from token states and region vectors to the weighted votes."""

    def __init__(self, config: CrisisConfig, text_dim: int, image_dim: int, regions: int) -> None:
        super().__init__()
        self.config = config
        width, caps, cap_dim = config.hidden_size, config.capsules_per_modality, config.capsule_dim
        self.text_proj = nn.Sequential(nn.Linear(text_dim, width), nn.LayerNorm(width))
        # A frozen CNN's region vectors can all point nearly the same way (a random one's do): each
        # feature is standardised over the photos seen in training before it is projected.
        self.image_norm = nn.BatchNorm1d(image_dim)
        self.image_proj = nn.Sequential(nn.Linear(image_dim, width), nn.LayerNorm(width))
        # Stands in for the regions of a post without an image (learned, not zeros); its weight is 0.
        self.no_image_regions = nn.Parameter(torch.randn(regions, width) * 0.02)

        self.groups = evidence_groups(config)
        self.attention = (
            ContextualAttention(width, config.attention_heads, dropout=0.1) if "joint" in self.groups else None
        )
        self.gate = (
            nn.Sequential(nn.Linear(3 * width, width), nn.Tanh(), nn.Linear(width, 3))
            if self.attention is not None
            else None
        )
        self.capsules = nn.ModuleDict({g: nn.Linear(width, caps * cap_dim) for g in self.groups})
        self.routing = (
            nn.ModuleDict(
                {
                    g: DynamicRouting(caps, config.fused_capsules, cap_dim, config.routing_iterations)
                    for g in self.groups
                }
            )
            if config.fusion == "full"
            else None
        )
        self.fc = nn.Sequential(nn.Linear(cap_dim, config.fc_size), nn.ReLU(), nn.Dropout(config.dropout))
        self.rnn = nn.GRU(config.fc_size, config.rnn_size, batch_first=True)
        self.classifier = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.rnn_size, config.num_labels))

    def forward(
        self,
        token_states: Tensor | None,
        token_mask: Tensor | None,
        post_mask: Tensor | None,
        pooled_text: Tensor | None,
        region_states: Tensor | None,
        has_image: Tensor,
        regions: Tensor | None = None,
        tokens: Tensor | None = None,
    ) -> CrisisOutput:
        """token_states (B, L, Dt), token_mask and post_mask (B, L) bool (real tokens; the post's own),
        pooled_text (B, Dt), region_states (B, R, Di), has_image (B,) bool. Absent modalities are None.
        `regions` (B, R, D) and `tokens` (B, L, D), when given, are the photos' regions and the tokens
        already projected to the head's width (`project_photos`, `text_proj`): scoring one post many
        times over (an explanation hides each square of its photo in turn) projects them once."""
        batch = has_image.shape[0]
        summaries: dict[str, Tensor] = {}
        if self.config.uses_text:
            summaries["text"] = self.text_proj(pooled_text)
        if self.config.uses_image:
            if regions is None:
                regions = self.no_image_regions.expand(batch, -1, -1)
                if region_states is not None and bool(has_image.any()):
                    regions = torch.where(
                        has_image[:, None, None], self.project_photos(region_states, has_image), regions
                    )
            summaries["image"] = regions.amax(dim=1) if self.config.photo_pooling == "max" else regions.mean(dim=1)

        token_to_region = region_to_token = None
        if self.attention is not None and bool(has_image.any()):
            tokens = self.text_proj(token_states) if tokens is None else tokens
            # a post with no words of its own (the prompt alone) attends from its real tokens, never padding
            own = torch.where(post_mask.any(dim=1, keepdim=True), post_mask, token_mask)
            summaries["joint"], token_to_region, region_to_token = self.attention(tokens, own, regions)
        elif self.attention is not None:  # no photo in the batch: the joint vote has weight 0 anyway
            summaries["joint"] = torch.zeros_like(summaries["text"])

        # a post without words of its own (the prompt alone) has no words to weigh: the photo answers
        has_words = post_mask.any(dim=1) if post_mask is not None else torch.zeros_like(has_image)
        weights = self._weights(summaries, has_image, has_words)
        votes = {g: self._vote(g, summaries[g]) for g in self.groups}
        probabilities = sum(
            weights[:, GROUPS.index(g), None] * votes[g][0].float().softmax(dim=-1) for g in self.groups
        )
        return CrisisOutput(
            logits=probabilities.clamp_min(1e-12).log(),  # the weighted votes, as logits
            probabilities=probabilities,
            modality_weights=weights,
            capsule_lengths=torch.cat([votes[g][1] for g in self.groups], dim=1),
            has_image=has_image,
            token_to_region=token_to_region,
            region_to_token=region_to_token,
            routing_coefficients=torch.cat([votes[g][2] for g in self.groups], dim=1) if self.routing else None,
            vote_logits={g: votes[g][0] for g in self.groups},
        )

    def project_photos(self, region_states: Tensor, has_image: Tensor) -> Tensor:
        """(B, R, D) projected regions of the posts with a photo (zeros elsewhere); the batch-norm
        statistics come from real photos only."""
        photos = region_states[has_image]
        normed = self.image_norm(photos.flatten(0, 1)).view_as(photos)
        projected = photos.new_zeros((*region_states.shape[:2], self.config.hidden_size))
        projected[has_image] = self.image_proj(normed).to(projected.dtype)
        return projected

    def _vote(self, group: str, summary: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """One group's vote (logits, B x K), the lengths of the capsules its GRU read (B, S) and,
        with routing, its coupling coefficients (B, capsules, J)."""
        capsules = self._primary(self.capsules[group], summary)
        coupling = None
        if self.routing is not None:
            capsules, coupling = self.routing[group](capsules)  # (B, J, d) fused capsules
        hidden, _ = self.rnn(self.fc(capsules))
        return self.classifier(hidden[:, -1]), capsules.norm(dim=-1), coupling

    def _weights(self, summaries: dict[str, Tensor], has_image: Tensor, has_words: Tensor) -> Tensor:
        """(B, 3) weights of the text, image and joint votes, summing to 1: the gate's where the
        variant has one, else what each modality contributes by design. Without a photo the words
        have all the weight; without words (and with a photo) the photo has it."""
        some = next(iter(summaries.values()))
        no_photo, photo_alone = ~has_image, has_image & ~has_words
        if self.gate is not None:
            logits = self.gate(torch.cat([summaries[g] for g in GROUPS], dim=-1))
            # a vote whose evidence is missing gets no weight: the photo's and the joint one without a
            # photo, the words' and the joint one without words
            missing = torch.stack([photo_alone, no_photo, no_photo | photo_alone], 1)
            return logits.masked_fill(missing, float("-inf")).softmax(dim=-1)
        text = torch.ones(has_image.shape[0], dtype=some.dtype, device=some.device)
        if not self.config.uses_text:
            text = torch.zeros_like(text)
        elif self.config.uses_image:  # concat: half each when there is a photo, the photo alone without words
            text = torch.where(has_image, torch.where(has_words, 0.5, 0.0), 1.0).to(some.dtype)
        return torch.stack([text, 1.0 - text, torch.zeros_like(text)], dim=1)

    def _primary(self, layer: nn.Linear, summary: Tensor) -> Tensor:
        return squash(layer(summary).view(summary.shape[0], -1, self.config.capsule_dim))
