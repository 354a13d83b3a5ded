"""Do the explanations tell the truth? Interventions on posts, checked against what the model says.

An explanation is a claim about the model: "40 % of the decision came from the words". Each check
here changes the input and sees whether the answer moves the way the explanation says:

- swap: every post gets another post's words (photo kept), then another post's photo (words
  kept); the modality with the larger mean weight must be the one whose swap changes more labels;
- reliance: per post, the fall of the answer's probability without the words and without the
  photo (`predict(..., reliance=True)`); the weights and the reliance must rank posts alike
  (a positive Spearman correlation between text-minus-photo weight and text-minus-photo reliance);
- regions: per post, the fall of the answer's probability when each of the photo's 49 regions is
  hidden (replaced by the photo's average region) is what in the photo mattered; the attention
  of the post's words over the regions is checked against it (a positive Spearman correlation,
  averaged over posts, would mean the attention points where the answer comes from);
- damage: on photos whose damage boxes are known (the demo draws them), both the attention and
  the regions that mattered are compared inside the boxes and outside.

`bench/faithfulness.py` runs them on the demo models and prints the tables; the tests run them
on a small demo model trained in the test.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from crisis_model.inference import Prediction, predict
from crisis_model.model import CrisisModel
from crisis_model.model.fusion import GROUPS
from crisis_model.model.image_encoder import REGION_GRID

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the 224-px photo the model sees


@dataclass
class Faithfulness:
    posts: int  # posts with a photo that were checked
    weights: dict[str, float]  # mean gate weight of each evidence group
    text_swap_changed: float  # share of labels changed when the words are swapped
    photo_swap_changed: float  # ... when the photo is swapped
    reliance: dict[str, float]  # mean fall of the answer's probability without the words / the photo
    rank_correlation: float  # Spearman of (text - image weight) vs (words - photo reliance), across posts

    @property
    def larger_weight(self) -> str:
        return "text" if self.weights["text"] >= self.weights["image"] else "image"

    @property
    def larger_swap_effect(self) -> str:
        return "text" if self.text_swap_changed >= self.photo_swap_changed else "image"

    @property
    def larger_reliance(self) -> str:
        """The modality whose removal lowers the answer's probability more, on average: unlike the
        count of changed labels, it is not decided by the few posts that sit near a class boundary."""
        return "text" if self.reliance["words"] >= self.reliance["photo"] else "image"


def check_faithfulness(
    model: CrisisModel, posts: Sequence[dict], seed: int = 0, original: Sequence[Prediction] | None = None
) -> Faithfulness:
    """The swap and reliance checks on posts with a photo (dicts with `text` and `image`). `original`:
    these posts already scored with reliance, when the caller has them (saves scoring them again)."""
    if original is None:
        posts = [p for p in posts if p.get("image")]
        original = predict(model, posts, reliance=True)
    elif not all(p.get("image") for p in posts):
        raise ValueError("posts scored beforehand must all have a photo")
    if len(posts) < 2:
        raise ValueError("the checks need at least two posts with a photo")
    rng = random.Random(seed)
    donors = _derangement(len(posts), rng)
    text_swapped = predict(model, [{**p, "text": posts[d]["text"]} for p, d in zip(posts, donors)])
    photo_swapped = predict(model, [{**p, "image": posts[d]["image"]} for p, d in zip(posts, donors)])
    judged = [p for p in original if p.label is not None]
    weights = {g: float(np.mean([p.explanation.modality_weights[g] for p in judged])) for g in GROUPS}
    reliance = {side: _mean_reliance(judged, side) for side in ("words", "photo")}
    weight_gap = [p.explanation.modality_weights["text"] - p.explanation.modality_weights["image"] for p in judged]
    reliance_gap = [_gap(p) for p in judged]
    correlation = spearmanr(weight_gap, reliance_gap).statistic if len(set(weight_gap)) > 1 else float("nan")
    return Faithfulness(
        posts=len(judged),
        weights=weights,
        text_swap_changed=_changed(original, text_swapped),
        photo_swap_changed=_changed(original, photo_swapped),
        reliance=reliance,
        rank_correlation=float(correlation),
    )


def attention_vs_importance(predictions: Sequence[Prediction]) -> float:
    """Mean over posts (scored with reliance) of the Spearman correlation between the attention of
    the post's words over the 49 regions and how much hiding each region changes the answer."""
    correlations = []
    for prediction in predictions:
        _, lift, _ = prediction.explanation.word_attention()
        importance = prediction.explanation.region_importance
        if lift is not None and importance is not None and np.ptp(importance) > 0:
            correlations.append(spearmanr(lift.mean(axis=0), importance).statistic)
    return float(np.mean(correlations)) if correlations else float("nan")


def on_damage(predictions: Sequence[Prediction], boxes: Sequence[list[Box]], size: int = 224) -> dict:
    """Over posts with drawn damage boxes (scored with reliance): the mean attention lift (NaN for a
    model that reads no words) and the mean probability fall from hiding a region, inside the boxes
    and outside them."""
    rows = []
    for prediction, post_boxes in zip(predictions, boxes):
        _, lift, _ = prediction.explanation.word_attention()
        importance = prediction.explanation.region_importance
        if importance is None or not post_boxes:
            continue
        cells = damage_cells(post_boxes, size)
        inside, outside = (lift[:, cells].mean(), lift[:, ~cells].mean()) if lift is not None else (np.nan, np.nan)
        rows.append((inside, outside, importance[cells].mean(), importance[~cells].mean()))
    keys = ("lift_inside", "lift_outside", "importance_inside", "importance_outside")
    means = np.mean(rows, axis=0) if rows else [float("nan")] * 4
    return {"posts": len(rows), **{k: float(v) for k, v in zip(keys, means)}}


def damage_cells(boxes: Sequence[Box], size: int = 224) -> np.ndarray:
    """(49,) bool: the 7x7 grid cells that overlap any of the boxes."""
    cell = size / REGION_GRID
    grid = np.zeros((REGION_GRID, REGION_GRID), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        columns = range(int(x0 // cell), min(int(np.ceil(x1 / cell)), REGION_GRID))
        rows = range(int(y0 // cell), min(int(np.ceil(y1 / cell)), REGION_GRID))
        for r in rows:
            for c in columns:
                grid[r, c] = True
    return grid.reshape(-1)


def _derangement(n: int, rng: random.Random) -> list[int]:
    """A donor for each post that is never the post itself."""
    shift = rng.randrange(1, n)
    order = list(range(n))
    rng.shuffle(order)
    donor = [0] * n
    for k, i in enumerate(order):
        donor[i] = order[(k + shift) % n]
    return donor


def _changed(before: Sequence[Prediction], after: Sequence[Prediction]) -> float:
    pairs = [(a.label, b.label) for a, b in zip(before, after) if a.label is not None]
    return float(np.mean([a != b for a, b in pairs])) if pairs else float("nan")


def _mean_reliance(predictions: Sequence[Prediction], side: str) -> float:
    values = [p.explanation.reliance[side] for p in predictions if p.explanation.reliance[side] is not None]
    return float(np.mean(values)) if values else float("nan")


def _gap(prediction: Prediction) -> float:
    reliance = prediction.explanation.reliance
    return (reliance["words"] or 0.0) - (reliance["photo"] or 0.0)
