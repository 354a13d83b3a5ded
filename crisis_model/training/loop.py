"""Training the fusion model: a dataset in, a run folder out (see crisis_model.run_folder).

    run_dir = train(TrainConfig(out="runs/harvey", data_root="CrisisMMD_v2.0", preset="minilm"))

`train` checks the options, reads the data, starts (or resumes) the run folder, then `fit`
builds the model, reads every post once through the frozen backbones (the feature cache), and
alternates `train_one_epoch` with an evaluation on dev; the best epoch by dev macro-F1 is kept in
checkpoint/, every epoch's resume state in last/. At the end the best checkpoint scores every split.

Under `torchrun --nproc_per_node=N` the same `train` runs data-parallel (PyTorch DDP): each process
computes its share of the features and trains on its share of each epoch; process 0 evaluates and
writes the run folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as torch_dist
from torch.utils.data import DataLoader, DistributedSampler

from crisis_model.atomic_files import replace_dir, write_text
from crisis_model.data import get_task
from crisis_model.errors import TrainingError
from crisis_model.model import CrisisModel
from crisis_model.model.modeling import clean_text
from crisis_model.run_folder import CHECKPOINT_DIR, HISTORY_FILE, INIT_DIR, LAST_DIR, STATE_FILE
from crisis_model.runtime import Distributed, cpu_threads, device_autocast, processes, seed_everything
from crisis_model.training.config import TrainConfig, check_config, command_line, model_config
from crisis_model.training.corrections import write_report
from crisis_model.training.dataset import fusion_for_data, load_data
from crisis_model.training.evaluation import evaluate, split_metrics, write_results
from crisis_model.training.features import FeatureStore, compute_features
from crisis_model.training.inputs import CachedInputs, Inputs, RawInputs, make_loader
from crisis_model.training.loss import Objective, balanced_weights, training_loss
from crisis_model.training.progress import Progress, ProgressEvent, tagged
from crisis_model.training.resume import load_last, save_last
from crisis_model.training.run_start import check_out, start_folder


def train(cfg: TrainConfig, progress: Progress | None = None, command: str | None = None) -> Path:
    """Trains (or resumes) one run and returns its folder. `progress` receives ProgressEvents.
    Bad input raises a CrisisLensError before any training starts."""
    check_config(cfg)
    out = Path(cfg.out)
    with processes(cfg.device) as (dist, device):
        report = progress if progress is not None and dist.rank == 0 else (lambda _: None)
        report(ProgressEvent("data", done=0))
        frame = load_data(cfg)
        cfg = fusion_for_data(cfg, frame)
        check_out(cfg)
        dist.barrier()  # every process has checked the folder before process 0 writes to it
        if dist.rank == 0:
            start_folder(cfg, out, command or command_line(cfg))
        dist.barrier()
        report(ProgressEvent("data", done=1))
        fit(cfg, frame, out, dist, device, report)
        if cfg.corrections is not None and dist.rank == 0:
            write_report(out, frame, list(get_task(cfg.task).label_names))
        return out


@dataclass
class Run:
    """Everything one run's epochs share."""

    cfg: TrainConfig
    out: Path
    model: CrisisModel
    source: Inputs
    optimizer: torch.optim.Optimizer
    frame: pd.DataFrame
    labels: np.ndarray  # (N,) label index of every post of the frame
    label_names: list[str]
    split_rows: dict[str, np.ndarray]  # split -> rows of the frame
    state: dict[str, Any]  # what last/state.json keeps: epoch, step, best score and epoch, history
    dist: Distributed
    device: torch.device
    report: Progress


def fit(
    cfg: TrainConfig, frame: pd.DataFrame, out: Path, dist: Distributed, device: torch.device, report: Progress
) -> Path:
    """The epochs of a run in `out`, from its resume state when there is one, then the results."""
    run = _prepare(cfg, frame, out, dist, device, report)
    train_rows = run.split_rows["train"]
    class_weights = (
        balanced_weights(run.labels[train_rows], len(run.label_names)).to(device) if cfg.class_weights else None
    )
    objective = Objective(cfg.vote_weight, cfg.gate_entropy_weight, class_weights)
    sampler = DistributedSampler(
        train_rows,
        num_replicas=dist.world,  # it needs only the length
        rank=dist.rank,
        shuffle=True,
        seed=cfg.seed,
    )
    loader = make_loader(run.source, train_rows, cfg.batch_size, sampler)

    # Only the small fusion head runs from here on (with frozen backbones). On a CPU, one thread by
    # default: immune to the stalls of OpenMP threads on a busy machine; --threads gives a
    # dedicated machine more. Fine-tuned reader layers are matrix work that every core speeds up.
    head_only = cfg.backbone_mode == "frozen" and not run.model.config.text_finetune_layers
    head_threads = cfg.threads or (1 if device.type == "cpu" and head_only else None)
    with cpu_threads(head_threads):
        if cfg.warm_up_epochs and run.state["step"] == 0:
            warm_up_head(run, objective)
        net: torch.nn.Module = run.model
        if dist.world > 1:  # (built after the warm-up: it starts every process from process 0's weights)
            # posts without an image leave the image projection unused in a step
            net = torch.nn.parallel.DistributedDataParallel(
                run.model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
            )
        for epoch in range(run.state["epoch"], cfg.total_epochs):
            seed_everything(cfg.seed, epoch)
            sampler.set_epoch(epoch)
            started = time.perf_counter()
            loss = train_one_epoch(run, net, loader, objective, epoch)
            if dist.rank == 0:
                _end_epoch(run, epoch, loss, time.perf_counter() - started)
            dist.barrier()
        if dist.rank == 0:
            write_results(
                run.model, run.source, frame, run.labels, run.label_names, run.split_rows, out, device, report
            )
            report(ProgressEvent("done", done=1))
    dist.barrier()
    return out


def _prepare(
    cfg: TrainConfig, frame: pd.DataFrame, out: Path, dist: Distributed, device: torch.device, report: Progress
) -> Run:
    """The model (new, or the run's checkpoint when resuming), its inputs (the feature cache with
    frozen backbones), the optimizer and the resume state."""
    label_names = list(get_task(cfg.task).label_names)
    labels = frame["label"].map({name: i for i, name in enumerate(label_names)}).to_numpy()
    split_rows = {s: np.flatnonzero(frame["split"].to_numpy() == s) for s in ("train", "dev", "test")}
    resuming = cfg.resume and (out / LAST_DIR / STATE_FILE).exists() and (out / CHECKPOINT_DIR).exists()

    report(ProgressEvent("model", done=0))
    if resuming:
        model = CrisisModel.from_pretrained(out / CHECKPOINT_DIR, device=device)
    else:
        model = _build_model(cfg, frame, out, dist, device)
    report(ProgressEvent("model", done=1))

    if cfg.backbone_mode == "frozen":
        features = compute_features(
            model,
            frame["text"].tolist(),
            frame["image_path"].tolist(),
            FeatureStore(cfg.cache_dir),
            workers=cfg.workers,
            progress=report,
            dist=dist,
        )
        report(
            ProgressEvent(
                "features",
                done=1,
                stats={k: dataclasses.asdict(v) for k, v in features.stats.items()},
                warnings=tuple(features.warnings),
            )
        )
        source: Inputs = CachedInputs(features, device)
    else:
        source = RawInputs(model, frame, cfg.workers, device)

    optimizer = torch.optim.AdamW(_parameter_groups(model, cfg), weight_decay=cfg.weight_decay)
    state: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "best_score": None,
        "best_epoch": None,
        "seed": cfg.seed,
        "history": [],
    }
    if resuming:
        state = load_last(out / LAST_DIR, model, optimizer)
    return Run(cfg, out, model, source, optimizer, frame, labels, label_names, split_rows, state, dist, device, report)


def _parameter_groups(model: CrisisModel, cfg: TrainConfig) -> list[dict[str, Any]]:
    """What learns, by peak learning rate: a fine-tuned reader's top layers slowly (--reader-lr; a
    fast rate would wipe out what pretraining put in them), the rest at --lr."""
    reader = [p for module in model.fine_tuned_layers() for p in module.parameters()]
    in_reader = {id(p) for p in reader}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in in_reader]
    groups = [{"params": rest, "lr": cfg.lr, "peak_lr": cfg.lr}]
    if reader:
        groups.append({"params": reader, "lr": cfg.reader_lr, "peak_lr": cfg.reader_lr})
    return groups


def _build_model(
    cfg: TrainConfig, frame: pd.DataFrame, out: Path, dist: Distributed, device: torch.device
) -> CrisisModel:
    """A new model. Under torchrun, process 0 builds it and the others load its copy: the tiny
    preset's tokenizer is trained on the data, and every process must hold the same one."""
    init = out / INIT_DIR
    if dist.rank == 0:
        seed_everything(cfg.seed)
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


WARM_UP_SEEDS = 1 << 20  # the head's warm-up epochs are seeded apart from the run's own epochs


def warm_up_head(run: Run, objective: Objective) -> None:
    """--head-epochs: the head learns alone first, on what the reader's top layers say before they
    learn (read once; seconds an epoch), and only then with them. A run fine-tunes its reader for a
    few epochs of minutes each, too few for a new head to learn rare classes (linear probing, then
    fine-tuning: Kumar et al., ICLR 2022). Every process warms up the same head on all train posts,
    so under torchrun they agree, and DDP, built after it, starts every process from process 0's."""
    cfg, epochs = run.cfg, run.cfg.warm_up_epochs
    frozen = CachedInputs(run.source.features.through_top_layers(run.model), run.device)
    head = [p for p in run.model.head.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": head, "lr": cfg.lr, "peak_lr": cfg.lr}], weight_decay=cfg.weight_decay)
    state = {"epoch": 0, "step": 0, "best_epoch": None}
    warm = dataclasses.replace(
        run,
        cfg=dataclasses.replace(cfg, epochs=epochs),
        source=frozen,
        optimizer=optimizer,
        state=state,
        dist=Distributed(),  # one process's view: nothing is shared
        report=tagged(run.report, run="head alone"),
    )
    sampler = DistributedSampler(run.split_rows["train"], num_replicas=1, rank=0, shuffle=True, seed=cfg.seed)
    loader = make_loader(frozen, run.split_rows["train"], cfg.batch_size, sampler)
    for epoch in range(epochs):
        seed_everything(cfg.seed, WARM_UP_SEEDS + epoch)
        sampler.set_epoch(epoch)
        train_one_epoch(warm, run.model, loader, objective, epoch)
    dev = evaluate(run.model, frozen, run.split_rows["dev"], run.labels, run.device, warm.report, "dev")
    run.state["head_warmup"] = {"epochs": epochs, **split_metrics(dev, run.labels, run.label_names)}


def train_one_epoch(
    run: Run, net: torch.nn.Module, loader: DataLoader, objective: Objective, epoch: int
) -> dict[str, float]:
    """One pass over this process's share of the train posts; the mean loss, rate and throughput."""
    cfg, device, state = run.cfg, run.device, run.state
    trainable = [p for p in run.model.parameters() if p.requires_grad]
    epochs = cfg.total_epochs  # worked out from the model's config: once, not at every step
    total_steps = epochs * len(loader)
    net.train()
    started, seen, loss_sum, lr = time.perf_counter(), 0, 0.0, cfg.lr
    for step, batch in enumerate(loader):
        share = learning_rate_share(cfg, state["step"], total_steps)
        for group in run.optimizer.param_groups:
            group["lr"] = group["peak_lr"] * share
        lr = cfg.lr * share
        rows, inputs = run.source.inputs(batch)
        if cfg.modality_dropout > 0 and not run.model.config.requires_image:
            # some posts' photos hidden, so the words must answer alone too (not where the photo is required)
            hidden = torch.rand(len(rows)) < cfg.modality_dropout
            inputs["has_image"] = inputs["has_image"] & ~hidden.to(device)
        target = torch.as_tensor(run.labels[rows.numpy()], device=device)
        with device_autocast(device):
            output = net(**inputs)
        loss = training_loss(output, target, objective)
        loss_value = loss.item()  # the one device sync of a step
        _stop_if_not_finite(run, loss_value, epoch, step)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
        run.optimizer.step()
        state["step"] += 1
        seen += len(rows)
        loss_sum += loss_value * len(rows)
        posts_per_s = seen * run.dist.world / (time.perf_counter() - started)
        run.report(
            ProgressEvent(
                "epoch",
                epoch=epoch + 1,
                epochs=epochs,
                done=step + 1,
                total=len(loader),
                loss=loss_sum / seen,
                lr=lr,
                posts_per_s=posts_per_s,
            )
        )
    seconds = time.perf_counter() - started
    return {
        "train_loss": loss_sum / max(seen, 1),
        "lr": lr,
        "train_seconds": seconds,
        "posts_per_s": seen * run.dist.world / seconds,
    }


def _end_epoch(run: Run, epoch: int, trained: dict[str, float], seconds: float) -> None:
    """Process 0 after each epoch: dev scores, the best checkpoint, the history and last/."""
    state, out = run.state, run.out
    dev = evaluate(run.model, run.source, run.split_rows["dev"], run.labels, run.device, run.report, "dev")
    scores = split_metrics(dev, run.labels, run.label_names)
    best = state["best_score"] is None or scores["macro_f1"] > state["best_score"]
    if best:
        state["best_score"], state["best_epoch"] = scores["macro_f1"], epoch + 1
        replace_dir(out / CHECKPOINT_DIR, run.model.save_pretrained)
    state["history"].append(
        {
            "epoch": epoch + 1,
            "train_loss": trained["train_loss"],
            "dev_loss": scores["loss"],
            "dev_accuracy": scores["accuracy"],
            "dev_macro_f1": scores["macro_f1"],
            "dev_weighted_f1": scores["weighted_f1"],
            "dev_positive_f1": scores["positive_f1"],
            "lr": trained["lr"],
            "train_seconds": trained["train_seconds"],
            "seconds": seconds,
            "posts_per_s": trained["posts_per_s"],
            "best": best,
        }
    )
    state["epoch"] = epoch + 1  # (the other processes' copy is only read by the NaN message)
    save_last(out / LAST_DIR, run.model, run.optimizer, state)
    write_text(out / HISTORY_FILE, "".join(json.dumps(h) + "\n" for h in state["history"]))
    epochs = run.cfg.total_epochs
    run.report(
        ProgressEvent(
            "epoch_end",
            epoch=epoch + 1,
            epochs=epochs,
            done=epoch + 1,
            total=epochs,
            scores=state["history"][-1],
        )
    )


def learning_rate_share(cfg: TrainConfig, step: int, total: int) -> float:
    """The share of each peak learning rate at a step: a linear warm-up over the first `warmup` of
    the steps, then a cosine down to zero."""
    warm = int(cfg.warmup * total)
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _stop_if_not_finite(run: Run, loss: float, epoch: int, step: int) -> None:
    """Stops every process together, before the bad step touches the weights."""
    bad = torch.tensor(float(not math.isfinite(loss)), device=run.device)  # on the device NCCL reduces
    if run.dist.world > 1:
        torch_dist.all_reduce(bad, op=torch_dist.ReduceOp.MAX)
    if bad.item() == 0:
        return
    state, out = run.state, run.out
    kept = (
        f"{out / CHECKPOINT_DIR} keeps epoch {state['best_epoch']} (the best so far) and "
        f"{out / LAST_DIR} epoch {state['epoch']} for --resume"
        if state["best_epoch"]
        else "no epoch had completed, so there is no checkpoint"
    )
    raise TrainingError(
        f"the training loss is {loss} at epoch {epoch + 1}, step {step + 1}: stopped. {kept}. "
        "Try a lower --lr or --grad-clip in a new run."
    )
