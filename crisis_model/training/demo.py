"""The dashboard's demo models: the synthetic demo dataset, one small run per task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crisis_model.config import FUSION_VERSION
from crisis_model.data.demo import DEFAULT_TWEETS, DEMO_DATA_DIR, MARKER, demo_dataset_current, generate_demo_dataset
from crisis_model.errors import CrisisLensError
from crisis_model.run_folder import CHECKPOINT_DIR, METRICS_FILE, TRAIN_CONFIG_FILE, read_checkpoint_config
from crisis_model.training.config import TrainConfig, load_train_config, model_config
from crisis_model.training.loop import train
from crisis_model.training.progress import Progress, tagged
from crisis_model.training.resume import epochs_done
from crisis_model.training.run_start import changed_options

DEMO_TASKS = {"informative": "agreed", "humanitarian": "agreed", "damage": "image"}
# The demo's photo reader is random and frozen and its data small: the head needs a higher rate
# and less dropout than the paper's settings, and hidden photos (modality dropout) so that the
# words answer alone too; damage, judged from the photo alone with two classes in three rare,
# needs balanced class weights and more rounds to leave the majority class (measured on the demo
# data with bench/faithfulness.py; README). The demo's sentences come from a few templates on
# purpose, each paired with many photos: a sentence in both train and dev is the design, not a
# leak, and dropping those train posts (drop_leaked) would drop more than half of them (258 of the
# 466 informative ones at the default 600 tweets).
DEMO_SETTINGS = {
    "preset": "demo",
    "epochs": 25,
    "lr": 3e-3,
    "dropout": 0.1,
    "modality_dropout": 0.3,
    "drop_leaked": False,
}
DEMO_TASK_SETTINGS = {"damage": {"epochs": 30, "class_weights": True}}


def train_demo(
    out: str | Path,
    progress: Progress | None = None,
    data_dir: str | Path | None = None,
    n_tweets: int = DEFAULT_TWEETS,
    tasks: tuple[str, ...] = tuple(DEMO_TASKS),
    **overrides: Any,
) -> Path:
    """Generates the synthetic demo dataset (once) and trains one run per task (DEMO_SETTINGS;
    `tasks`, some of DEMO_TASKS) into out/<task>/. A complete run is kept, an interrupted one
    resumed, one made with other options or by an older CrisisLens replaced. `overrides` are
    TrainConfig fields (e.g. epochs)."""
    out = Path(out)
    data = generate_demo_dataset(Path(data_dir) if data_dir is not None else DEMO_DATA_DIR, n_tweets=n_tweets)
    for index, task in enumerate(tasks):
        cfg = _task_config(out, data, task, overrides)
        state = _run_state(cfg)
        if state != "done":
            cfg.resume, cfg.overwrite = state == "resume", state == "new"
            train(cfg, tagged(progress, run=task, run_index=index, run_count=len(tasks)))
    return out


def demo_up_to_date(out: str | Path, data_dir: str | Path, n_tweets: int = DEFAULT_TWEETS, **overrides: Any) -> bool:
    """Whether `train_demo(out, data_dir=data_dir, n_tweets=n_tweets, **overrides)` would train
    nothing: the demo data is this generator's and every task's run is finished, with those options
    and today's architecture."""
    if not demo_dataset_current(Path(data_dir), n_tweets):
        return False
    return all(_run_state(_task_config(Path(out), Path(data_dir), t, overrides)) == "done" for t in DEMO_TASKS)


def _older_than_data(run: Path, data: Path) -> bool:
    """Whether the run started before its demo data was last generated (so it learnt older data)."""
    marker, config = data / MARKER, run / TRAIN_CONFIG_FILE
    return marker.is_file() and config.stat().st_mtime < marker.stat().st_mtime


def _task_config(out: Path, data: Path, task: str, overrides: dict[str, Any]) -> TrainConfig:
    settings = {**DEMO_SETTINGS, **DEMO_TASK_SETTINGS.get(task, {}), **overrides}
    return TrainConfig(out=str(out / task), data_root=str(data), task=task, labels=DEMO_TASKS[task], **settings)


def _run_state(cfg: TrainConfig) -> str:
    """ "done" (a finished run of this config), "resume" (an interrupted one) or "new" (none, or one
    made with other options, another photo pooling or an older fusion version, or on older demo
    data: replaced)."""
    run = Path(cfg.out)
    if not (run / TRAIN_CONFIG_FILE).exists():
        return "new"
    try:
        saved_options = load_train_config(run / TRAIN_CONFIG_FILE)
        if saved_options.data_root and Path(saved_options.data_root).resolve() == Path(cfg.data_root).resolve():
            saved_options.data_root = cfg.data_root  # train.py --demo saves it relative, the dashboard absolute
        same = not changed_options(cfg, saved_options)
        saved, wanted = read_checkpoint_config(run / CHECKPOINT_DIR), model_config(cfg)
        # what the run's options do not name but the model's architecture depends on
        current = saved.get("fusion_version") == FUSION_VERSION and saved.get("photo_pooling", "mean") == (
            wanted.photo_pooling
        )
    except CrisisLensError:  # an unreadable config or checkpoint: start again
        return "new"
    if not (same and current) or _older_than_data(run, Path(cfg.data_root)):
        return "new"
    return "done" if (run / METRICS_FILE).exists() and epochs_done(run) >= cfg.total_epochs else "resume"
