"""Scores of a classifier on one split, as `metrics.json` stores them and the dashboard shows them.

Everything but the calibration error comes from scikit-learn. Labels are indices into
`label_names`; for a binary task the positive class is the first label name ("informative"),
which is the class the paper's single F1 figure is most likely reported for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

ECE_BINS = 15


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size
    (Guo et al. 2017). scikit-learn has no top-label ECE, hence these few lines."""
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == y_true).astype(float)
    # bin k holds confidences in (k/bins, (k+1)/bins]; a confidence is never 0 for >= 2 classes
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, correct, bins) - np.bincount(which, confidence, bins))
    return float(gap.sum() / max(counts.sum(), 1))


def roc_auc(y_true: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Binary: AUC of the positive (first) class; multi-class: macro one-vs-rest. None when a
    split lacks a class, where AUC is undefined."""
    classes = probabilities.shape[1]
    if len(np.unique(y_true)) < classes:
        return None
    if classes == 2:
        return float(roc_auc_score(y_true == 0, probabilities[:, 0]))
    return float(roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro", labels=list(range(classes))))


def classification_metrics(
    y_true: Sequence[int], probabilities: np.ndarray, label_names: Sequence[str]
) -> dict[str, Any]:
    """accuracy, macro / weighted / positive-class F1, per-class precision-recall-F1, the
    confusion matrix (rows: true label, columns: predicted, in `labels` order), ROC AUC and ECE."""
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    y_pred = probabilities.argmax(axis=1)
    classes = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)

    def f1_of(average: str) -> float:
        return float(f1_score(y_true, y_pred, labels=classes, average=average, zero_division=0))

    return {
        "posts": int(len(y_true)),
        "labels": list(label_names),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": f1_of("macro"),
        "weighted_f1": f1_of("weighted"),
        "positive_f1": (
            float(f1_score(y_true, y_pred, pos_label=0, average="binary", zero_division=0))
            if len(classes) == 2
            else None
        ),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(label_names, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
        "roc_auc": roc_auc(y_true, probabilities),
        "ece": expected_calibration_error(y_true, probabilities),
    }
