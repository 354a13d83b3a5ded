"""The fusion head: contextual attention, a modality gate, and dynamic routing.

The paper names these parts but leaves them open; this is the design the project fixed:

1. Both modalities are projected to one width: text tokens T (B, L, D), image regions R (B, 49, D).
2. Contextual attention: tokens attend over regions (what in the image each word relates to) and
   regions over tokens. Both attention matrices are kept for the explanation.
3. A modality gate turns the two contextualised summaries into weights (text, image) summing to 1.
4. Primary capsules are built from each modality's summary, scaled by its gate weight, and routed
   by agreement (Sabour et al. 2017) to J fused capsules.
5. Fully connected layers (dropout) and a GRU read the capsule sequence; a linear layer classifies.

The ablations of the paper's table switch steps off (`CrisisConfig.fusion`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crisis_model.config import CrisisConfig
from crisis_model.model.outputs import CrisisOutput


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


class ContextualAttention(nn.Module):
    """Cross-modal attention both ways, each with a residual and layer norm."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.text_to_image = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.image_to_text = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.text_norm = nn.LayerNorm(width)
        self.image_norm = nn.LayerNorm(width)

    def forward(
        self, tokens: Tensor, token_mask: Tensor, regions: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """Returns attended tokens, attended regions, token->region (B, L, R), region->token (B, R, L).

        `regions` of batch size 1 under a larger batch of tokens are the stand-in regions that every
        post of a batch without photos shares. Their keys and values are then projected once for
        all the batch's tokens, and the regions do not attend back (region->token is None): for a
        post without a photo the gate gives the image summary no weight, so that side would change
        neither the logits nor the gradients, only cost time."""
        if regions.shape[0] != tokens.shape[0]:
            batch, length, width = tokens.shape
            text_ctx, token_to_region = self.text_to_image(tokens.reshape(1, batch * length, width), regions, regions)
            return (
                self.text_norm(tokens + text_ctx.view(batch, length, width)),
                regions.expand(batch, -1, -1),
                token_to_region.view(batch, length, -1),
                None,
            )
        text_ctx, token_to_region = self.text_to_image(tokens, regions, regions)
        image_ctx, region_to_token = self.image_to_text(regions, tokens, tokens, key_padding_mask=~token_mask)
        return (
            self.text_norm(tokens + text_ctx),
            self.image_norm(regions + image_ctx),
            token_to_region,
            region_to_token,
        )


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class FusionHead(nn.Module):
    """Everything after the backbones: from token states and region vectors to logits."""

    def __init__(self, config: CrisisConfig, text_dim: int, image_dim: int, regions: int) -> None:
        super().__init__()
        self.config = config
        width, caps, cap_dim = config.hidden_size, config.capsules_per_modality, config.capsule_dim
        self.text_proj = nn.Sequential(nn.Linear(text_dim, width), nn.LayerNorm(width))
        self.image_proj = nn.Sequential(nn.Linear(image_dim, width), nn.LayerNorm(width))
        # Stands in for the regions of a post without an image (learned, not zeros).
        self.no_image_regions = nn.Parameter(torch.randn(regions, width) * 0.02)

        contextual = config.fusion in ("full", "attention")
        self.attention = ContextualAttention(width, config.attention_heads, dropout=0.1) if contextual else None
        self.gate = nn.Sequential(nn.Linear(2 * width, width), nn.Tanh(), nn.Linear(width, 2)) if contextual else None
        self.text_capsules = nn.Linear(width, caps * cap_dim) if config.uses_text else None
        self.image_capsules = nn.Linear(width, caps * cap_dim) if config.uses_image else None
        in_capsules = caps * (config.uses_text + config.uses_image)
        self.routing = (
            DynamicRouting(in_capsules, config.fused_capsules, cap_dim, config.routing_iterations)
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
        pooled_text: Tensor | None,
        region_states: Tensor | None,
        has_image: Tensor,
    ) -> CrisisOutput:
        """token_states (B, L, Dt), token_mask (B, L) bool, pooled_text (B, Dt),
        region_states (B, R, Di), has_image (B,) bool. Absent modalities are None."""
        cfg = self.config
        batch = has_image.shape[0]
        regions = None
        if cfg.uses_image:
            if region_states is None or not bool(has_image.any()):
                regions = self.no_image_regions[None]  # (1, R, D): shared by the whole batch
            else:
                regions = torch.where(has_image[:, None, None], self.image_proj(region_states), self.no_image_regions)

        token_to_region = region_to_token = None
        if self.attention is not None:
            tokens = self.text_proj(token_states)
            tokens, regions, token_to_region, region_to_token = self.attention(tokens, token_mask, regions)
            text = masked_mean(tokens, token_mask)
            image = regions.mean(dim=1)
            gate_logits = self.gate(torch.cat([text, image], dim=-1))
            # A post without an image gets all its weight on the text.
            gate_logits = gate_logits.masked_fill(
                torch.stack([torch.zeros_like(has_image), ~has_image], dim=1), float("-inf")
            )
            weights = gate_logits.softmax(dim=-1)
        else:
            text = self.text_proj(pooled_text) if cfg.uses_text else None
            image = regions.mean(dim=1).expand(batch, -1) if cfg.uses_image else None
            weights = self._fixed_weights(has_image, text.dtype if text is not None else image.dtype)

        capsules = []
        if cfg.uses_text:
            capsules.append(self._primary(self.text_capsules, text) * weights[:, :1, None])
        if cfg.uses_image:
            capsules.append(self._primary(self.image_capsules, image) * weights[:, 1:, None])
        sequence = torch.cat(capsules, dim=1)  # (B, I, d) primary capsules
        routing = None
        if self.routing is not None:
            sequence, routing = self.routing(sequence)  # (B, J, d) fused capsules

        hidden, _ = self.rnn(self.fc(sequence))
        logits = self.classifier(hidden[:, -1])
        return CrisisOutput(
            logits=logits,
            probabilities=logits.float().softmax(dim=-1),
            modality_weights=weights,
            has_image=has_image,
            capsule_lengths=sequence.norm(dim=-1),
            token_to_region=token_to_region,
            region_to_token=region_to_token,
            routing_coefficients=routing,
        )

    def _primary(self, layer: nn.Linear, summary: Tensor) -> Tensor:
        return squash(layer(summary).view(summary.shape[0], -1, self.config.capsule_dim))

    def _fixed_weights(self, has_image: Tensor, dtype: torch.dtype) -> Tensor:
        """Modality weights of the ungated variants: what each modality contributes by design."""
        cfg = self.config
        text = torch.ones_like(has_image, dtype=dtype)
        if cfg.fusion == "image":
            text = torch.zeros_like(text)
        elif cfg.fusion == "concat":
            text = torch.where(has_image, 0.5, 1.0).to(dtype)
        return torch.stack([text, 1.0 - text], dim=1)
