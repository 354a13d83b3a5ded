"""Scoring a split during and after training: the scores behind metrics.json and the table
behind predictions.parquet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file
from torch import Tensor

from crisis_model.atomic_files import atomic_write, write_json
from crisis_model.config import WEIGHTS_FILE
from crisis_model.metrics import classification_metrics
from crisis_model.model import CrisisModel
from crisis_model.model.modeling import TEXT_INPUTS
from crisis_model.model.text_encoder import TextFeatures
from crisis_model.predictions import POST_KEY_COLUMN, RELIANCE_COLUMNS, WEIGHT_COLUMNS, post_keys, prob_column
from crisis_model.run_folder import CHECKPOINT_DIR, METRICS_FILE, PREDICTIONS_FILE
from crisis_model.runtime import device_autocast
from crisis_model.training.inputs import Inputs, RawInputs, make_loader
from crisis_model.training.loss import classification_loss
from crisis_model.training.progress import Progress, ProgressEvent

EVAL_BATCH = 256


@dataclass
class SplitOutputs:
    rows: np.ndarray  # (N,) rows of the frame
    probabilities: np.ndarray  # (N, K)
    modality_weights: np.ndarray  # (N, 3): text, image, joint
    has_image: np.ndarray  # (N,) what the model saw
    routing_mean: np.ndarray | None  # (N, J): coupling to each fused capsule, averaged over primaries
    loss: float
    # the predicted class's probability fall without the words / the photo (NaN where not measured)
    reliance: dict[str, np.ndarray] | None = None


@torch.inference_mode()
def evaluate(
    model: CrisisModel,
    source: Inputs,
    rows: Sequence[int],
    labels: np.ndarray,
    device: torch.device,
    progress: Progress,
    split: str,
    reliance: bool = False,
) -> SplitOutputs:
    """The model's outputs and mean loss on the posts at `rows` (one split); with `reliance`, also
    the fall of each answer's probability when the post is scored without its words and without
    its photo."""
    model.eval()
    parts: dict[str, list[Tensor]] = {"rows": [], "probs": [], "weights": [], "image": [], "routing": []}
    dropped: dict[str, list[Tensor]] = {"words": [], "photo": []}
    loss_sum, loader = 0.0, make_loader(source, rows, EVAL_BATCH)
    prompt_alone = _prompt_alone(model, device) if reliance and isinstance(source, RawInputs) else None
    for step, batch in enumerate(loader):
        batch_rows, inputs = source.inputs(batch)
        with device_autocast(device):
            # the readers once (and a fine-tuned reader's top layers); the reliance passes rerun the head, and
            # without the words also those top layers, on the prompt alone
            if isinstance(source, RawInputs):
                inputs = model.read(**inputs)
            elif "text_cut" in inputs:
                inputs["text_features"] = model.text_encoder.read_from_cut(inputs.pop("text_cut"))
            out = model(**inputs)
            if reliance:
                predicted = out.probabilities.argmax(dim=1, keepdim=True)
                for drop in dropped:
                    without = model(**_without(source, batch, inputs, drop, prompt_alone)).probabilities
                    fall = (out.probabilities.gather(1, predicted) - without.gather(1, predicted)).squeeze(1)
                    dropped[drop].append(fall.float().cpu())
        target = torch.as_tensor(labels[batch_rows.numpy()], device=device)
        loss_sum += float(classification_loss(out.logits, target)) * len(batch_rows)
        parts["rows"].append(batch_rows)
        parts["probs"].append(out.probabilities.float().cpu())
        parts["weights"].append(out.modality_weights.float().cpu())
        parts["image"].append(out.has_image.cpu())
        if out.routing_coefficients is not None:
            parts["routing"].append(out.routing_coefficients.float().mean(dim=1).cpu())
        progress(ProgressEvent("eval", split=split, done=step + 1, total=len(loader)))
    n = sum(len(r) for r in parts["rows"])
    has_image = torch.cat(parts["image"]).numpy()
    falls = None
    if reliance:
        falls = {drop: torch.cat(values).numpy() for drop, values in dropped.items()}
        falls["photo"] = np.where(has_image & model.config.uses_image, falls["photo"], np.nan)
        if not model.config.uses_text:
            falls["words"] = np.full(n, np.nan)
    return SplitOutputs(
        rows=torch.cat(parts["rows"]).numpy(),
        probabilities=torch.cat(parts["probs"]).numpy(),
        modality_weights=torch.cat(parts["weights"]).numpy(),
        has_image=has_image,
        routing_mean=torch.cat(parts["routing"]).numpy() if parts["routing"] else None,
        loss=loss_sum / max(n, 1),
        reliance=falls,
    )


def _prompt_alone(model: CrisisModel, device: torch.device) -> TextFeatures | None:
    """The text reader's features of a post without words (the prompt alone); None without one."""
    if not model.config.uses_text:
        return None
    encoded = model.tokenize([""])
    return model.text_encoder(*(encoded[key].to(device) for key in TEXT_INPUTS))


def _without(
    source: Inputs, batch: Any, read: dict[str, Any], drop: str, prompt_alone: TextFeatures | None
) -> dict[str, Any]:
    """The batch's head inputs without its photo or its words: the photo hidden in its reading; the
    words replaced by the prompt alone's, from the cache or read once (trainable readers)."""
    if drop == "photo":
        return {**read, "has_image": torch.zeros_like(read["has_image"])}
    if not isinstance(source, RawInputs):
        return source.inputs(batch, drop=drop)[1]
    if prompt_alone is None:  # a model that reads no words: nothing to remove
        return read
    rows = torch.zeros(read["has_image"].shape[0], dtype=torch.long, device=prompt_alone.pooled.device)
    return {**read, "text_features": prompt_alone.select(rows)}


def split_metrics(outputs: SplitOutputs, labels: np.ndarray, label_names: Sequence[str]) -> dict:
    return {**classification_metrics(labels[outputs.rows], outputs.probabilities, label_names), "loss": outputs.loss}


def predictions_table(
    frame: pd.DataFrame, outputs: SplitOutputs, label_names: Sequence[str], uses_image: bool
) -> pd.DataFrame:
    """One row per scored post, as predictions.parquet holds it (crisis_model.predictions)."""
    posts = frame.iloc[outputs.rows].reset_index(drop=True)
    predicted = outputs.probabilities.argmax(axis=1)
    table = pd.DataFrame(
        {
            "post_id": posts["post_id"],
            "tweet_id": posts["tweet_id"],
            "event": posts["event"],
            "split": posts["split"],
            "text": posts["text"],
            "image_path": posts["image_path"],
            "true_label": posts["label"],
            "predicted_label": [label_names[i] for i in predicted],
            "confidence": outputs.probabilities.max(axis=1),
        }
    )
    for k, name in enumerate(label_names):
        table[prob_column(name)] = outputs.probabilities[:, k]
    for g, column in enumerate(WEIGHT_COLUMNS):  # in the order of the gate's weights
        table[column] = outputs.modality_weights[:, g]
    if outputs.reliance is not None:
        for removed, column in RELIANCE_COLUMNS.items():
            table[column] = outputs.reliance[removed]
    # a text-only model never opens the image: the post has one if it names a file
    table["has_image"] = outputs.has_image if uses_image else (posts["image_path"] != "").to_numpy()
    table["correct"] = table["true_label"] == table["predicted_label"]
    table["routing_mean"] = [row.tolist() for row in outputs.routing_mean] if outputs.routing_mean is not None else None
    table[POST_KEY_COLUMN] = post_keys(posts)
    return table


def write_results(
    model: CrisisModel,
    source: Inputs,
    frame: pd.DataFrame,
    labels: np.ndarray,
    label_names: list[str],
    split_rows: dict[str, np.ndarray],
    out: Path,
    device: torch.device,
    progress: Progress,
) -> None:
    """metrics.json for every split and predictions.parquet for dev and test, from checkpoint/."""
    model.load_state_dict(load_file(str(out / CHECKPOINT_DIR / WEIGHTS_FILE)))
    metrics, tables = {}, []
    for split, rows in split_rows.items():
        if len(rows) == 0:
            continue
        outputs = evaluate(model, source, rows, labels, device, progress, split, reliance=split != "train")
        metrics[split] = split_metrics(outputs, labels, label_names)
        if split != "train":
            tables.append(predictions_table(frame, outputs, label_names, model.config.uses_image))
    write_json(out / METRICS_FILE, metrics)
    table = pd.concat(tables, ignore_index=True)
    atomic_write(out / PREDICTIONS_FILE, lambda tmp: table.to_parquet(tmp, index=False))
