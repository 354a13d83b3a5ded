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


@dataclass(frozen=True)
class Stack:
    """Where a model family keeps its parts (attribute paths from the base model)."""

    blocks: str  # the ModuleList of transformer blocks
    embeddings: tuple[str, ...]  # what adds to or transforms the token embeddings: bypassed above the cut
    final_norm: str | None  # applied after the last block: left out below the cut


STACKS = {
    "bert": Stack("encoder.layer", ("embeddings",), None),
    "mpnet": Stack("encoder.layer", ("embeddings",), None),
    "llama": Stack("layers", (), "norm"),  # SmolLM2: given states, it reads them as they are
    "gpt2": Stack("h", ("wpe", "drop"), "ln_f"),  # it adds position embeddings to the states it is given
}


def stack_of(backbone: nn.Module) -> Stack:
    model_type = getattr(backbone.config, "model_type", "")
    if model_type not in STACKS:
        raise ConfigError(
            f"text_finetune_layers: fine-tuning the top layers is built for {', '.join(sorted(STACKS))} readers, "
            f"not {model_type!r}; use backbone_mode 'lora' or 'full' for this one"
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
    swaps.update({name: _Bypass() for name in stack.embeddings})
    with _swapped(backbone, swaps):
        return backbone(inputs_embeds=states, attention_mask=attention_mask, **_no_cache(backbone)).last_hidden_state


class _Bypass(nn.Module):
    """Stands in for an embedding step above the cut: the states pass as they are. As BERT's and
    MPNet's `embeddings` it returns the states it is given; as GPT-2's position embeddings a zero
    that adds nothing; as GPT-2's embedding dropout, its input."""

    def forward(self, input_ids: Tensor | None = None, *args: object, inputs_embeds: Tensor | None = None, **_: object):
        if inputs_embeds is not None:  # BERT, MPNet: embeddings(input_ids=None, ..., inputs_embeds=states)
            return inputs_embeds
        if input_ids is not None and input_ids.is_floating_point():  # GPT-2's dropout: drop(states)
            return input_ids
        return torch.zeros(())  # GPT-2's wpe(position_ids): states + 0


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
