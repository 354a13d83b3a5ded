"""Rows 3 and 4 of the benchmark: training the fusion head with the feature cache.

Runs `crisis_model.training.train` (frozen backbones) on real CrisisMMD texts from
../shared/crisismmd (informative task, agreed labels; the folder holds no image, so every post is
text-only), on subsets of N train posts (+ N/5 dev posts), written as a posts CSV. In full mode,
once more with a photo per post (synthetic JPEGs, bench/models.py), as CrisisMMD's posts have.

For each N, a cold run (empty feature cache) and, for the first N, a warm run (the same cache):

  epoch, cache warm   the median seconds of the head's training pass over the train posts
                      (history.jsonl `train_seconds`: no dev evaluation, no checkpoint writing),
                      the features being in memory; the warm run's start loads them from disk
  epoch, cache off    what that epoch costs when the frozen backbones read every train post
                      again: the cold feature pass, scaled to the train posts (it also reads the
                      dev posts), + the head's pass. training.py never runs frozen backbones
                      twice; this is what an epoch would cost without the cache.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import random
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from bench.models import SHARED_CRISISMMD, make_photos
from crisis_model.data import load_crisismmd
from crisis_model.training import ProgressEvent, TrainConfig, train


@functools.cache
def _informative_posts() -> pd.DataFrame:
    """The shared folder's informative posts (agreed labels), read once for every posts CSV."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the images are missing: text-only posts, as documented
        return load_crisismmd(SHARED_CRISISMMD, "informative", "agreed")


def _posts_csv(folder: Path, n_train: int, photos: list[str] | None = None) -> Path:
    """A posts CSV of n_train train and _dev_size(n_train) dev posts; with `photos`, each post gets
    its own photo file (a hard link to one of `photos` under a name of its own: the feature
    cache keys images by path, so every post is a distinct image to it)."""
    frame = _informative_posts()
    rng = random.Random(0)
    path = folder / f"posts_{n_train}{'_photos' if photos else ''}.csv"
    images = folder / "images"
    images.mkdir(exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["post_id", "text", "label", "split", "image_path"])
        k = 0
        for split, count in (("train", n_train), ("dev", _dev_size(n_train))):
            rows = frame[frame["split"] == split]
            picks = rng.sample(range(len(rows)), min(count, len(rows)))
            for i in picks:
                row = rows.iloc[i]
                image = ""
                if photos:
                    link = images / f"{n_train}_{k}.jpg"
                    if not link.exists():
                        os.link(photos[k % len(photos)], link)
                    image = str(link.relative_to(folder))
                    k += 1
                writer.writerow([row["post_id"], row["text"], row["label"], split, image])
    return path


def _dev_size(n_train: int) -> int:
    return max(n_train // 5, 16)


def _run(cfg_kwargs: dict[str, Any]) -> dict[str, Any]:
    """One training run; the seconds of its feature stage and of each epoch."""
    marks: dict[str, float] = {}

    def progress(event: ProgressEvent) -> None:
        now = time.perf_counter()
        if event.stage == "features":
            marks.setdefault("features_start", now)
            marks["features_end"] = now
        elif event.stage == "model" and event.done == 1:
            marks.setdefault("features_start", now)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = train(TrainConfig(**cfg_kwargs), progress=progress)
    history = [json.loads(line) for line in (Path(out) / "history.jsonl").read_text().splitlines()]
    return {
        "features_s": marks.get("features_end", 0.0) - marks.get("features_start", 0.0),
        "epoch_s": [h["seconds"] for h in history],
        "train_s": [h["train_seconds"] for h in history],
    }


def training_rows(report, mode: dict, device: torch.device, goals: dict[str, float]) -> None:
    if not SHARED_CRISISMMD.is_dir():  # e.g. a clone away from ../shared: nothing real to train on
        report.not_measured(
            "3",
            "fusion-head epoch, feature cache warm vs off",
            f"no CrisisMMD folder at {SHARED_CRISISMMD} (set CRISISMMD_ROOT)",
            goal=f"≥ {goals['cache_speedup']:g}×",
        )
        return
    sizes, epochs = mode["train_posts"], mode["train_reps"]
    preset = mode.get("train_preset", "minilm")
    with tempfile.TemporaryDirectory(prefix="crisislens-bench-train-") as tmp:
        root = Path(tmp)
        runs = _cache_rows(report, root, sizes, epochs, preset, device, goals, photos=None)
        base_n = sizes[0]
        base = statistics.median(runs[base_n]["train_s"]) / base_n
        for n in sizes:
            per_post = statistics.median(runs[n]["train_s"]) / n
            last = n == sizes[-1] and len(sizes) > 1
            report.add(
                "4",
                f"{preset}: epoch (cache warm) at {n:,} train posts",
                per_post * n,
                "s",
                reference=f"{base_n:,} posts, per post",
                ratio=per_post / base,
                goal=f"≤ {goals['linear_growth']:g} (linear)" if last else "",
                met=(per_post / base <= goals["linear_growth"]) if last else None,
                note=f"{1000 * per_post:.2f} ms/post (epochs: "
                f"{', '.join(f'{1000 * t / n:.1f}' for t in runs[n]['train_s'])}); "
                f"cold feature pass {runs[n]['features_s']:.1f} s",
            )
        if mode.get("train_photos"):
            photos = make_photos(root / "photo_pool", 16)
            _cache_rows(report, root, [mode["train_photos"]], epochs, preset, device, goals, photos=photos)


def _cache_rows(
    report,
    root: Path,
    sizes: list[int],
    epochs: int,
    preset: str,
    device: torch.device,
    goals: dict[str, float],
    photos: list[str] | None,
) -> dict[int, dict[str, Any]]:
    """A cold run per size and a warm run of the first; the rows of item 3 for the first size."""
    goal = goals["cache_speedup"]
    what = "text + a photo each (synthetic JPEGs)" if photos else "text"
    cache = root / ("cache_photos" if photos else "cache")
    runs = {}
    for n in sizes:
        posts = _posts_csv(root, n, photos=photos)
        common = dict(
            posts=str(posts),
            preset=preset,
            epochs=epochs,
            workers=0,
            device=device.type,
            cache_dir=str(cache),
            batch_size=32,
        )
        started = time.perf_counter()
        cold = _run(dict(common, out=str(root / f"cold_{n}_{bool(photos)}")))
        print(
            f"  {preset}, {n} train posts ({what}), cold: features {cold['features_s']:.1f}s, epochs "
            f"{[round(s, 2) for s in cold['train_s']]}, run {time.perf_counter() - started:.0f}s",
            flush=True,
        )
        runs[n] = cold
        if n != sizes[0]:
            continue
        warm = _run(dict(common, out=str(root / f"warm_{n}_{bool(photos)}")))
        print(
            f"  {preset}, {n} train posts ({what}), warm: features {warm['features_s']:.1f}s, epochs "
            f"{[round(s, 2) for s in warm['train_s']]}",
            flush=True,
        )
        epoch_warm = statistics.median(warm["train_s"])
        epoch_off = cold["features_s"] * n / (n + _dev_size(n)) + epoch_warm
        report.add(
            "3",
            f"{preset}: epoch, cache warm ({n:,} train posts, {what})",
            epoch_warm,
            "s",
            note=f"median of {epochs} epochs",
            reps=warm["train_s"],
        )
        report.add(
            "3",
            f"{preset}: epoch, cache off ({n:,} train posts, {what})",
            epoch_off,
            "s",
            note="frozen backbones over every train post + the head's pass",
        )
        report.add(
            "3",
            f"{preset}: speed-up of the warm cache per epoch ({what})",
            epoch_off / epoch_warm,
            "×",
            reference="cache off",
            goal=f"≥ {goal:g}×",
            met=epoch_off / epoch_warm >= goal,
        )
        report.add(
            "3",
            f"{preset}: run start, features from the warm cache ({what})",
            warm["features_s"],
            "s",
            reference="cold feature pass",
            ratio=cold["features_s"] / max(warm["features_s"], 1e-9),
            note=f"cold pass {cold['features_s']:.1f} s",
        )
    return runs
