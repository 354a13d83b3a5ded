"""The dashboard's demo models: the synthetic demo dataset, one small run per task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crisis_model.data.demo import DEMO_DATA_DIR, generate_demo_dataset
from crisis_model.run_folder import METRICS_FILE, TRAIN_CONFIG_FILE
from crisis_model.training.config import TrainConfig
from crisis_model.training.loop import train
from crisis_model.training.progress import Progress, tagged
from crisis_model.training.resume import epochs_done

DEMO_TASKS = {"informative": "agreed", "humanitarian": "agreed", "damage": "image"}
# The demo's tiny backbones are random and frozen: the head needs more steps, a higher rate and
# less dropout than the paper's settings to learn from 200-odd posts (measured on the demo data).
DEMO_SETTINGS = {"preset": "tiny", "epochs": 30, "lr": 3e-3, "dropout": 0.1}


def train_demo(
    out: str | Path,
    progress: Progress | None = None,
    data_dir: str | Path | None = None,
    n_tweets: int = 300,
    tasks: tuple[str, ...] = tuple(DEMO_TASKS),
    **overrides: Any,
) -> Path:
    """Generates the synthetic demo dataset (once) and trains one run per task (DEMO_SETTINGS;
    `tasks`, some of DEMO_TASKS) into out/<task>/. A complete run is kept, an interrupted one
    resumed. `overrides` are TrainConfig fields (e.g. epochs, cache_dir)."""
    out = Path(out)
    data = generate_demo_dataset(Path(data_dir) if data_dir is not None else DEMO_DATA_DIR, n_tweets=n_tweets)
    for index, task in enumerate(tasks):
        labels = DEMO_TASKS[task]
        run = out / task
        cfg = TrainConfig(
            **{
                "out": str(run),
                "data_root": str(data),
                "task": task,
                "labels": labels,
                **DEMO_SETTINGS,
                **overrides,
                "resume": (run / TRAIN_CONFIG_FILE).exists(),
            }
        )
        if not (cfg.resume and (run / METRICS_FILE).exists() and epochs_done(run) >= cfg.epochs):
            train(cfg, tagged(progress, run=task, run_index=index, run_count=len(tasks)))
    return out
