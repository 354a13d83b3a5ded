"""One training run's options: `TrainConfig`, checked once before any data is read.

The fields mirror train.py's options (`--batch-size` is batch_size); a run folder keeps them in
train_config.json, and `--resume` continues a run only with the options it was started with
(the RUNTIME_FIELDS aside, which say how to run, not what).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crisis_model.config import BACKBONE_MODES, FUSIONS, PRESETS, PROMPTS, CrisisConfig, preset_config
from crisis_model.data import LABEL_SOURCES, get_task
from crisis_model.errors import ConfigError, TrainingError

DEFAULT_CACHE_DIR = ".crisislens/features"
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """One training run; the defaults are the paper's hyper-parameters where it gives them."""

    out: str
    data_root: str | None = None  # a CrisisMMD v2.0 folder ...
    posts: str | None = None  # ... or a CSV / JSONL file of labelled posts
    corrections: str | None = None  # a corrections database (crisis_model.corrections): its labels win
    task: str = "informative"
    labels: str = "agreed"  # agreed | text | image annotations
    preset: str = "minilm"
    fusion: str = "full"
    prompt: str | None = None  # a name in config.PROMPTS, a template holding {text}, or None: the preset's
    backbone_mode: str = "frozen"
    lora_rank: int = 8
    text_backbone: str | None = None  # overrides the preset's (a local folder or hub name)
    hidden_size: int | None = None  # overrides the preset's fusion width
    photo_pooling: str | None = None  # "mean" or "max"; None: max for a task judged from the photo, else mean
    batch_size: int = 32
    lr: float = 1e-3
    dropout: float = 0.5
    epochs: int = 10
    weight_decay: float = 0.0
    warmup: float = 0.05  # fraction of the steps with a linearly rising learning rate, then cosine
    grad_clip: float = 1.0
    class_weights: bool = False  # weigh the loss by inverse class frequency
    # what keeps every modality alive (crisis_model.training.loss); defaults measured on the demo
    vote_weight: float = 0.3  # each evidence group's vote trained on its own too (0: off)
    gate_entropy_weight: float = 0.1  # a bonus for a gate that does not put all its weight on one vote (0: off)
    modality_dropout: float = 0.0  # chance that a training post's photo is hidden for a step (not for damage)
    dedupe: bool = False  # drop train posts repeating another's text, image and label
    drop_leaked: bool = True  # drop train posts whose normalised text is also a dev or test post's
    dev_fraction: float = 0.15  # of a posts file without a dev split, held out as dev
    seed: int = 0
    # how, not what: these may change when a run is resumed
    workers: int = 2
    # CPU threads of the training loop; None: one with frozen backbones (it holds up best on a shared
    # machine; more is faster on a dedicated one), else torch's default
    threads: int | None = None
    device: str = "auto"
    cache_dir: str | None = DEFAULT_CACHE_DIR  # None: features kept in memory only
    resume: bool = False
    overwrite: bool = False


RUNTIME_FIELDS = ("epochs", "workers", "threads", "device", "cache_dir", "resume", "overwrite")


def check_config(cfg: TrainConfig) -> None:
    """Names and numbers, before any data is read: ConfigError naming the option otherwise."""
    get_task(cfg.task)
    choices = {
        "labels": LABEL_SOURCES,
        "preset": tuple(PRESETS),
        "fusion": FUSIONS,
        "backbone_mode": BACKBONE_MODES,
        "device": DEVICES,
    }
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise ConfigError(f"unknown {name} {getattr(cfg, name)!r}; choose one of {', '.join(allowed)}")
    if cfg.prompt is not None and cfg.prompt not in PROMPTS and "{text}" not in cfg.prompt:
        raise ConfigError(
            f"--prompt {cfg.prompt!r} is neither a prompt name ({', '.join(PROMPTS)}) nor a template holding {{text}}"
        )
    if (cfg.data_root is None) == (cfg.posts is None):
        raise ConfigError("give exactly one of --data-root (a CrisisMMD folder) and --posts (a CSV/JSONL file)")
    for name in ("batch_size", "epochs"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be at least 1, not {getattr(cfg, name)}")
    if cfg.threads is not None and cfg.threads < 1:
        raise ConfigError(f"threads must be at least 1, not {cfg.threads}")
    if not cfg.lr > 0 or not 0 <= cfg.dropout < 1 or not 0 <= cfg.warmup < 1 or not 0 < cfg.dev_fraction < 1:
        raise ConfigError("lr must be > 0, and dropout, warmup and dev_fraction within [0, 1)")
    if cfg.vote_weight < 0 or cfg.gate_entropy_weight < 0 or not 0 <= cfg.modality_dropout < 1:
        raise ConfigError("vote_weight and gate_entropy_weight must be >= 0, modality_dropout within [0, 1)")
    config = model_config(cfg)
    if config.hidden_size % config.attention_heads:
        raise ConfigError(
            f"--hidden-size {config.hidden_size} must be a multiple of the {config.attention_heads} attention heads"
        )


def model_config(cfg: TrainConfig) -> CrisisConfig:
    """The config of the model this run trains: its preset, with the run's options over it."""
    task = get_task(cfg.task)
    overrides: dict[str, Any] = dict(
        task=cfg.task,
        label_names=list(task.label_names),
        requires_image=task.text_column is None,  # labelled from the photo alone (damage)
        # damage sits in a part of the photo: a mean over its regions averaged it away (bench/NOTES.md)
        photo_pooling=cfg.photo_pooling or ("max" if task.text_column is None else "mean"),
        fusion=cfg.fusion,
        backbone_mode=cfg.backbone_mode,
        lora_rank=cfg.lora_rank,
        dropout=cfg.dropout,
    )
    if cfg.prompt is not None:
        overrides["prompt"] = PROMPTS.get(cfg.prompt, cfg.prompt)
    if cfg.text_backbone is not None:
        overrides["text_backbone"] = cfg.text_backbone
    if cfg.hidden_size is not None:
        overrides["hidden_size"] = cfg.hidden_size
    return preset_config(cfg.preset, **overrides)


def command_line(cfg: TrainConfig) -> str:
    """The train.py command that gives this config (the options that differ from the defaults)."""
    words = ["python", "train.py"]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        option = "--" + f.name.replace("_", "-")
        if f.name == "cache_dir" and value is None:
            words.append("--no-cache")
        elif isinstance(value, bool):
            words.append(option)  # every flag defaults to False
        else:
            words += [option, str(value)]
    return shlex.join(words)


def load_train_config(path: Path) -> TrainConfig:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
        return TrainConfig(**values)
    except (OSError, json.JSONDecodeError, TypeError) as err:
        raise TrainingError(f"{path}: not a readable train config ({err})") from None
