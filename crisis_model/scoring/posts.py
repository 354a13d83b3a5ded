"""`predict_tasks` for a batch in which some posts may have nothing to analyse.

`crisis_model.predict` refuses a whole call when one post has neither words the model reads nor
a photo it can decode. A collection (or an uploaded file) holds such posts now and then; here they
are found first and get their reason, and the others are scored by every model in one call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from crisis_model.data.images import load_image
from crisis_model.data.table import NOTHING_TO_ANALYSE
from crisis_model.errors import ImageError
from crisis_model.inference import Prediction, predict_tasks
from crisis_model.model import CrisisModel
from crisis_model.model.modeling import clean_text

UNREADABLE = "nothing to analyse: empty text and an unreadable photo"


def predict_each(
    models: Mapping[str, CrisisModel],
    posts: Sequence[dict],
    batch_size: int = 32,
    autocast_dtype: torch.dtype | None = None,
    reliance: bool = False,
) -> dict[str, list[Prediction | str]]:
    """Per model (by name), per post (a dict with `text` and `image`, a path or None): its
    Prediction, or why it cannot be analysed. Every post is read once for all the models
    (`predict_tasks`). Only a post that needs its photo (no words a model reads) has it opened
    here first; the decoding done by `predict_tasks` makes every other unreadable photo a warning."""
    reasons = {name: [_why_not(model, post) for post in posts] for name, model in models.items()}
    usable = {name: [i for i, reason in enumerate(found) if reason is None] for name, found in reasons.items()}
    scored = predict_tasks(models, posts, batch_size, autocast_dtype, reliance, only=usable)
    out: dict[str, list[Prediction | str]] = {}
    for name in models:
        out[name] = list(reasons[name])  # type: ignore[arg-type]
        for i, prediction in zip(usable[name], scored[name]):
            out[name][i] = prediction
    return out


def _why_not(model: CrisisModel, post: dict) -> str | None:
    cfg = model.config
    # words: read, or for a model judging the photo alone (damage), no error: "cannot judge" without a photo
    if (cfg.uses_text or cfg.requires_image) and clean_text(post["text"] or ""):
        return None
    if not cfg.uses_image:
        return f"nothing to analyse: empty text for a {cfg.fusion!r} model, which reads no photo"
    if not post.get("image"):
        return NOTHING_TO_ANALYSE
    try:
        load_image(post["image"], min_size=cfg.image_size)
    except ImageError as err:
        return f"{UNREADABLE} ({err})"
    return None
