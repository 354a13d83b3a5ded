"""Row 2's bf16 check on a trained model: do bf16 answers keep the fp32 labels, and how far do the
probabilities move?

The benchmark's speed models have random weights, and a random model answers one label for every
post (the tiny one: one class for all posts, probabilities within 0.0003 of each other), so "labels
unchanged" could not fail on them. Here the model is the informative task of the dashboard's demo
(the `demo` preset: MiniLM reads the words, a tiny CNN the photo), trained with the demo's own
settings (`train_demo`, 150 tweets; reused from artifacts/bench/trained-run/ when there), scored on
every post of its data, text and photo, in fp32 and under bf16 autocast. The row says how many
distinct labels the model gave, so a constant model shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crisis_model import load_model, predict
from crisis_model.data import load_crisismmd
from crisis_model.run_folder import TRAIN_CONFIG_FILE
from crisis_model.training import train_demo


def trained_run(folder: Path) -> Path:
    """The trained informative run in folder/runs/informative (trained on first use)."""
    return (
        train_demo(folder / "runs", data_dir=folder / "data", n_tweets=150, tasks=("informative",), cache_dir=None)
        / "informative"
    )


def bf16_rows(report: Any, device: torch.device, run: Path, goal: float, posts: int | None = None) -> None:
    """Adds row 2's 'labels unchanged by bf16' and 'largest probability change' on the run's model,
    over (the first `posts` of) the posts of the data it was trained on."""
    model = load_model(run / "checkpoint", device=device)
    data = json.loads((run / TRAIN_CONFIG_FILE).read_text(encoding="utf-8"))["data_root"]
    table = load_crisismmd(data, "informative", "agreed")
    table = table.head(posts) if posts else table
    items = [{"text": t, "image": i or None} for t, i in zip(table["text"], table["image_path"])]
    answers = {
        name: predict(model, items, batch_size=32, autocast_dtype=dtype)
        for name, dtype in (("fp32", None), ("bf16", torch.bfloat16))
    }
    labels = {name: [p.label for p in scored] for name, scored in answers.items()}
    probabilities = {
        name: np.array([[p.probabilities[k] for k in model.config.label_names] for p in scored])
        for name, scored in answers.items()
    }
    agreement = float(np.mean([a == b for a, b in zip(labels["fp32"], labels["bf16"])]))
    change = float(np.abs(probabilities["fp32"] - probabilities["bf16"]).max())
    distinct = sorted(set(labels["fp32"]))
    counts = ", ".join(f"{labels['fp32'].count(label)} {label}" for label in distinct)
    report.add(
        "2",
        f"trained demo (informative): labels unchanged by bf16 ({len(items)} posts)",
        100 * agreement,
        "%",
        reference="fp32, same posts",
        goal=f"≥ {100 * goal:g}%",
        met=agreement >= goal and len(distinct) > 1,
        note=f"fp32 labels: {counts}",
    )
    report.add(
        "2",
        "trained demo (informative): largest probability change under bf16",
        change,
        "",
        reference="fp32, same posts",
        note=f"mean {np.abs(probabilities['fp32'] - probabilities['bf16']).mean():.2g}",
    )
