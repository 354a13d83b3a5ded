"""Real-data benchmark: train.py on CrisisMMD's texts, several seeds, mean ± std.

    python bench/crisismmd_text.py                                   # offline preset, text and full, seeds 0 1 2
    python bench/crisismmd_text.py --preset minilm --fusions text --set finetune_layers=2   # MiniLM, top 2 tuned
    python bench/crisismmd_text.py --fusions text --set task=humanitarian
    python bench/crisismmd_text.py --preset minilm --fusions text --seeds 0
    python bench/crisismmd_text.py --fusions text --set dropout=0.1 --set epochs=20   # a controlled run
    python bench/crisismmd_text.py --table        # every row run so far (seeds run apart joined by command)

The informative task unless --set task=humanitarian, agreed labels. The folder in ../shared
holds the texts but no image, so every post takes the model's no-image path: `full` is the full
fusion reading text only, `text` the text-only variant. Each row is one train.py configuration
(its command is in the row) run with each seed; it reports dev accuracy, weighted F1 and macro F1
at the last epoch (nothing chosen on dev) and at the epoch train.py keeps in checkpoint/ (the best
dev macro F1: chosen on dev, so optimistic), the minutes an epoch takes, and the minutes the first
run spent on features (computing or reading them from the cache). Pointed at a folder that holds
the test split, `rows.jsonl` also holds each seed's test scores of the kept epoch. The frozen
readers' outputs are cached (.crisislens/features): only the first run of a reader spends minutes
on them. The linear probes and baselines on the same posts: bench/crisismmd_probe.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from crisis_model.errors import CrisisLensError  # noqa: E402
from crisis_model.run_folder import HISTORY_FILE, METRICS_FILE  # noqa: E402
from crisis_model.training import DEFAULT_CACHE_DIR, TrainConfig, train  # noqa: E402
from crisis_model.training.config import command_line  # noqa: E402
from crisis_model.training.progress import ProgressEvent  # noqa: E402

METRICS = ("accuracy", "weighted_f1", "macro_f1")


def _value(text: str) -> Any:
    """A --set value as the TrainConfig field wants it."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def run_seeds(base: TrainConfig, seeds: list[int]) -> dict[str, Any]:
    """Trains `base` once per seed; the per-seed scores, epoch times and feature time."""
    per_seed = []
    for seed in seeds:
        cfg = dataclasses.replace(base, seed=seed, out=f"{base.out}-seed{seed}")
        timings: dict[str, float] = {}

        def progress(event: ProgressEvent, timings: dict[str, float] = timings) -> None:
            if event.stage == "features" and "start" not in timings:
                timings["start"] = time.perf_counter()
            if event.stage == "features" and event.stats is not None:
                timings["features"] = time.perf_counter() - timings["start"]

        run = train(cfg, progress=progress)
        history = [json.loads(line) for line in (run / HISTORY_FILE).read_text().splitlines()]
        best = json.loads((run / METRICS_FILE).read_text())["dev"]
        last = history[-1]
        test = json.loads((run / METRICS_FILE).read_text()).get("test")
        per_seed.append(
            {
                "seed": seed,
                "test": {m: test[m] for m in METRICS} if test else None,
                "last": {m: last[f"dev_{m}"] for m in METRICS},
                "best": {m: best[m] for m in METRICS},
                "best_epoch": [h["epoch"] for h in history if h["best"]][-1],
                "epoch_seconds": statistics.median(h["train_seconds"] for h in history),
                "feature_seconds": timings.get("features"),
            }
        )
        print(f"  seed {seed}: last {per_seed[-1]['last']}, best {per_seed[-1]['best']}", flush=True)
    return {"command": command_line(dataclasses.replace(base, out="RUN")), "seeds": per_seed}


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {std:.3f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    header = (
        "| train.py command | seeds | last epoch: acc / wF1 / mF1 | dev-chosen epoch: acc / wF1 / mF1 "
        "| min/epoch | one-off: features, first seed (computed, or read from the cache) |"
    )
    lines = [header, "|---|---|---|---|---|---|"]
    for row in rows:
        seeds = row["seeds"]

        def scores(which: str, seeds: list[dict[str, Any]] = seeds) -> str:
            return " / ".join(_mean_std([s[which][m] for s in seeds]) for m in METRICS)

        first = seeds[0]["feature_seconds"]
        lines.append(
            f"| `{row['command']}` | {len(seeds)} | {scores('last')} | {scores('best')} "
            f"| {statistics.median(s['epoch_seconds'] for s in seeds) / 60:.1f} "
            f"| {f'{first / 60:.1f} min' if first is not None else '-'} |"
        )
    return "\n".join(lines) + "\n"


def merged_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of rows.jsonl, those of one command (seeds run at different times) made one; a seed
    run again counts once, with its latest scores."""
    by_command: dict[str, dict[int, dict[str, Any]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_command.setdefault(row["command"], {}).update({s["seed"]: s for s in row["seeds"]})
    return [{"command": c, "seeds": [s[k] for k in sorted(s)]} for c, s in by_command.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/crisismmd", help="a CrisisMMD v2.0 folder")
    parser.add_argument("--out", default="runs/bench-crisismmd", help="where the runs go (default %(default)s)")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR, help="feature cache (default %(default)s)")
    parser.add_argument("--preset", default="offline")
    parser.add_argument("--fusions", nargs="+", default=["text", "full"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a TrainConfig field")
    parser.add_argument(
        "--table", action="store_true", help="train nothing: the table of every run in --out's rows.jsonl, by command"
    )
    args = parser.parse_args(argv)
    if args.table:
        print(markdown(merged_rows(Path(args.out) / "rows.jsonl")))
        return 0
    overrides = {key: _value(value) for key, value in (item.split("=", 1) for item in args.set)}
    tag = "-".join(f"{k}{v}" for k, v in overrides.items())
    rows = []
    try:
        for fusion in args.fusions:
            base = TrainConfig(
                out=str(Path(args.out) / "-".join(filter(None, [args.preset, fusion, tag]))),
                data_root=args.data_root,
                preset=args.preset,
                fusion=fusion,
                cache_dir=args.cache_dir,
                overwrite=True,
                **overrides,
            )
            print(f"{args.preset} {fusion} {overrides}", flush=True)
            rows.append(run_seeds(base, args.seeds))
    except CrisisLensError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = markdown(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "rows.jsonl").open("a", encoding="utf-8") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    print(f"\nCrisisMMD {overrides.get('task', 'informative')}, agreed labels, dev split, text only\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
