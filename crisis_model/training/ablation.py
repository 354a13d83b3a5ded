"""Comparisons: one run per variant and seed, summarised as mean ± std (the paper's tables).

run_ablation(cfg, "fusion", seeds=[0, 1, 2])   # cfg.out/<variant>-seed<S>/, ablation.json, ablation.md
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crisis_model.atomic_files import write_json, write_text
from crisis_model.errors import ConfigError
from crisis_model.run_folder import ABLATION_JSON, ABLATION_MD, ABLATION_RUNS, METRICS_FILE, TRAIN_CONFIG_FILE
from crisis_model.training.config import TrainConfig, check_config
from crisis_model.training.loop import train
from crisis_model.training.progress import Progress, tagged
from crisis_model.training.resume import epochs_done
from crisis_model.training.run_start import check_out

ABLATIONS = {
    # the paper's table, from one modality to the full fusion
    "fusion": ("text", "image", "concat", "attention", "full"),
    # the paper's prompt-sensitivity check
    "prompt": ("none", "task", "summarize"),
}
ABLATION_METRICS = ("accuracy", "macro_f1", "weighted_f1", "positive_f1")
METRIC_NAMES = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "weighted_f1": "weighted-F1",
    "positive_f1": "positive-F1",
}


def run_ablation(
    cfg: TrainConfig,
    axis: str = "fusion",
    seeds: Sequence[int] | None = None,
    values: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Trains one run per (variant, seed) into cfg.out/<variant>-seed<seed>/ and writes
    ablation.json and ablation.md: dev (and test) scores, mean and std over the seeds."""
    if axis not in ABLATIONS:
        raise ConfigError(f"unknown ablation {axis!r}; choose one of {', '.join(ABLATIONS)}")
    values = list(values or ABLATIONS[axis])
    seeds = list(seeds if seeds is not None else [cfg.seed])
    out = Path(cfg.out)
    check_out(cfg, marker=ABLATION_RUNS)
    runs = {
        value: [
            dataclasses.replace(cfg, out=str(out / f"{value}-seed{seed}"), seed=seed, **{axis: value}) for seed in seeds
        ]
        for value in values
    }
    for sub in (s for subs in runs.values() for s in subs):
        check_config(sub)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / ABLATION_RUNS, {v: [s.out for s in subs] for v, subs in runs.items()})
    for value, subs in runs.items():
        for sub in subs:
            done = (Path(sub.out) / METRICS_FILE).exists() and epochs_done(Path(sub.out)) >= sub.total_epochs
            if cfg.resume and done:
                continue
            sub.resume = cfg.resume and (Path(sub.out) / TRAIN_CONFIG_FILE).exists()
            sub.overwrite = cfg.overwrite and not sub.resume
            train(sub, tagged(progress, run=f"{value}-seed{sub.seed}"))
    if int(os.environ.get("RANK", "0")) == 0:
        summary = summarize_ablation(cfg, axis, runs)
        write_json(out / ABLATION_JSON, summary)
        write_text(out / ABLATION_MD, ablation_markdown(summary))
    return out


def summarize_ablation(cfg: TrainConfig, axis: str, runs: dict[str, list[TrainConfig]]) -> dict[str, Any]:
    """Per variant, the dev (and test) scores of its seeds with their mean and sample std."""
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
    return {
        "axis": axis,
        "task": cfg.task,
        "labels": cfg.labels,
        "preset": cfg.preset,
        "seeds": [s.seed for s in next(iter(runs.values()))],
        "epochs": cfg.total_epochs,
        "rows": rows,
    }


def ablation_markdown(summary: dict[str, Any]) -> str:
    axis, rows, seeds = summary["axis"], summary["rows"], summary["seeds"]
    columns = [
        (split, metric)
        for split in ("dev", "test")
        for metric in ABLATION_METRICS
        if all(metric in row.get(split, {}) for row in rows)
    ]
    lines = [
        f"# {axis.capitalize()} ablation: {summary['task']} ({summary['labels']} labels), "
        f"{summary['preset']} preset, {summary['epochs']} epochs",
        "",
        f"Seeds {', '.join(map(str, seeds))}: mean" + (" ± sample std over the seeds." if len(seeds) > 1 else "."),
        "",
        "| " + " | ".join([axis] + [f"{split} {METRIC_NAMES[metric]}" for split, metric in columns]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for row in rows:
        cells = []
        for split, metric in columns:
            score = row[split][metric]
            cells.append(f"{score['mean']:.4f}" + (f" ± {score['std']:.4f}" if len(seeds) > 1 else ""))
        lines.append("| " + " | ".join([row[axis]] + cells) + " |")
    return "\n".join(lines) + "\n"
