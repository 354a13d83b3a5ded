"""One training run's options: `TrainConfig`, checked once before any data is read.

Each field is also train.py's option of the same name (`batch_size` is `--batch-size`): its help,
choices and bounds sit in the field (crisis_model.options), and `check_config` holds them for a
config from anywhere. A run folder keeps the fields in train_config.json, and `--resume` continues
a run only with the options it was started with (the RUNTIME_FIELDS aside, which say how to run,
not what).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crisis_model.config import BACKBONE_MODES, FUSIONS, PHOTO_POOLINGS, PRESETS, PROMPTS, CrisisConfig, preset_config
from crisis_model.data import LABEL_SOURCES, TASKS, get_task
from crisis_model.errors import ConfigError, TrainingError
from crisis_model.options import check_options, option, option_name
from crisis_model.runtime import DEVICES

DEFAULT_CACHE_DIR = ".crisislens/features"
FROZEN_READER_EPOCHS = 10  # the paper's, where only the head learns
# a fine-tuned reader's dev scores stop rising after a few epochs (README, "Real-data benchmark"),
# and each epoch runs its top layers over every train post
FINETUNE_EPOCHS = 3
# a head that learns only beside a reader's top layers, for those few epochs, never learned
# humanitarian's rare classes (macro F1 0.627 against 0.763 after a warm-up: bench/NOTES.md)
WARM_UP_EPOCHS = 10


@dataclass
class TrainConfig:
    """One training run; the defaults are the paper's hyper-parameters where it gives them."""

    # data: where the posts come from, and which labels
    out: str = option(
        dataclasses.MISSING,
        "the run folder to create, e.g. runs/NAME (required unless --demo)",
        group="run",
        metavar="DIR",
    )
    data_root: str | None = option(
        None,
        "a CrisisMMD v2.0 folder (crisismmd_datasplit_all/, annotations/, data_image/)",
        group="data",
        metavar="DIR",
    )
    posts: str | None = option(
        None,
        "your own labelled posts instead: .csv or .jsonl with columns text, label and optionally image_path, "
        "split (train/dev/test), post_id, event",
        group="data",
        metavar="FILE",
    )
    corrections: str | None = option(
        None,
        "a corrections database written by the dashboard's Review page: its labels win over the dataset's; "
        "corrected dev/test posts are scored apart (corrections.json in --out)",
        group="data",
        metavar="DB",
    )
    task: str = option("informative", "what to predict", choices=tuple(TASKS), group="data")
    labels: str = option(
        "agreed",
        "which CrisisMMD annotation: of the text, of the image, or the pairs where both agree; damage has image "
        "labels only",
        choices=LABEL_SOURCES,
        group="data",
    )
    dedupe: bool = option(False, "drop train posts that repeat another's text, image and label", group="data")
    drop_leaked: bool = option(
        True, "keep train posts whose normalised text is also a dev or test post's (dropped by default)", group="data"
    )
    dev_fraction: float = option(
        0.15, "share of a posts file held out as dev when it has no dev split", above=0, below=1, group="data"
    )
    # model: readers, fusion, prompt
    preset: str = option("minilm", "readers and sizes (see below)", choices=tuple(PRESETS), group="model")
    fusion: str | None = option(
        None,
        "full = attention + modality gate + dynamic routing; attention = without routing; concat = no attention; "
        "text / image = one modality (default: image for a task labelled from the photo alone, damage; text when "
        "no train post has a photo; else full)",
        choices=FUSIONS,
        group="model",
    )
    prompt: str | None = option(
        None,
        f"what the language model reads: a name ({', '.join(PROMPTS)}) or a template with {{text}} "
        "(default: the preset's, see below)",
        group="model",
    )
    backbone_mode: str = option(
        "frozen",
        "frozen readers (cached features, fast), LoRA adapters on the language model (peft), or full fine-tuning",
        choices=BACKBONE_MODES,
        group="model",
    )
    lora_rank: int = option(8, "rank of the LoRA adapters", at_least=1, group="model")
    finetune_layers: int | None = option(
        None,
        "with frozen readers: fine-tune the text reader's top K layers on the cached output of the layers below "
        "them, 0 for none (default: the preset's, see below)",
        at_least=0,
        group="model",
        metavar="K",
    )
    text_backbone: str | None = option(
        None,
        "replace the preset's language model (a Hugging Face name or local folder)",
        group="model",
        metavar="NAME_OR_DIR",
    )
    hidden_size: int | None = option(None, "replace the preset's fusion width", at_least=1, group="model")
    photo_pooling: str | None = option(
        None,
        "the photo's summary over its 7x7 regions (default: max for a task judged from the photo, damage; else mean)",
        choices=PHOTO_POOLINGS,
        group="model",
    )
    # optimisation (defaults: the paper's)
    batch_size: int = option(32, "posts per step and process", at_least=1, group="optimisation")
    lr: float = option(1e-3, "peak learning rate of AdamW; warm-up then cosine decay", above=0, group="optimisation")
    reader_lr: float = option(
        5e-5,
        "peak learning rate of the text reader's fine-tuned top layers (--finetune-layers)",
        above=0,
        group="optimisation",
    )
    dropout: float = option(0.5, "dropout of the fusion head", at_least=0, below=1, group="optimisation")
    epochs: int | None = option(
        None,
        f"epochs in all (default: {FROZEN_READER_EPOCHS} when only the head learns, {FINETUNE_EPOCHS} when the text "
        "reader's top layers learn too; a resumed run may raise it)",
        at_least=1,
        group="optimisation",
    )
    head_epochs: int | None = option(
        None,
        "with --finetune-layers: epochs that train the head alone first, on what the reader's top layers say "
        f"before they learn (seconds each), then the layers learn with it (default: {WARM_UP_EPOCHS} on a task "
        "of more than two classes, whose rare classes a head learning beside the layers missed; else 0)",
        at_least=0,
        group="optimisation",
    )
    weight_decay: float = option(0.0, "AdamW's weight decay", at_least=0, group="optimisation")
    warmup: float = option(
        0.05, "share of the steps with a rising learning rate", at_least=0, below=1, group="optimisation"
    )
    grad_clip: float = option(1.0, "gradient norm limit, 0 for none", at_least=0, group="optimisation")
    class_weights: bool = option(False, "weigh the loss by inverse class frequency", group="optimisation")
    # what keeps every modality alive (crisis_model.training.loss); defaults measured on the demo
    vote_weight: float = option(
        0.3,
        "weight of each evidence group's vote (words, photo, both) trained on its own, which keeps every modality "
        "informative; 0 turns it off",
        at_least=0,
        group="optimisation",
    )
    gate_entropy_weight: float = option(
        0.1,
        "bonus for a gate that does not put all its weight on one vote; 0 turns it off",
        at_least=0,
        group="optimisation",
    )
    modality_dropout: float = option(
        0.0,
        "chance that a training post's photo is hidden for a step (not for damage)",
        at_least=0,
        below=1,
        group="optimisation",
    )
    seed: int = option(0, "seed of every random generator", at_least=0, group="optimisation")
    # how, not what: these may change when a run is resumed
    workers: int = option(2, "DataLoader processes decoding images", at_least=0, group="run")
    threads: int | None = option(
        None,
        "CPU threads of the training loop (default: 1 with frozen readers, which holds up best on a shared "
        "machine; more is faster on a dedicated one)",
        at_least=1,
        group="run",
    )
    device: str = option("auto", "auto = CUDA (bf16 autocast) when a GPU is present", choices=DEVICES, group="run")
    cache_dir: str | None = option(
        DEFAULT_CACHE_DIR,
        "where the readers' features are kept between runs (--no-cache: in memory only)",
        group="run",
        metavar="DIR",
    )
    resume: bool = option(
        False,
        "continue the run in --out from its last completed epoch (its options are kept; --epochs may raise the total)",
        group="run",
    )
    overwrite: bool = option(False, "replace the run in --out", group="run")

    @property
    def total_epochs(self) -> int:
        """--epochs, or its default: fewer when the text reader's top layers learn too (each epoch
        runs them over every train post)."""
        if self.epochs is not None:
            return self.epochs
        return FINETUNE_EPOCHS if model_config(self).text_finetune_layers else FROZEN_READER_EPOCHS

    @property
    def warm_up_epochs(self) -> int:
        """--head-epochs, or its default: a warm-up when the reader's top layers learn a task of
        more than two classes."""
        if self.head_epochs is not None:
            return self.head_epochs
        model = model_config(self)
        return WARM_UP_EPOCHS if model.text_finetune_layers and len(model.label_names) > 2 else 0


RUNTIME_FIELDS = ("epochs", "workers", "threads", "device", "cache_dir", "resume", "overwrite")


def check_config(cfg: TrainConfig) -> None:
    """Names and numbers, before any data is read: ConfigError naming the option otherwise."""
    check_options(cfg)
    if cfg.prompt is not None and cfg.prompt not in PROMPTS and "{text}" not in cfg.prompt:
        raise ConfigError(
            f"--prompt {cfg.prompt!r} is neither a prompt name ({', '.join(PROMPTS)}) nor a template holding {{text}}"
        )
    if (cfg.data_root is None) == (cfg.posts is None):
        raise ConfigError("give exactly one of --data-root (a CrisisMMD folder) and --posts (a CSV/JSONL file)")
    model = model_config(cfg)  # the model's config checks its own values (the width against the heads ...)
    if cfg.head_epochs and not model.text_finetune_layers:
        raise ConfigError(
            "--head-epochs warms the head up before a reader's top layers learn: it needs --finetune-layers "
            "(or a preset that fine-tunes them) and a model that reads the words"
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
        # damage is labelled from the photo alone: a model that also reads the caption lets a cheerful
        # caption overrule collapsed buildings (issue 23); it reads the photo only unless asked otherwise
        fusion=cfg.fusion or ("image" if task.text_column is None else "full"),
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
    if cfg.finetune_layers is not None:
        overrides["text_finetune_layers"] = cfg.finetune_layers
    elif cfg.backbone_mode != "frozen":  # the reader trains as a whole (LoRA, full): no layers apart
        overrides["text_finetune_layers"] = 0
    if overrides["fusion"] == "image":  # a photo-only model has no text reader to tune (damage, an ablation arm)
        overrides["text_finetune_layers"] = 0
    return preset_config(cfg.preset, **overrides)


def command_line(cfg: TrainConfig) -> str:
    """The train.py command that gives this config (the options that differ from the defaults)."""
    words = ["python", "train.py"]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        if f.name == "cache_dir" and value is None:
            words.append("--no-cache")
        elif isinstance(value, bool):  # a flag differs from its default: on for off, or off for on
            words.append(option_name(f.name, turned_off=not value))
        else:
            words += [option_name(f.name), str(value)]
    return shlex.join(words)


def load_train_config(path: Path) -> TrainConfig:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
        return TrainConfig(**values)
    except (OSError, json.JSONDecodeError, TypeError) as err:
        raise TrainingError(f"{path}: not a readable train config ({err})") from None
