"""What the Overview says about a run: the model card, the score tables, the ablation, the dataset."""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from crisis_dashboard.loaders import load_dataset, parameter_counts, read_json, split_sizes
from crisis_dashboard.names import FUSION_HELP, pretty, task_title
from crisis_dashboard.reliability import CONFIDENCE, Reliability, reliability_of
from crisis_dashboard.state import REPO_ROOT, is_demo_data
from crisis_model.errors import CrisisLensError, DataError
from crisis_model.run_folder import ABLATION_JSON, ABLATION_MD, METRICS_FILE, TASK_ORDER, TRAIN_CONFIG_FILE, TaskRun

METRIC_NAMES = {
    "accuracy": "Accuracy",
    "macro_f1": "Macro F1",
    "weighted_f1": "Weighted F1",
    "positive_f1": "F1 of the first category",  # renamed per run after its first label (metrics_table)
    "roc_auc": "ROC AUC",
    "ece": "Calibration error (lower is better)",
    "posts": "Posts",
}
METRICS_CAPTION = (
    "Scores on each split (dev: used to choose the model; test: held out). 1.0 is perfect. Accuracy: the share "
    "of posts answered right. Macro F1: how well every category is found, each counted equally. Weighted F1: "
    "the same, weighted by how common each category is. ROC AUC: how well the probabilities rank the posts "
    "(0.5 is guessing; “–” when a split lacks a category). Calibration error: how far the model's confidence "
    "is from how often it is right."
)


def quality_table(runs: Sequence[TaskRun]) -> pd.DataFrame:
    """Every task's test scores side by side, with the reliability verdict, in plain names."""
    rows = []
    for run in runs:
        verdict = reliability_of(run)
        test = _test_scores(run)
        rows.append(
            {
                "Task": task_title(run.task) + run.name.removeprefix(run.task),
                "Reliability": verdict.title.removesuffix(" model"),
                "Test posts": verdict.test_posts,
                ACCURACY_COLUMN: _accuracy(verdict),
                "Commonest answer": verdict.commonest_share,
                "Macro F1": verdict.macro_f1,
                "ROC AUC": test.get("roc_auc"),
                "Calibration error": test.get("ece"),
            }
        )
    table = pd.DataFrame(rows).set_index("Task")
    for column in ("ROC AUC", "Calibration error", "Commonest answer", "Macro F1"):
        table[column] = pd.to_numeric(table[column], errors="coerce")  # None (undefined) shows as "–"
    return table


ACCURACY_COLUMN = f"Accuracy ({CONFIDENCE:.0%} interval)"


def _accuracy(verdict: Reliability) -> str:
    """The test accuracy with its Wilson interval, as the badge weighs it: "0.84 (0.69–0.92)"."""
    if verdict.accuracy is None or verdict.interval is None:
        return "–"
    return f"{verdict.accuracy:.2f} ({verdict.interval[0]:.2f}–{verdict.interval[1]:.2f})"


def _test_scores(run: TaskRun) -> dict[str, Any]:
    try:
        metrics = read_json(run.file(METRICS_FILE))
    except DataError:
        return {}
    test = metrics.get("test") if isinstance(metrics, dict) else None
    return test if isinstance(test, dict) else {}


def model_card(run: TaskRun) -> dict[str, str]:
    """The facts an analyst needs about a model, in plain words."""
    config = run.config
    try:
        train_config = read_json(run.file(TRAIN_CONFIG_FILE)) or {}
    except DataError:
        train_config = {}
    if not isinstance(train_config, dict):
        train_config = {}
    try:
        total, head = parameter_counts(run)
        parameters = f"{total:,} ({head:,} in the fusion head)"
    except CrisisLensError as err:
        parameters = f"unknown ({err})"
    image_weights = "ImageNet weights" if config.get("image_pretrained") else "trained from scratch"
    fusion = str(config.get("fusion", "?"))
    data = train_config.get("data_root") if isinstance(train_config.get("data_root"), str) else ""
    if data:
        path = Path(data) if Path(data).is_absolute() else REPO_ROOT / data
        data = f"{data} (synthetic demo data)" if is_demo_data(path) else data
    try:
        splits = split_sizes(run)
        sizes = ", ".join(f"{splits[s]:,} {s}" for s in ("train", "dev", "test") if s in splits)
        data = f"{data} · {sizes} posts" if data else f"{sizes} posts"
    except CrisisLensError:  # no predictions table yet: the card says what it can without the sizes
        pass
    date = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.stamp)) if run.stamp else "unknown"
    return {
        "Task": task_title(run.task),
        "Labels": ", ".join(pretty(x) for x in run.label_names),
        "Preset": str(config.get("preset", "custom")),
        # a one-modality model keeps the other reader's name in its config, but never runs it
        "Text reader (language model)": _text_reader(config) if fusion != "image" else "none: the words are not read",
        "Photo reader (CNN)": (
            f"{config.get('image_backbone', '?')} ({image_weights})" if fusion != "text" else "none: no photo is read"
        ),
        "Fusion": f"{fusion}: {FUSION_HELP.get(fusion, '')}",
        "Parameters": parameters,
        "Training data": data or "unknown",
        "Trained": date,
        "Folder": f"`{run.folder}`",
    }


def _text_reader(config: dict[str, Any]) -> str:
    """The language model's name, and how many of its top layers learned on the task's posts."""
    name, tuned = str(config.get("text_backbone", "?")), config.get("text_finetune_layers")
    if isinstance(tuned, int) and not isinstance(tuned, bool) and tuned > 0:
        return f"{name}, its top {tuned} layer{'s' if tuned > 1 else ''} fine-tuned on this task"
    return name


def metrics_table(metrics: Any) -> pd.DataFrame | None:
    """One row per split (dev, test first) with the scalar scores, plain column names; a score that
    is undefined on a split (ROC AUC without every category) is NaN, shown as "–"."""
    if not isinstance(metrics, dict):
        return None
    order = {"train": 2, "dev": 0, "test": 1}
    rows = {}
    for split in sorted(metrics, key=lambda s: (order.get(s, 3), s)):
        values = metrics[split]
        if not isinstance(values, dict):
            continue
        names = dict(METRIC_NAMES)
        labels = values.get("labels")
        if isinstance(labels, list) and labels:
            names["positive_f1"] = f"F1 of “{pretty(labels[0])}”"
        rows[split] = {
            names[k]: values.get(k)
            for k in METRIC_NAMES
            if k in values and (values.get(k) is None or isinstance(values.get(k), (int, float)))
        }
    if not rows:
        return None
    table = pd.DataFrame.from_dict(rows, orient="index").apply(pd.to_numeric, errors="coerce")
    return table.dropna(axis=1, how="all")


def per_class_table(metrics: Any, split: str) -> pd.DataFrame | None:
    values = metrics.get(split, {}) if isinstance(metrics, dict) else {}
    per_class = values.get("per_class") if isinstance(values, dict) else None
    if not isinstance(per_class, dict) or not per_class:
        return None
    table = pd.DataFrame.from_dict(per_class, orient="index")
    table.index = [pretty(i) for i in table.index]
    return table


def ablation_folder(run: TaskRun, run_root: Path | None = None) -> Path | None:
    """Where the ablation files of `run` are: its own folder, the folder above it (train.py's
    ablation writes <out>/ablation.json beside the <variant>-seed<n>/ runs), or the run root."""
    for folder in (run.folder, run.folder.parent, run_root):
        if folder is not None and any((folder / name).is_file() for name in (ABLATION_JSON, ABLATION_MD)):
            return folder
    return None


def load_ablation(run: TaskRun, run_root: Path | None = None) -> tuple[pd.DataFrame | None, str, list[str], str | None]:
    """(table, variant column, metric columns, markdown) of the ablation that `run` belongs to, if any.
    The table has one row per variant; metric columns are the dev / test means when there are seeds."""
    folder = ablation_folder(run, run_root)
    if folder is None:
        return None, "", [], None
    markdown = None
    if (folder / ABLATION_MD).is_file():
        markdown = (folder / ABLATION_MD).read_text(encoding="utf-8", errors="replace")
    try:
        raw = read_json(folder / ABLATION_JSON)
    except DataError:
        raw = None
    axis = raw.get("axis") if isinstance(raw, dict) else None
    if isinstance(raw, dict):
        if isinstance(raw.get("task"), str) and raw["task"] != run.task:
            return None, "", [], None  # another task's ablation
        raw = raw.get("rows")
    table = None
    if isinstance(raw, list) and raw and all(isinstance(r, dict) for r in raw):
        table = pd.json_normalize(raw, sep="_")
    if table is None or table.empty:
        return None, "", [], markdown
    variant = next((c for c in (axis, "fusion", "variant", "name") if c and c in table), table.columns[0])
    table[variant] = table[variant].astype(str)
    numeric = [c for c in table.columns if c != variant and pd.api.types.is_numeric_dtype(table[c])]
    table = table[[variant] + numeric]
    means = [c for c in numeric if c.endswith("_mean")]
    candidates = means or [c for c in numeric if not c.endswith("_std")]
    preferred = [
        c
        for key in ("dev_macro_f1", "dev_accuracy", "test_macro_f1", "test_accuracy", "macro_f1", "accuracy")
        for c in candidates
        if c.startswith(key) or c == key
    ]
    metrics = list(dict.fromkeys(preferred or candidates))[:4]
    return table, variant, metrics, markdown


def dataset_overview(root: Path) -> tuple[dict[str, pd.DataFrame], dict[str, str], int]:
    """(posts per task, error per task, posts whose photo is missing) for the data folder."""
    frames, errors, missing = {}, {}, 0
    for task in TASK_ORDER:
        try:
            frames[task], lost = load_dataset(root, task)
            missing = max(missing, lost)
        except CrisisLensError as err:
            errors[task] = str(err)
        except Exception as err:  # never a traceback on the page
            traceback.print_exc()
            errors[task] = f"{type(err).__name__}: {err}"
    return frames, errors, missing
