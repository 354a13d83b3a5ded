"""Training: a dataset in, a run folder out. `train` is what train.py calls.

config.py      TrainConfig, checked once       dataset.py    the labelled posts with splits
loop.py        train, fit, train_one_epoch     evaluation.py evaluate, metrics.json, predictions
features.py    the frozen readers' cache       inputs.py     batches from the cache or the posts
loss.py        the objective                   resume.py     last/: the resume state
run_start.py   a new, resumed or replaced run  corrections.py  reviewers' labels win (--corrections)
ablation.py    variants x seeds, mean ± std    demo.py       the dashboard's demo models
progress.py    ProgressEvent, console bars

Processes, devices, seeds and threads are crisis_model.runtime's, shared with scoring; the scores
are crisis_model.metrics', shared with the dashboard's comparison of two runs.
"""

from crisis_model.training.ablation import ABLATIONS, run_ablation
from crisis_model.training.config import DEFAULT_CACHE_DIR, TrainConfig, check_config, load_train_config
from crisis_model.training.demo import DEMO_DATA_DIR, DEMO_TASKS, train_demo
from crisis_model.training.loop import train
from crisis_model.training.progress import ProgressEvent, TqdmProgress, print_summary

__all__ = [
    "ABLATIONS",
    "DEFAULT_CACHE_DIR",
    "DEMO_DATA_DIR",
    "DEMO_TASKS",
    "ProgressEvent",
    "TqdmProgress",
    "TrainConfig",
    "check_config",
    "load_train_config",
    "print_summary",
    "run_ablation",
    "train",
    "train_demo",
]
