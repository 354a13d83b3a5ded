"""Training the fusion model: a dataset in, a run folder out, which the dashboard reads as it is.

    run_dir = train(TrainConfig(out="runs/harvey", data_root="CrisisMMD_v2.0", preset="minilm"))

A run folder (the layout is fixed; the dashboard depends on it):

    checkpoint/          the epoch with the best dev macro-F1; `CrisisModel.from_pretrained` loads it
    last/                resume state of the last completed epoch: trainable weights and optimizer
                         state (safetensors) and state.json (epoch, best score, seeds, history)
    metrics.json         split -> scores of the best checkpoint (see crisis_model.metrics)
    predictions.parquet  one row per dev / test post: labels, probabilities, modality weights, routing
    history.jsonl        one line per epoch: losses, dev scores, learning rate, seconds
    train_config.json    the TrainConfig;  command.txt: the command of each start (and resume)

Every file is written beside its final name and renamed into place, and checkpoint/ and last/
are swapped in whole, so a kill at any moment leaves the last completed epoch intact.

Under `torchrun --nproc_per_node=N` the same `train` runs data-parallel (PyTorch DDP): each process
computes its share of the features and trains on its share of each epoch; process 0 evaluates and
writes the run folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from sklearn.model_selection import GroupShuffleSplit
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from crisis_model.config import BACKBONE_MODES, FUSIONS, PRESETS, PROMPTS, CrisisConfig, preset_config
from crisis_model.data import LABEL_SOURCES, get_task, load_crisismmd, load_posts_file
from crisis_model.demo import generate_demo_dataset
from crisis_model.errors import DataError, TrainingError
from crisis_model.features import (
    Distributed,
    FeatureStore,
    ImageFiles,
    PostFeatures,
    compute_features,
    device_autocast,
)
from crisis_model.metrics import classification_metrics
from crisis_model.model import WEIGHTS_FILE, CrisisModel, _atomic_write, clean_text

Progress = Callable[[dict[str, Any]], None]

CHECKPOINT_DIR = "checkpoint"
LAST_DIR = "last"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.parquet"
HISTORY_FILE = "history.jsonl"
CONFIG_FILE = "train_config.json"
COMMAND_FILE = "command.txt"
ABLATION_FILES = ("ablation.json", "ablation.md")
ABLATION_RUNS = "ablation_runs.json"  # written first: marks a folder as an ablation's
RUN_FILES = (CHECKPOINT_DIR, LAST_DIR, METRICS_FILE, PREDICTIONS_FILE, HISTORY_FILE, CONFIG_FILE,
             COMMAND_FILE)
STATE_FILE = "state.json"
TRAINABLE_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"

DEFAULT_CACHE_DIR = ".crisislens/features"
DEMO_DATA_DIR = Path("runs") / "demo-data"  # relative to the working directory, like runs/
DEMO_TASKS = {"informative": "agreed", "humanitarian": "agreed", "damage": "image"}
# The demo's tiny backbones are random and frozen: the head needs more steps, a higher rate and
# less dropout than the paper's settings to learn from 200-odd posts (measured on the demo data).
DEMO_SETTINGS = {"preset": "tiny", "epochs": 30, "lr": 3e-3, "dropout": 0.1}
ABLATIONS = {
    # the paper's table, from one modality to the full fusion
    "fusion": ("text", "image", "concat", "attention", "full"),
    # the paper's prompt-sensitivity check
    "prompt": ("none", "task", "summarize"),
}
ABLATION_METRICS = ("accuracy", "macro_f1", "weighted_f1", "positive_f1")
EVAL_BATCH = 256


# --------------------------------------------------------------------------- configuration


@dataclass
class TrainConfig:
    """One training run; the fields mirror train.py's options (`--batch-size` is batch_size)."""

    out: str
    data_root: str | None = None  # a CrisisMMD v2.0 folder ...
    posts: str | None = None  # ... or a CSV / JSONL file of labelled posts
    task: str = "informative"
    labels: str = "agreed"  # agreed | text | image annotations
    preset: str = "minilm"
    fusion: str = "full"
    prompt: str = "task"  # a name in config.PROMPTS, or a template holding {text}
    backbone_mode: str = "frozen"
    lora_rank: int = 8
    text_backbone: str | None = None  # overrides the preset's (a local folder or hub name)
    hidden_size: int | None = None  # overrides the preset's fusion width
    # the paper's hyper-parameters
    batch_size: int = 32
    lr: float = 1e-3
    dropout: float = 0.5
    epochs: int = 10
    weight_decay: float = 0.0
    warmup: float = 0.05  # fraction of the steps with a linearly rising learning rate, then cosine
    grad_clip: float = 1.0
    class_weights: bool = False  # weigh the loss by inverse class frequency
    dedupe: bool = False  # drop train posts repeating another's text, image and label
    dev_fraction: float = 0.15  # of a posts file without a dev split, held out as dev
    seed: int = 0
    # how, not what: these may change when a run is resumed
    workers: int = 2
    # CPU threads of the training loop; None: one with frozen backbones (it holds up best on a shared
    # machine; a dedicated one ran the text-only minilm head 1.4x faster on two), else torch's default
    threads: int | None = None
    device: str = "auto"
    cache_dir: str | None = DEFAULT_CACHE_DIR  # None: features kept in memory only
    resume: bool = False
    overwrite: bool = False


RUNTIME_FIELDS = ("epochs", "workers", "threads", "device", "cache_dir", "resume", "overwrite")


def check_config(cfg: TrainConfig) -> None:
    """Names and numbers, before any data is read."""
    get_task(cfg.task)
    choices = {"labels": LABEL_SOURCES, "preset": tuple(PRESETS), "fusion": FUSIONS,
               "backbone_mode": BACKBONE_MODES}
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise TrainingError(f"unknown {name} {getattr(cfg, name)!r}; choose one of {', '.join(allowed)}")
    if cfg.prompt not in PROMPTS and "{text}" not in cfg.prompt:
        raise TrainingError(
            f"--prompt {cfg.prompt!r} is neither a prompt name ({', '.join(PROMPTS)}) nor a template "
            "holding {text}"
        )
    if (cfg.data_root is None) == (cfg.posts is None):
        raise TrainingError("give exactly one of --data-root (a CrisisMMD folder) and --posts (a CSV/JSONL file)")
    for name in ("batch_size", "epochs"):
        if getattr(cfg, name) < 1:
            raise TrainingError(f"{name} must be at least 1, not {getattr(cfg, name)}")
    if cfg.threads is not None and cfg.threads < 1:
        raise TrainingError(f"threads must be at least 1, not {cfg.threads}")
    if not cfg.lr > 0 or not 0 <= cfg.dropout < 1 or not 0 <= cfg.warmup < 1 or not 0 < cfg.dev_fraction < 1:
        raise TrainingError("lr must be > 0, and dropout, warmup and dev_fraction within [0, 1)")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise TrainingError(f"unknown device {cfg.device!r}; choose auto, cpu or cuda")
    config = model_config(cfg)
    if config.hidden_size % config.attention_heads:
        raise TrainingError(f"--hidden-size {config.hidden_size} must be a multiple of the "
                            f"{config.attention_heads} attention heads")


def model_config(cfg: TrainConfig) -> CrisisConfig:
    overrides: dict[str, Any] = dict(
        task=cfg.task, label_names=list(get_task(cfg.task).label_names), fusion=cfg.fusion,
        prompt=PROMPTS.get(cfg.prompt, cfg.prompt), backbone_mode=cfg.backbone_mode,
        lora_rank=cfg.lora_rank, dropout=cfg.dropout,
    )
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


# --------------------------------------------------------------------------- data


def load_data(cfg: TrainConfig) -> pd.DataFrame:
    """The posts to train and evaluate on, with a train and a dev split; DataError otherwise.
    Labels are checked where they are read (load_crisismmd, _labelled_posts)."""
    if cfg.data_root is not None:
        frame, source = load_crisismmd(cfg.data_root, cfg.task, cfg.labels), cfg.data_root
    else:
        frame, source = _labelled_posts(cfg), cfg.posts
    if cfg.dedupe:
        repeated = (frame["split"] == "train") & frame.duplicated(["split", "text", "image_path", "label"])
        frame = frame[~repeated]
    for split in ("train", "dev"):
        if not (frame["split"] == split).any():
            raise DataError(
                f"{source}: the {split} split is empty; training needs train posts to fit the model "
                "and dev posts to choose its best epoch"
            )
    if frame.loc[frame["split"] == "train", "label"].nunique() < 2:
        raise DataError(f"{source}: every train post has the same label; there is nothing to learn")
    return frame.reset_index(drop=True)


def _labelled_posts(cfg: TrainConfig) -> pd.DataFrame:
    """A posts file with labels of the task; without a dev split, one is held out by tweet."""
    task = get_task(cfg.task)
    frame = load_posts_file(cfg.posts)
    unlabelled = frame["label"] == ""
    if unlabelled.any():
        first = frame["post_id"][unlabelled].iloc[0]
        raise DataError(
            f"{cfg.posts}: post {first!r} has no label ({int(unlabelled.sum())} posts lack one); training "
            f"needs a 'label' column with {cfg.task} labels: {', '.join(task.label_names)}"
        )
    unknown = ~frame["label"].isin(task.label_names)
    if unknown.any():
        row = frame[unknown].iloc[0]
        raise DataError(
            f"{cfg.posts}: post {row['post_id']!r}: unknown {cfg.task} label {row['label']!r}; "
            f"valid labels: {', '.join(task.label_names)}"
        )
    bad_splits = sorted(set(frame["split"]) - {"train", "dev", "test", "user"})
    if bad_splits:
        raise DataError(f"{cfg.posts}: unknown split(s) {', '.join(bad_splits)}; use train, dev, test")
    pool = frame["split"].isin(["train", "user"])
    if not (frame["split"] == "dev").any() and frame.loc[pool, "tweet_id"].nunique() >= 2:
        # posts of one tweet stay together, so dev never sees a text it was trained on
        splitter = GroupShuffleSplit(n_splits=1, test_size=cfg.dev_fraction, random_state=cfg.seed)
        pooled = frame[pool]
        _, dev = next(splitter.split(pooled, groups=pooled["tweet_id"]))
        frame.loc[pooled.index[dev], "split"] = "dev"
    frame.loc[frame["split"] == "user", "split"] = "train"
    return frame


# --------------------------------------------------------------------------- the run folder


def _replace_dir(final: Path, build: Callable[[Path], None]) -> None:
    """Builds a folder beside `final`, then swaps it in; a kill leaves the old or the new one
    (as .NAME.old while the swap is under way, which `_recover_dir` puts back)."""
    tmp, old = final.with_name(f".{final.name}.partial"), final.with_name(f".{final.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    build(tmp)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _recover_dir(final: Path) -> None:
    old = final.with_name(f".{final.name}.old")
    if not final.exists() and old.exists():
        old.rename(final)


def _write_json(path: Path, value: Any) -> None:
    _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8"))


def check_out(cfg: TrainConfig, marker: str = CONFIG_FILE) -> None:
    """The --out folder must be new, or hold this run (--resume) or a run to replace (--overwrite)."""
    out = Path(cfg.out)
    if not out.exists() or not any(out.iterdir()):
        if cfg.resume:
            raise TrainingError(f"{out}: nothing to resume, no run there")
        return
    if not (out / marker).exists():
        raise TrainingError(f"{out}: not empty and not a run folder ({marker} missing); refusing to write into it")
    if cfg.resume:
        if marker == CONFIG_FILE:
            _check_same_run(cfg, load_train_config(out / CONFIG_FILE), out)
    elif not cfg.overwrite:
        raise TrainingError(
            f"{out}: holds another run; choose a new --out, continue it with --resume, "
            "or replace it with --overwrite"
        )


def _check_same_run(cfg: TrainConfig, saved: TrainConfig, out: Path) -> None:
    changed = [
        f"{f.name}={getattr(cfg, f.name)!r} (the run has {getattr(saved, f.name)!r})"
        for f in dataclasses.fields(cfg)
        if f.name not in RUNTIME_FIELDS + ("out",) and getattr(cfg, f.name) != getattr(saved, f.name)
    ]
    if changed:
        raise TrainingError(f"{out}: --resume continues a run as it was started; changed: {'; '.join(changed)}")


def _start_folder(cfg: TrainConfig, out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if cfg.overwrite and not cfg.resume:
        for name in RUN_FILES + (".init",):
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for name in (CHECKPOINT_DIR, LAST_DIR):
        _recover_dir(out / name)
    _write_json(out / CONFIG_FILE, {**dataclasses.asdict(cfg), "resume": False, "overwrite": False})
    previous = (out / COMMAND_FILE).read_text(encoding="utf-8") if cfg.resume and (out / COMMAND_FILE).exists() else ""
    _atomic_write(out / COMMAND_FILE, lambda tmp: tmp.write_text(previous + command + "\n", encoding="utf-8"))


# --------------------------------------------------------------------------- processes and devices


@contextlib.contextmanager
def _processes(cfg: TrainConfig) -> Iterator[tuple[Distributed, torch.device]]:
    """One process, or one of torchrun's (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPUs."""
    use_cuda = torch.cuda.is_available() and cfg.device != "cpu"
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda: no CUDA GPU is visible to PyTorch")
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        yield Distributed(), torch.device("cuda" if use_cuda else "cpu")
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    owned = not torch_dist.is_initialized()
    if owned:
        torch_dist.init_process_group("nccl" if use_cuda else "gloo")
    try:
        yield Distributed(torch_dist.get_rank(), torch_dist.get_world_size(), torch_dist.barrier), device
    finally:
        if owned:
            torch_dist.destroy_process_group()


def _seed(seed: int, epoch: int | None = None) -> None:
    """Seeds every generator; each epoch from (seed, epoch), so a resumed run repeats the epochs
    an uninterrupted one would have run without storing any generator state."""
    value = seed if epoch is None else int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)


@contextlib.contextmanager
def _cpu_threads(count: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- model inputs


class CachedInputs:
    """Batches from the feature cache (frozen backbones): the head alone runs each step."""

    workers = 0

    def __init__(self, features: PostFeatures, device: torch.device) -> None:
        self.features, self.device = features, device

    def dataset(self, rows: Sequence[int]) -> Sequence[int]:
        return list(rows)

    def collate(self, rows: list[int]) -> Tensor:
        return torch.tensor(rows)

    def inputs(self, batch: Tensor) -> tuple[Tensor, dict[str, Any]]:
        return batch, self.features.inputs(batch, self.device)


class RawInputs:
    """Batches read from the posts at every step, for backbones that train (LoRA, full)."""

    def __init__(self, model: CrisisModel, frame: pd.DataFrame, workers: int, device: torch.device) -> None:
        self.model, self.device, self.workers = model, device, workers
        self.texts = frame["text"].tolist()
        self.paths = frame["image_path"].tolist() if model.config.uses_image else [""] * len(frame)

    def dataset(self, rows: Sequence[int]) -> Dataset:
        return ImageFiles([self.paths[row] for row in rows], self.model.config.image_size, ids=rows)

    collate = staticmethod(list)

    def inputs(self, batch: list[tuple[int, Tensor | str | None]]) -> tuple[Tensor, dict[str, Any]]:
        # an unreadable image (an error message here) leaves a text-only post, as at inference
        batch = [(row, image if isinstance(image, Tensor) else None) for row, image in batch]
        rows = torch.tensor([row for row, _ in batch])
        has_image = torch.tensor([image is not None for _, image in batch])
        inputs: dict[str, Any] = {"has_image": has_image.to(self.device)}
        if self.model.config.uses_text:
            encoded = self.model.tokenize([self.texts[row] for row in rows.tolist()])
            inputs.update({k: v.to(self.device) for k, v in encoded.items()})
        if bool(has_image.any()):
            size = self.model.config.image_size
            blank = torch.zeros(3, size, size)
            pixels = [image if image is not None else blank for _, image in batch]
            inputs["pixel_values"] = torch.stack(pixels).to(self.device)
        return rows, inputs


def _loader(source: CachedInputs | RawInputs, rows: Sequence[int], batch_size: int,
            sampler: DistributedSampler | None = None) -> DataLoader:
    return DataLoader(source.dataset(rows), batch_size=batch_size, sampler=sampler,
                      num_workers=source.workers, collate_fn=source.collate,
                      pin_memory=source.device.type == "cuda")


# --------------------------------------------------------------------------- steps


def compute_loss(logits: Tensor, labels: Tensor, class_weights: Tensor | None) -> Tensor:
    return F.cross_entropy(logits.float(), labels, weight=class_weights)


def _balanced_weights(labels: np.ndarray, classes: int) -> Tensor:
    """n / (classes present x count): each class weighs as much in the loss; absent classes 0."""
    counts = np.bincount(labels, minlength=classes).astype(float)
    weights = np.where(counts > 0, len(labels) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def _learning_rate(cfg: TrainConfig, step: int, total: int) -> float:
    """Linear warm-up over the first `warmup` of the steps, then a cosine down to zero."""
    warm = int(cfg.warmup * total)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class SplitOutputs:
    rows: np.ndarray  # (N,) rows of the frame
    probabilities: np.ndarray  # (N, K)
    modality_weights: np.ndarray  # (N, 2)
    has_image: np.ndarray  # (N,) what the model saw
    routing_mean: np.ndarray | None  # (N, J): coupling to each fused capsule, averaged over primaries
    loss: float


@torch.inference_mode()
def _run_split(model: CrisisModel, source: CachedInputs | RawInputs, rows: Sequence[int],
               labels: np.ndarray, device: torch.device, progress: Progress, split: str) -> SplitOutputs:
    model.eval()
    parts: dict[str, list[Tensor]] = {"rows": [], "probs": [], "weights": [], "image": [], "routing": []}
    loss_sum, loader = 0.0, _loader(source, rows, EVAL_BATCH)
    for step, batch in enumerate(loader):
        batch_rows, inputs = source.inputs(batch)
        with device_autocast(device):
            out = model(**inputs)
        target = torch.as_tensor(labels[batch_rows.numpy()], device=device)
        loss_sum += float(compute_loss(out.logits, target, None)) * len(batch_rows)
        parts["rows"].append(batch_rows)
        parts["probs"].append(out.probabilities.float().cpu())
        parts["weights"].append(out.modality_weights.float().cpu())
        parts["image"].append(out.has_image.cpu())
        if out.routing_coefficients is not None:
            parts["routing"].append(out.routing_coefficients.float().mean(dim=1).cpu())
        progress({"stage": "eval", "split": split, "done": step + 1, "total": len(loader)})
    n = sum(len(r) for r in parts["rows"])
    return SplitOutputs(
        rows=torch.cat(parts["rows"]).numpy(),
        probabilities=torch.cat(parts["probs"]).numpy(),
        modality_weights=torch.cat(parts["weights"]).numpy(),
        has_image=torch.cat(parts["image"]).numpy(),
        routing_mean=torch.cat(parts["routing"]).numpy() if parts["routing"] else None,
        loss=loss_sum / max(n, 1),
    )


def _split_metrics(outputs: SplitOutputs, labels: np.ndarray, label_names: Sequence[str]) -> dict[str, Any]:
    return {**classification_metrics(labels[outputs.rows], outputs.probabilities, label_names),
            "loss": outputs.loss}


def _predictions(frame: pd.DataFrame, outputs: SplitOutputs, label_names: Sequence[str],
                 uses_image: bool) -> pd.DataFrame:
    posts = frame.iloc[outputs.rows].reset_index(drop=True)
    predicted = outputs.probabilities.argmax(axis=1)
    table = pd.DataFrame({
        "post_id": posts["post_id"], "tweet_id": posts["tweet_id"], "event": posts["event"],
        "split": posts["split"], "text": posts["text"], "image_path": posts["image_path"],
        "true_label": posts["label"],
        "predicted_label": [label_names[i] for i in predicted],
        "confidence": outputs.probabilities.max(axis=1),
    })
    for k, name in enumerate(label_names):
        table[f"prob_{name}"] = outputs.probabilities[:, k]
    table["text_weight"] = outputs.modality_weights[:, 0]
    table["image_weight"] = outputs.modality_weights[:, 1]
    # a text-only model never opens the image: the post has one if it names a file
    table["has_image"] = outputs.has_image if uses_image else (posts["image_path"] != "").to_numpy()
    table["correct"] = table["true_label"] == table["predicted_label"]
    table["routing_mean"] = (
        [row.tolist() for row in outputs.routing_mean] if outputs.routing_mean is not None else None
    )
    return table


# --------------------------------------------------------------------------- resume state


def _trainable_state(model: CrisisModel) -> dict[str, Tensor]:
    """What training changes: parameters that learn, and buffers (batch-norm statistics in full
    fine-tuning). Frozen weights are the same as in checkpoint/, which resume starts from."""
    learning = {name for name, p in model.named_parameters() if p.requires_grad}
    buffers = {name for name, _ in model.named_buffers()}
    return {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()
            if name in learning or name in buffers}


def _save_last(folder: Path, model: CrisisModel, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    def build(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        save_file(_trainable_state(model), str(tmp / TRAINABLE_FILE))
        opt = optimizer.state_dict()
        tensors, scalars = {}, {}
        for index, values in opt["state"].items():
            for name, value in values.items():
                if isinstance(value, Tensor):
                    tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
                else:
                    scalars[f"{index}.{name}"] = value
        save_file(tensors, str(tmp / OPTIMIZER_FILE))
        state_json = {**state, "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars}}
        (tmp / STATE_FILE).write_text(json.dumps(state_json, indent=2) + "\n", encoding="utf-8")

    _replace_dir(folder, build)


def _load_last(folder: Path, model: CrisisModel, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restores the weights and optimizer of the last completed epoch; returns state.json."""
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        trainable = load_file(str(folder / TRAINABLE_FILE))
        tensors = load_file(str(folder / OPTIMIZER_FILE))
    except (OSError, ValueError) as err:
        raise TrainingError(f"{folder}: unreadable resume state ({err}); start a new run") from None
    missing = set(_trainable_state(model)) - set(trainable)
    unexpected = set(trainable) - set(model.state_dict())
    if missing or unexpected:
        raise TrainingError(f"{folder}: resume state does not match the model ({sorted(missing | unexpected)[:3]})")
    model.load_state_dict(trainable, strict=False)
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(state["optimizer"]["scalars"].items()):
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state["optimizer"]["param_groups"]})
    return state


# --------------------------------------------------------------------------- training


def _build_model(cfg: TrainConfig, frame: pd.DataFrame, out: Path, dist: Distributed,
                 device: torch.device) -> CrisisModel:
    """A new model. Under torchrun, process 0 builds it and the others load its copy: the tiny
    preset's tokenizer is trained on the data, and every process must hold the same one."""
    init = out / ".init"
    if dist.rank == 0:
        _seed(cfg.seed)
        texts = [clean_text(t) for t in frame.loc[frame["split"] == "train", "text"]]
        model = CrisisModel.from_config(model_config(cfg), train_texts=texts, seed=cfg.seed)
        if dist.world > 1:
            model.save_pretrained(init)
    dist.barrier()
    if dist.rank != 0:
        model = CrisisModel.from_pretrained(init, device=device)
    dist.barrier()
    if dist.rank == 0 and dist.world > 1:
        shutil.rmtree(init, ignore_errors=True)
    return model.to(device)


def train(cfg: TrainConfig, progress: Progress | None = None, command: str | None = None) -> Path:
    """Trains (or resumes) one run and returns its folder. `progress` receives dicts with `stage`
    ("data", "model", "features", "epoch", "eval", "done"), `done` and `total`, and per stage
    `epoch`/`epochs`, `loss`, `posts_per_s`, `lr`, `dev_macro_f1`, `split`, `stats`.
    Bad input raises a CrisisLensError before any training starts."""
    check_config(cfg)
    out = Path(cfg.out)
    with _processes(cfg) as (dist, device):
        report = progress if progress is not None and dist.rank == 0 else (lambda _: None)
        report({"stage": "data", "done": 0, "total": 1})
        frame = load_data(cfg)
        check_out(cfg)
        dist.barrier()  # every process has checked the folder before process 0 writes to it
        if dist.rank == 0:
            _start_folder(cfg, out, command or command_line(cfg))
        dist.barrier()
        counts = frame["split"].value_counts().to_dict()
        report({"stage": "data", "done": 1, "total": 1, "posts": len(frame), "splits": counts})
        return _fit(cfg, frame, out, dist, device, report)


def _fit(cfg: TrainConfig, frame: pd.DataFrame, out: Path, dist: Distributed, device: torch.device,
         report: Progress) -> Path:
    label_names = list(get_task(cfg.task).label_names)
    labels = frame["label"].map({name: i for i, name in enumerate(label_names)}).to_numpy()
    split_rows = {s: np.flatnonzero(frame["split"].to_numpy() == s) for s in ("train", "dev", "test")}
    last = out / LAST_DIR
    resuming = cfg.resume and (last / STATE_FILE).exists() and (out / CHECKPOINT_DIR).exists()

    report({"stage": "model", "done": 0, "total": 1})
    if resuming:
        model = CrisisModel.from_pretrained(out / CHECKPOINT_DIR, device=device)
    else:
        model = _build_model(cfg, frame, out, dist, device)
    report({"stage": "model", "done": 1, "total": 1})

    if cfg.backbone_mode == "frozen":
        features = compute_features(
            model, frame["text"].tolist(), frame["image_path"].tolist(), FeatureStore(cfg.cache_dir),
            workers=cfg.workers, progress=report, dist=dist,
        )
        report({"stage": "features", "done": 1, "total": 1,
                "stats": {k: dataclasses.asdict(v) for k, v in features.stats.items()},
                "warnings": features.warnings})
        source: CachedInputs | RawInputs = CachedInputs(features, device)
    else:
        source = RawInputs(model, frame, cfg.workers, device)

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    state: dict[str, Any] = {"epoch": 0, "step": 0, "best_score": None, "best_epoch": None,
                             "seed": cfg.seed, "epoch_seed": "SeedSequence([seed, epoch])", "history": []}
    if resuming:
        state = _load_last(last, model, optimizer)

    class_weights = (_balanced_weights(labels[split_rows["train"]], len(label_names)).to(device)
                     if cfg.class_weights else None)
    sampler = DistributedSampler(split_rows["train"], num_replicas=dist.world,  # it needs only the length
                                 rank=dist.rank, shuffle=True, seed=cfg.seed)
    loader = _loader(source, split_rows["train"], cfg.batch_size, sampler)
    total_steps = cfg.epochs * len(loader)
    net = model
    if dist.world > 1:
        # posts without an image leave the image projection unused in a step
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)

    # Only the small fusion head runs from here on (with frozen backbones). On a CPU, one thread by
    # default: immune to the stalls of OpenMP threads on a busy machine (20x seen here); --threads
    # gives a dedicated machine more.
    head_threads = cfg.threads or (1 if device.type == "cpu" and cfg.backbone_mode == "frozen" else None)
    with _cpu_threads(head_threads):
        for epoch in range(state["epoch"], cfg.epochs):
            _seed(cfg.seed, epoch)
            sampler.set_epoch(epoch)
            net.train()
            started, seen, loss_sum = time.perf_counter(), 0, 0.0
            lr = cfg.lr
            for step, batch in enumerate(loader):
                lr = _learning_rate(cfg, state["step"], total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                rows, inputs = source.inputs(batch)
                target = torch.as_tensor(labels[rows.numpy()], device=device)
                with device_autocast(device):
                    output = net(**inputs)
                loss = compute_loss(output.logits, target, class_weights)
                loss_value = loss.item()  # the one device sync of a step
                _stop_if_not_finite(loss_value, device, dist, epoch, step, state, out)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
                optimizer.step()
                state["step"] += 1
                seen += len(rows)
                loss_sum += loss_value * len(rows)
                report({"stage": "epoch", "epoch": epoch + 1, "epochs": cfg.epochs, "done": step + 1,
                        "total": len(loader), "loss": loss_sum / seen, "lr": lr,
                        "posts_per_s": seen * dist.world / (time.perf_counter() - started)})
            train_seconds = time.perf_counter() - started
            if dist.rank == 0:
                dev = _run_split(model, source, split_rows["dev"], labels, device, report, "dev")
                scores = _split_metrics(dev, labels, label_names)
                best = state["best_score"] is None or scores["macro_f1"] > state["best_score"]
                if best:
                    state["best_score"], state["best_epoch"] = scores["macro_f1"], epoch + 1
                    _replace_dir(out / CHECKPOINT_DIR, model.save_pretrained)
                state["history"].append({
                    "epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "dev_loss": scores["loss"],
                    "dev_accuracy": scores["accuracy"], "dev_macro_f1": scores["macro_f1"],
                    "dev_weighted_f1": scores["weighted_f1"], "dev_positive_f1": scores["positive_f1"],
                    "lr": lr, "train_seconds": train_seconds, "seconds": time.perf_counter() - started,
                    "posts_per_s": seen * dist.world / train_seconds, "best": best,
                })
                state["epoch"] = epoch + 1  # (the other processes' copy is only read by the NaN message)
                _save_last(last, model, optimizer, state)
                lines = "".join(json.dumps(h) + "\n" for h in state["history"])
                _atomic_write(out / HISTORY_FILE, lambda tmp: tmp.write_text(lines, encoding="utf-8"))
                report({"stage": "epoch_end", "epoch": epoch + 1, "epochs": cfg.epochs, "done": epoch + 1,
                        "total": cfg.epochs, **state["history"][-1]})
            dist.barrier()

        if dist.rank == 0:
            _evaluate_best(model, source, frame, labels, label_names, split_rows, out, device, report)
            report({"stage": "done", "done": 1, "total": 1, "run_dir": str(out)})
    dist.barrier()
    return out


def _stop_if_not_finite(loss: float, device: torch.device, dist: Distributed, epoch: int, step: int,
                        state: dict[str, Any], out: Path) -> None:
    """Stops every process together, before the bad step touches the weights."""
    bad = torch.tensor(float(not math.isfinite(loss)), device=device)  # on the device NCCL reduces
    if dist.world > 1:
        torch_dist.all_reduce(bad, op=torch_dist.ReduceOp.MAX)
    if bad.item() == 0:
        return
    kept = (f"{out / CHECKPOINT_DIR} keeps epoch {state['best_epoch']} (the best so far) and "
            f"{out / LAST_DIR} epoch {state['epoch']} for --resume" if state["best_epoch"] else
            "no epoch had completed, so there is no checkpoint")
    raise TrainingError(
        f"the training loss is {loss} at epoch {epoch + 1}, step {step + 1}: stopped. {kept}. "
        "Try a lower --lr or --grad-clip in a new run."
    )


def _evaluate_best(model: CrisisModel, source: CachedInputs | RawInputs, frame: pd.DataFrame,
                   labels: np.ndarray, label_names: list[str], split_rows: dict[str, np.ndarray],
                   out: Path, device: torch.device, report: Progress) -> None:
    """metrics.json for every split and predictions.parquet for dev and test, from checkpoint/."""
    model.load_state_dict(load_file(str(out / CHECKPOINT_DIR / WEIGHTS_FILE)))
    metrics, tables = {}, []
    for split, rows in split_rows.items():
        if len(rows) == 0:
            continue
        outputs = _run_split(model, source, rows, labels, device, report, split)
        metrics[split] = _split_metrics(outputs, labels, label_names)
        if split != "train":
            tables.append(_predictions(frame, outputs, label_names, model.config.uses_image))
    _write_json(out / METRICS_FILE, metrics)
    table = pd.concat(tables, ignore_index=True)
    _atomic_write(out / PREDICTIONS_FILE, lambda tmp: table.to_parquet(tmp, index=False))


# --------------------------------------------------------------------------- demo and comparisons


def _tagged(progress: Progress | None, **tags: Any) -> Progress | None:
    return None if progress is None else (lambda event: progress({**event, **tags}))


def train_demo(out: str | Path, progress: Progress | None = None, data_dir: str | Path | None = None,
               n_tweets: int = 300, **overrides: Any) -> Path:
    """The dashboard's default models: generates the synthetic demo dataset (once) and trains one
    run per task (DEMO_SETTINGS) into out/<task>/. A complete run is kept, an interrupted one
    resumed. `overrides` are TrainConfig fields (e.g. epochs, cache_dir)."""
    out = Path(out)
    data = generate_demo_dataset(Path(data_dir) if data_dir is not None else DEMO_DATA_DIR, n_tweets=n_tweets)
    for index, (task, labels) in enumerate(DEMO_TASKS.items()):
        run = out / task
        cfg = TrainConfig(**{"out": str(run), "data_root": str(data), "task": task, "labels": labels,
                             **DEMO_SETTINGS, **overrides, "resume": (run / CONFIG_FILE).exists()})
        if not (cfg.resume and (run / METRICS_FILE).exists() and _epochs_done(run) >= cfg.epochs):
            train(cfg, _tagged(progress, run=task, run_index=index, run_count=len(DEMO_TASKS)))
    return out


def _epochs_done(run: Path) -> int:
    path = run / LAST_DIR / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8"))["epoch"] if path.exists() else 0


def run_ablation(cfg: TrainConfig, axis: str = "fusion", seeds: Sequence[int] | None = None,
                 values: Sequence[str] | None = None, progress: Progress | None = None) -> Path:
    """Trains one run per (variant, seed) into cfg.out/<variant>-seed<seed>/ and writes
    ablation.json and ablation.md: dev (and test) scores, mean and std over the seeds."""
    if axis not in ABLATIONS:
        raise TrainingError(f"unknown ablation {axis!r}; choose one of {', '.join(ABLATIONS)}")
    values = list(values or ABLATIONS[axis])
    seeds = list(seeds if seeds is not None else [cfg.seed])
    out = Path(cfg.out)
    check_out(cfg, marker=ABLATION_RUNS)
    runs = {value: [dataclasses.replace(cfg, out=str(out / f"{value}-seed{seed}"), seed=seed, **{axis: value})
                    for seed in seeds] for value in values}
    for sub in (s for subs in runs.values() for s in subs):
        check_config(sub)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / ABLATION_RUNS, {v: [s.out for s in subs] for v, subs in runs.items()})
    for value, subs in runs.items():
        for sub in subs:
            done = (Path(sub.out) / METRICS_FILE).exists() and _epochs_done(Path(sub.out)) >= sub.epochs
            if cfg.resume and done:
                continue
            sub.resume = cfg.resume and (Path(sub.out) / CONFIG_FILE).exists()
            sub.overwrite = cfg.overwrite and not sub.resume
            train(sub, _tagged(progress, run=f"{value}-seed{sub.seed}"))
    if int(os.environ.get("RANK", "0")) == 0:
        summary = summarize_ablation(cfg, axis, runs)
        _write_json(out / ABLATION_FILES[0], summary)
        markdown = ablation_markdown(summary)
        _atomic_write(out / ABLATION_FILES[1], lambda tmp: tmp.write_text(markdown, encoding="utf-8"))
    return out



def summarize_ablation(cfg: TrainConfig, axis: str, runs: dict[str, list[TrainConfig]]) -> dict[str, Any]:
    rows = []
    for value, subs in runs.items():
        per_run = [json.loads((Path(s.out) / METRICS_FILE).read_text(encoding="utf-8")) for s in subs]
        row: dict[str, Any] = {axis: value, "runs": [s.out for s in subs]}
        for split in ("dev", "test"):
            if all(split in m for m in per_run):
                row[split] = {}
                for metric in ABLATION_METRICS:
                    scores = [m[split][metric] for m in per_run if m[split][metric] is not None]
                    if scores:
                        row[split][metric] = {
                            "mean": float(np.mean(scores)),
                            "std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
                            "values": scores,
                        }
        rows.append(row)
    return {"axis": axis, "task": cfg.task, "labels": cfg.labels, "preset": cfg.preset,
            "seeds": [s.seed for s in next(iter(runs.values()))], "epochs": cfg.epochs, "rows": rows}


def ablation_markdown(summary: dict[str, Any]) -> str:
    axis, rows = summary["axis"], summary["rows"]
    columns = [(split, metric) for split in ("dev", "test") for metric in ABLATION_METRICS
               if all(metric in row.get(split, {}) for row in rows)]
    names = {"accuracy": "accuracy", "macro_f1": "macro-F1", "weighted_f1": "weighted-F1",
             "positive_f1": "positive-F1"}
    seeds = summary["seeds"]
    lines = [
        f"# {axis.capitalize()} ablation: {summary['task']} ({summary['labels']} labels), "
        f"{summary['preset']} preset, {summary['epochs']} epochs",
        "",
        f"Seeds {', '.join(map(str, seeds))}: mean" + (" ± sample std over the seeds." if len(seeds) > 1 else "."),
        "",
        "| " + " | ".join([axis] + [f"{split} {names[metric]}" for split, metric in columns]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for row in rows:
        cells = []
        for split, metric in columns:
            score = row[split][metric]
            cells.append(f"{score['mean']:.4f}" + (f" ± {score['std']:.4f}" if len(seeds) > 1 else ""))
        lines.append("| " + " | ".join([row[axis]] + cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- console progress


class TqdmProgress:
    """Shows `train`'s progress dicts as tqdm bars: one per stage and epoch, with the loss and
    throughput while training, and a line per completed epoch."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.key: tuple | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        stage = event["stage"]
        if stage == "epoch_end":
            self.close()
            tqdm.write(
                f"epoch {event['epoch']}/{event['epochs']}: loss {event['train_loss']:.4f}, dev macro-F1 "
                f"{event['dev_macro_f1']:.4f}, accuracy {event['dev_accuracy']:.4f}"
                + (" (best)" if event["best"] else "") + f", {event['seconds']:.1f} s"
            )
            return
        if stage == "features" and "stats" in event:
            self.close()
            stats = ", ".join(f"{k}: {v['hits']} cached, {v['misses']} computed" for k, v in event["stats"].items())
            tqdm.write(f"features: {stats or 'none needed'}")
            for warning in event["warnings"][:5]:
                tqdm.write(f"warning: {warning}")
            return
        if stage not in ("features", "epoch", "eval"):
            return  # the other stages take a moment, no bar
        key = (event.get("run"), stage, event.get("epoch"), event.get("split"))
        if key != self.key:
            self.close()
            label = {"epoch": f"epoch {event.get('epoch')}/{event.get('epochs')}",
                     "eval": f"eval {event.get('split')}"}.get(stage, stage)
            run = f"[{event['run']}] " if event.get("run") else ""
            self.bar = tqdm(total=event["total"], desc=run + label, unit="batch" if stage != "features" else "post",
                            leave=stage == "epoch", dynamic_ncols=True)
            self.key = key
        if "loss" in event:
            self.bar.set_postfix(loss=f"{event['loss']:.4f}", posts_s=f"{event['posts_per_s']:.0f}", refresh=False)
        self.bar.update(event["done"] - self.bar.n)  # redraws at most every mininterval
        if event["done"] >= event["total"]:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.key = None, None


def print_summary(run: Path, file=sys.stdout) -> None:
    """The scores of a finished run, one line per split."""
    metrics = json.loads((run / METRICS_FILE).read_text(encoding="utf-8"))
    for split, m in metrics.items():
        extra = f", positive-F1 {m['positive_f1']:.4f}" if m["positive_f1"] is not None else ""
        print(f"{run} {split}: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}, "
              f"weighted-F1 {m['weighted_f1']:.4f}{extra} ({m['posts']} posts)", file=file)


__all__ = [
    "ABLATIONS", "DEFAULT_CACHE_DIR", "DEMO_DATA_DIR", "DEMO_TASKS", "TqdmProgress", "TrainConfig",
    "check_config", "command_line", "load_data", "model_config", "print_summary",
    "run_ablation", "train", "train_demo",
]
