"""Linear probes on frozen features: which reader, layer and pooling describe a CrisisMMD post best.

    python bench/crisismmd_probe.py                        # informative, agreed labels, dev split
    python bench/crisismmd_probe.py --task humanitarian
    python bench/crisismmd_probe.py --sweep 2000           # every SmolLM2 layer and pooling, 2,000 train tweets
    python bench/crisismmd_probe.py --split test           # a folder that holds the test split

Every row is a logistic regression (standardised features) trained on the train tweets (one row
per tweet; train posts whose normalised text is also a dev post's dropped), its C chosen on a
fifth of the train tweets held out for tuning (grouped by normalised text), then refitted on all
train tweets and scored once on dev (or `--split test`): it chooses nothing. Beside the readers:
the majority class and TF-IDF (1-2-grams, sublinear tf, links removed).

SmolLM2-135M reads each post behind the `task` prompt; every layer's token states (after the
model's final RMSNorm, which is what a model cut after that layer gives) are pooled three ways:
`post` (mean over the post's own tokens, the prompt's excluded), `all` (mean over every token)
and `last` (the last token, after the prompt's question). MiniLM reads the bare post, mean-pooled
(as the `minilm` preset reads it, with `--prompt none`). The features are computed once and kept
in `<cache-dir>/probe/`: the first run reads ~9,900 texts through SmolLM2 (minutes; the time is
printed), later runs take seconds per row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from crisis_model import CrisisModel, preset_config  # noqa: E402
from crisis_model.config import PROMPTS  # noqa: E402
from crisis_model.data import MissingImagesWarning, get_task, load_crisismmd  # noqa: E402
from crisis_model.data.normalise import leaked_train_posts, text_groups  # noqa: E402
from crisis_model.metrics import classification_metrics  # noqa: E402
from crisis_model.training import DEFAULT_CACHE_DIR, TrainConfig  # noqa: E402
from crisis_model.training.config import model_config  # noqa: E402
from crisis_model.training.features import FeatureStore, compute_features  # noqa: E402
from crisis_model.training.loop import learning_rate_share  # noqa: E402

C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
TFIDF_C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)
READERS = {  # name -> (preset, prompt, poolings)
    "smollm2": ("smollm2", "none", ("all", "last")),
    "minilm": ("minilm", "none", ("all",)),
}
CHUNK = 256  # texts per cache file: an interrupted extraction resumes where it stopped
LINK = re.compile(r"https?://\S+")


def load_posts(data_root: str, task: str, split: str = "dev") -> pd.DataFrame:
    """The task's agreed-label posts: train (one row per tweet, leaked texts dropped) and `split`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingImagesWarning)  # no image in ../shared, by design
        frame = load_crisismmd(data_root, task, "agreed")
    frame = frame[~leaked_train_posts(frame)]
    train = frame[frame["split"] == "train"].drop_duplicates("tweet_id")  # a tweet's pairs share its text
    return pd.concat([train, frame[frame["split"] == split]], ignore_index=True)


# --------------------------------------------------------------------------- features


@torch.inference_mode()
def _pool_chunk(model: CrisisModel, texts: list[str], poolings: tuple[str, ...]) -> dict[str, np.ndarray]:
    """(texts, layers + 1, D) float16 per pooling, from every layer of the text reader."""
    backbone = model.text_encoder.backbone
    encoded = model.tokenize(texts)
    out = backbone(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], output_hidden_states=True)
    layers = list(out.hidden_states)
    norm = getattr(backbone, "norm", None)  # Llama: what a model cut after layer k returns is norm(h_k)
    if norm is not None:
        layers = [norm(h) for h in layers[:-1]] + [layers[-1]]  # the last one is normalised already
    states = torch.stack(layers, dim=1)  # (B, layers + 1, L, D)
    mask, post = encoded["attention_mask"].bool(), encoded["post_mask"]
    pooled = {}
    for pooling in poolings:
        if pooling == "last":
            last = mask.sum(1) - 1
            pooled[pooling] = states[torch.arange(len(texts)), :, last]
        else:
            weights = (post if pooling == "post" else mask)[:, None, :, None].to(states.dtype)
            pooled[pooling] = (states * weights).sum(2) / weights.sum(2).clamp(min=1.0)
    return {k: v.to(torch.float16).numpy() for k, v in pooled.items()}


def reader_features(reader: str, texts: list[str], cache_dir: Path, batch_size: int = 16) -> dict[str, np.ndarray]:
    """The pooled features of every text for every layer of `reader`, computed once (in chunks,
    saved as they are done) and read back from `cache_dir` afterwards."""
    preset, prompt, poolings = READERS[reader]
    key = hashlib.blake2b(json.dumps([reader, prompt, poolings, texts]).encode(), digest_size=8).hexdigest()
    folder = cache_dir / "probe" / f"{reader}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    model = None
    chunks = []
    started, computed = time.perf_counter(), 0
    for start in range(0, len(texts), CHUNK):
        path = folder / f"{start:06d}.npz"
        if not path.exists():
            if model is None:
                config = preset_config(preset, fusion="text", text_layers=None, prompt=PROMPTS[prompt])
                model = CrisisModel.from_config(config).eval()
            part = texts[start : start + CHUNK]
            order = np.argsort([len(t) for t in part])  # similar lengths share a batch: less padding
            pooled = [
                _pool_chunk(model, [part[i] for i in order[b : b + batch_size]], poolings)
                for b in range(0, len(part), batch_size)
            ]
            merged = {k: np.concatenate([p[k] for p in pooled])[np.argsort(order)] for k in poolings}
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **merged)
            tmp.replace(path)
            computed += len(part)
            rate = computed / (time.perf_counter() - started)
            print(f"  {reader}: {start + len(part):,}/{len(texts):,} texts, {rate:.1f} texts/s", flush=True)
        with np.load(path) as data:
            chunks.append({k: data[k] for k in poolings})
    if computed:
        print(f"{reader}: {computed:,} texts read in {time.perf_counter() - started:.0f} s", flush=True)
    return {k: np.concatenate([c[k] for c in chunks]) for k in poolings}


# --------------------------------------------------------------------------- probes


def cached_pooled(preset: str, frame: pd.DataFrame, cache_dir: str) -> np.ndarray:
    """The pooled vector of each post as train.py's `--preset PRESET` hands it to the fusion head,
    through the same feature cache (a later train.py run reads them from there)."""
    # the whole reader frozen (a preset that fine-tunes its top layers reads the same vector before training)
    config = model_config(
        TrainConfig(out="unused", data_root="unused", preset=preset, fusion="text", finetune_layers=0)
    )
    model = CrisisModel.from_config(config, seed=0).eval()
    started = time.perf_counter()
    features = compute_features(model, frame["text"].tolist(), [""] * len(frame), FeatureStore(cache_dir))
    stats = features.stats["text"]
    print(
        f"{preset}: {stats.misses:,} texts read, {stats.hits:,} from the cache, {time.perf_counter() - started:.0f} s"
    )
    return features.pooled[features.text_index[: len(frame)]].float().numpy()  # the last row: the post without words


def tuned_probe(
    make: Callable[[float], Any], grid: tuple[float, ...], x_train: Any, y_train: np.ndarray, groups: pd.Series
) -> tuple[Any, float, float]:
    """`make(C)` fitted on all of train, its C the one with the best macro F1 on a fifth of the train
    posts held out for tuning (grouped by normalised text); and that macro F1."""
    fit_rows, tune_rows = next(
        GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=0).split(x_train, groups=groups)
    )

    def tuning_score(c: float) -> float:
        model = make(c).fit(x_train[fit_rows], y_train[fit_rows])
        return f1_score(y_train[tune_rows], model.predict(x_train[tune_rows]), average="macro")

    scores = {c: tuning_score(c) for c in grid}
    best = max(scores, key=scores.get)
    return make(best).fit(x_train, y_train), best, scores[best]


def logistic(c: float) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))


def _without_links(text: str) -> str:
    return LINK.sub(" ", text).lower()


def tfidf(c: float) -> Any:
    # t.co links are random strings: noise to TF-IDF
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, preprocessor=_without_links)
    return make_pipeline(words, LogisticRegression(C=c, class_weight="balanced", max_iter=3000))


def score(model: Any, x_dev: Any, y_dev: np.ndarray, label_names: list[str]) -> dict[str, float]:
    proba = np.zeros((len(y_dev), len(label_names)))
    proba[:, model.classes_] = model.predict_proba(x_dev)
    metrics = classification_metrics(y_dev, proba, label_names)
    return {m: metrics[m] for m in ("accuracy", "weighted_f1", "macro_f1")}


def probe_rows(
    frame: pd.DataFrame, label_names: list[str], features: dict[str, np.ndarray], head_like: bool = False
) -> list[dict[str, Any]]:
    """Majority, TF-IDF, and a tuned logistic regression on each named feature matrix (rows of
    `frame`); with `head_like`, also one linear layer on each trained as the fusion head is."""
    index = {name: i for i, name in enumerate(label_names)}
    y = frame["label"].map(index).to_numpy()
    train = (frame["split"] == "train").to_numpy()
    dev = ~train  # the one split scored: dev, or test where the folder has it
    groups = text_groups(frame[train])
    majority = np.bincount(y[train], minlength=len(label_names)).argmax()
    rows = [{"features": "majority class", "C": None, **score_constant(majority, y[dev], label_names)}]
    texts = frame["text"].to_numpy()
    model, c, tuning = tuned_probe(tfidf, TFIDF_C_GRID, texts[train], y[train], groups)
    rows.append(
        {"features": "TF-IDF 1-2-grams", "C": c, "tuning": tuning, **score(model, texts[dev], y[dev], label_names)}
    )
    for name, x in features.items():
        model, c, tuning = tuned_probe(logistic, C_GRID, x[train], y[train], groups)
        rows.append({"features": name, "C": c, "tuning": tuning, **score(model, x[dev], y[dev], label_names)})
        print(f"  {rows[-1]}", flush=True)
        if not head_like:
            continue
        for dropout, standardise in ((0.5, False), (0.0, False), (0.0, True)):
            proba = head_like_linear(x[train], y[train], x[dev], len(label_names), dropout, standardise)
            metrics = classification_metrics(y[dev], proba, label_names)
            rows.append(
                {
                    "features": f"{name}: one linear layer trained as the head is (dropout {dropout}"
                    + (", standardised)" if standardise else ")"),
                    "C": None,
                    **{m: metrics[m] for m in ("accuracy", "weighted_f1", "macro_f1")},
                }
            )
    return rows


def head_like_linear(
    x_train: np.ndarray, y_train: np.ndarray, x_dev: np.ndarray, classes: int, dropout: float, standardise: bool
) -> np.ndarray:
    """Dev probabilities of one linear layer on the pooled vector, trained as train.py trains the
    fusion head (AdamW at its default rate and schedule, batch 32, 10 epochs, cross-entropy, seed 0):
    what the head's optimisation alone gives, without its capsules, squash and GRU."""
    cfg = TrainConfig(out="unused", data_root="unused")
    if standardise:
        scaler = StandardScaler().fit(x_train)
        x_train, x_dev = scaler.transform(x_train), scaler.transform(x_dev)
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(x_train.shape[1], classes))
    optimizer = torch.optim.AdamW(layer.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    x, y = torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train)
    steps_per_epoch = -(-len(x) // cfg.batch_size)
    step = 0
    for _ in range(cfg.total_epochs):
        for batch in torch.randperm(len(x)).split(cfg.batch_size):
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * learning_rate_share(cfg, step, cfg.total_epochs * steps_per_epoch)
            loss = F.cross_entropy(layer(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
    layer.eval()
    with torch.no_grad():
        return layer(torch.tensor(x_dev, dtype=torch.float32)).softmax(-1).numpy()


def score_constant(label: int, y_dev: np.ndarray, label_names: list[str]) -> dict[str, float]:
    metrics = classification_metrics(y_dev, np.eye(len(label_names))[[label] * len(y_dev)], label_names)
    return {m: metrics[m] for m in ("accuracy", "weighted_f1", "macro_f1")}


def markdown(rows: list[dict[str, Any]], command: str, posts: str, split: str) -> str:
    lines = [
        f"`{command}` ({posts})",
        "",
        f"| features | C | train-held-out macro F1 (chooses C) | {split} accuracy | {split} weighted F1 "
        f"| {split} macro F1 |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        c = "-" if row["C"] is None else f"{row['C']:g}"
        tuning = "-" if row.get("tuning") is None else f"{row['tuning']:.3f}"
        lines.append(
            f"| {row['features']} | {c} | {tuning} | {row['accuracy']:.3f} | {row['weighted_f1']:.3f} "
            f"| {row['macro_f1']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/crisismmd", help="a CrisisMMD v2.0 folder")
    parser.add_argument("--task", default="informative", choices=("informative", "humanitarian"))
    parser.add_argument("--split", default="dev", choices=("dev", "test"), help="the split scored (%(default)s)")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR, help="where features are kept (%(default)s)")
    parser.add_argument(
        "--sweep",
        type=int,
        metavar="N",
        help="instead: every SmolLM2 layer and pooling, on N train tweets (a sample) and the dev posts",
    )
    parser.add_argument("--layers", type=int, nargs="+", default=list(range(0, 31, 3)), help="sweep: layers to probe")
    parser.add_argument("--poolings", nargs="+", default=list(READERS["smollm2"][2]), help="sweep: poolings to probe")
    parser.add_argument(
        "--presets", nargs="+", default=["minilm", "offline", "smollm2"], help="readers of the full rows"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (%(default)s: robust on a busy machine)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = "python bench/crisismmd_probe.py " + " ".join(argv if argv is not None else sys.argv[1:])
    frame = load_posts(args.data_root, args.task, args.split)
    if args.sweep:
        train = frame[frame["split"] == "train"].sample(n=args.sweep, random_state=0)
        frame = pd.concat([train, frame[frame["split"] == args.split]], ignore_index=True)
        texts = sorted(set(frame["text"]))
        pooled = reader_features("smollm2", texts, Path(args.cache_dir))
        row_of = {t: i for i, t in enumerate(texts)}
        rows = frame["text"].map(row_of).to_numpy()
        features = {
            f"SmolLM2 layer {layer}, {pooling} pooling": pooled[pooling][rows, layer].astype(np.float32)
            for pooling in args.poolings
            for layer in args.layers
        }
    else:
        features = {f"`{p}` preset's pooled vector": cached_pooled(p, frame, args.cache_dir) for p in args.presets}
    label_names = list(get_task(args.task).label_names)
    counts = frame["split"].value_counts().to_dict()
    posts = (
        f"{args.task}, agreed labels: {counts.get('train', 0):,} train tweets, "
        f"{counts.get(args.split, 0):,} {args.split} posts"
    )
    table = markdown(probe_rows(frame, label_names, features, head_like=not args.sweep), command, posts, args.split)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
