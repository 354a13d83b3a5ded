"""A language model read in two parts: the frozen layers below a cut, the layers that train above it.

Fine-tuning the top k layers of a text reader (`text_finetune_layers`) on a CPU is affordable only
because the layers below the cut never change: their output for each post is computed once and
kept in the feature cache, and each training step runs the k layers above the cut on it. Both
parts are the Hugging Face model's own forward, run with its list of blocks cut:

    below:  embeddings -> blocks[:cut]                     (the final norm left out)
    above:  states at the cut -> blocks[cut:] -> final norm  (the embeddings bypassed)

so masks, positions and relative-position biases are made exactly as in the whole model, and the
two parts together give its output (`tests/test_finetune.py` checks every family below against
the whole model). Each family names its blocks, what turns token ids into the first states, and
its final norm differently: `STACKS`.

The cut is made by swapping modules in and out for the length of a call, so a model must not be
read by another thread while it runs (training and feature computing own their model).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from crisis_model.errors import ConfigError


class _GivenStates(nn.Module):
    """BERT's and MPNet's embeddings above the cut: the states given as `inputs_embeds`, as they are."""

    def forward(self, *_: object, inputs_embeds: Tensor, **__: object) -> Tensor:
        return inputs_embeds


class _NoPositions(nn.Module):
    """GPT-2's position embeddings above the cut: it adds them to the states it is given; zero adds nothing."""

    def forward(self, position_ids: Tensor) -> Tensor:
        return torch.zeros((), device=position_ids.device)


@dataclass(frozen=True)
class Stack:
    """Where a model family keeps its parts (attribute paths from the base model)."""

    blocks: str  # the ModuleList of transformer blocks
    # the steps before the first block that must not touch the states given above the cut (embeddings,
    # positions, embedding dropout), each with its stand-in
    bypass: tuple[tuple[str, type[nn.Module]], ...]
    final_norm: str | None  # applied after the last block: left out below the cut


STACKS = {
    "bert": Stack("encoder.layer", (("embeddings", _GivenStates),), None),
    "mpnet": Stack("encoder.layer", (("embeddings", _GivenStates),), None),
    "llama": Stack("layers", (), "norm"),  # SmolLM2: states given as inputs_embeds are read as they are
    "gpt2": Stack("h", (("wpe", _NoPositions), ("drop", nn.Identity)), "ln_f"),
}


def stack_of(backbone: nn.Module) -> Stack:
    model_type = getattr(backbone.config, "model_type", "")
    if model_type not in STACKS:
        raise ConfigError(
            f"text_finetune_layers: fine-tuning the top layers is built for {', '.join(sorted(STACKS))} readers, "
            f"not {model_type!r}: freeze it whole (--finetune-layers 0), or train it as a whole (--backbone-mode lora "
            "or full)"
        )
    return STACKS[model_type]


def block_count(backbone: nn.Module) -> int:
    return len(backbone.get_submodule(stack_of(backbone).blocks))


def top_modules(backbone: nn.Module, layers: int) -> list[nn.Module]:
    """The modules above the cut: the top `layers` blocks and the final norm."""
    stack = stack_of(backbone)
    blocks = backbone.get_submodule(stack.blocks)
    top = list(blocks[len(blocks) - layers :])
    return top + ([backbone.get_submodule(stack.final_norm)] if stack.final_norm else [])


def below_cut(backbone: nn.Module, layers_above: int, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """The states (B, L, D) the top `layers_above` blocks read: the output of the block below them."""
    stack = stack_of(backbone)
    blocks = backbone.get_submodule(stack.blocks)
    swaps = {stack.blocks: nn.ModuleList(blocks[: len(blocks) - layers_above])}
    if stack.final_norm:
        swaps[stack.final_norm] = nn.Identity()
    with _swapped(backbone, swaps):
        return backbone(input_ids=input_ids, attention_mask=attention_mask, **_no_cache(backbone)).last_hidden_state


def above_cut(backbone: nn.Module, layers_above: int, states: Tensor, attention_mask: Tensor) -> Tensor:
    """The model's last hidden states (B, L, D) from the states at the cut."""
    stack = stack_of(backbone)
    blocks = backbone.get_submodule(stack.blocks)
    swaps: dict[str, nn.Module] = {stack.blocks: nn.ModuleList(blocks[len(blocks) - layers_above :])}
    swaps.update({name: stand_in() for name, stand_in in stack.bypass})
    with _swapped(backbone, swaps):
        return backbone(inputs_embeds=states, attention_mask=attention_mask, **_no_cache(backbone)).last_hidden_state


def _no_cache(backbone: nn.Module) -> dict[str, bool]:
    """Causal models would build a key/value cache for generation: not wanted here."""
    return {"use_cache": False} if hasattr(backbone.config, "use_cache") else {}


@contextlib.contextmanager
def _swapped(root: nn.Module, swaps: dict[str, nn.Module]) -> Iterator[None]:
    originals = {path: root.get_submodule(path) for path in swaps}
    try:
        for path, module in swaps.items():
            root.set_submodule(path, module)
        yield
    finally:
        for path, module in originals.items():
            root.set_submodule(path, module)
