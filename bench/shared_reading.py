"""Row 6 of the benchmark: one reading of a post for every task (crisis_model.reading).

  ratio     the scoring command (`score_collection`, seconds from its summary.json) on the demo
            run's dev + test posts with a photo: its three tasks over its informative task alone,
            timed in turn in one run (goal <= 1.4x: with a shared reading only the heads are paid
            again); and the same for the three tasks each read on its own (`predict` per model,
            what scoring did before), as the reference
  analyse   one post with a photo, paper-size (GPT-2 124M + ResNet50, random weights), its three
            tasks with their explanations (reliance passes included), as the Analyse page asks
            for them: seconds, and where they go (decode, tokenise, readers, heads, reliance,
            the figures drawn)

The paper-size tasks' readers are copies with equal weights, not one module: the sharing is found
by the weights' digest.
"""

from __future__ import annotations

import copy
import csv
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.models import paper_size_model
from crisis_model import CrisisModel, load_model
from crisis_model.config import CrisisConfig
from crisis_model.data.crisismmd import TASKS
from crisis_model.data.images import load_image
from crisis_model.inference import predict, predict_tasks
from crisis_model.scoring import ScoreOptions, score_collection

OUT_DIR = Path(__file__).resolve().parents[1] / "artifacts" / "bench"
STAGES = ("decode", "tokenise", "text reader", "image reader", "heads", "reliance", "explanations", "figures")


def paper_size_tasks(texts: list[str]) -> dict[str, CrisisModel]:
    """The paper architecture for the three CrisisMMD tasks: readers with equal weights (copies),
    a head of its own for each task."""
    base = paper_size_model(texts)
    models = {}
    for seed, (name, task) in enumerate(TASKS.items()):
        labels = {"task": name, "label_names": list(task.label_names), "requires_image": task.text_column is None}
        config = CrisisConfig(**{**base.config.to_dict(), **labels})
        torch.manual_seed(seed)
        models[name] = CrisisModel(
            config, copy.deepcopy(base.text_encoder), copy.deepcopy(base.image_encoder), base.tokenizer
        ).eval()
    return models


def analysis_seconds(models: dict[str, CrisisModel], post: dict[str, Any]) -> dict[str, float]:
    """Seconds per stage of one post's analysis by every task, the figures the Analyse page draws
    for each answer included (crisis_dashboard.post_figures, as widgets.show_explanation calls them)."""
    from crisis_dashboard import post_figures

    timings: dict[str, float] = {}
    started = time.perf_counter()
    answers = predict_tasks(models, [post], reliance=True, timings=timings)
    drawing = time.perf_counter()
    photo = load_image(post["image"])
    for (prediction,) in answers.values():
        exp = prediction.explanation
        post_figures.probabilities_bar(prediction.probabilities)
        post_figures.modality_bar(exp.modality_weights)
        if exp.region_importance is not None:
            post_figures.importance_overlay(photo, exp.region_importance)
    timings["figures"] = time.perf_counter() - drawing
    timings["total"] = time.perf_counter() - started
    return timings


def stage_table(runs: list[dict[str, float]]) -> str:
    """Median seconds per stage over the runs, as a markdown table with each stage's share."""
    median = {stage: sorted(run.get(stage, 0.0) for run in runs)[len(runs) // 2] for stage in (*STAGES, "total")}
    lines = ["| stage | seconds | share |", "| --- | ---: | ---: |"]
    for stage in STAGES:
        lines.append(f"| {stage} | {median[stage]:.3f} | {median[stage] / median['total']:.0%} |")
    lines.append(f"| **total** (median of {len(runs)}) | {median['total']:.3f} | |")
    return "\n".join(lines)


def demo_posts_file(run: Path, folder: Path) -> tuple[Path, Path]:
    """The demo run's dev + test posts with a photo (its predictions.parquet) as a CSV to score,
    and the folder their photos lie in."""
    import pandas as pd

    frame = pd.read_parquet(run / "informative" / "predictions.parquet")
    frame = frame[frame["image_path"] != ""]
    path = folder / "posts.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["post_id", "text", "image_path"])
        writer.writerows(zip(frame["post_id"], frame["text"], frame["image_path"]))
    return path, Path(os.path.commonpath(frame["image_path"].tolist()))


def scoring_cases(run: Path, device: str) -> tuple[dict[str, Callable[[], float]], int]:
    """The cases of the ratio row, each returning its seconds: the scoring command with the run's
    three tasks and with its informative task alone (summary.json's seconds), and the three tasks
    read each on its own (`predict` per model) against their shared reading (`predict_tasks`)."""
    work = Path(tempfile.mkdtemp(prefix="crisislens-shared-"))
    posts_csv, images = demo_posts_file(run, work)
    with posts_csv.open(encoding="utf-8") as handle:
        posts = [{"text": row["text"], "image": row["image_path"]} for row in csv.DictReader(handle)]
    counter = iter(range(1 << 30))

    def command(run_folder: Path) -> Callable[[], float]:
        def score() -> float:
            out = work / f"out-{next(counter)}"
            options = ScoreOptions(device=device, progress=False)
            return float(score_collection(run_folder, posts_csv, out, images, options)["seconds"])

        return score

    models = {task: load_model(run / task / "checkpoint", device=device) for task in TASKS}

    def timed(action: Callable[[], Any]) -> Callable[[], float]:
        def run_it() -> float:
            started = time.perf_counter()
            action()
            return time.perf_counter() - started

        return run_it

    cases = {
        "command: three tasks": command(run),
        "command: informative alone": command(run / "informative"),
        "predict per task": timed(lambda: [predict(m, posts) for m in models.values()]),
        "predict_tasks": timed(lambda: predict_tasks(models, posts)),
    }
    return cases, len(posts)


def shared_reading_rows(
    report: Any,
    mode: dict,
    device: torch.device,
    goals: dict[str, float],
    texts: list[str],
    photo: str,
    demo_run: Path | None,
    interleaved: Callable[..., tuple[dict[str, list[float]], dict[str, list]]],
) -> None:
    """Row 6: the scoring ratio on the demo run (trained into artifacts/bench/ when not given, but
    in smoke mode) and the paper-size analysis with where its time goes."""
    if demo_run is None and mode["reps"] > 1:
        from crisis_model.training.demo import train_demo

        print("  training the demo run (three tasks) for the ratio...", flush=True)
        demo_run = train_demo(OUT_DIR / "demo-run" / "runs", data_dir=OUT_DIR / "demo-run" / "data")
    if demo_run is None:
        report.not_measured("6", "scoring: three tasks over one task", "smoke mode without --demo-run")
    else:
        cases, n = scoring_cases(demo_run, device.type)
        _, seconds = interleaved(cases, mode["reps"], device)
        each = {name: sorted(values)[len(values) // 2] for name, values in seconds.items()}
        ratio = each["command: three tasks"] / each["command: informative alone"]
        goal = goals["three_tasks_over_one"]
        report.add(
            "6",
            f"scoring command, demo run's three tasks over its informative task ({n} posts with a photo)",
            ratio,
            "×",
            reference="informative alone",
            goal=f"≤ {goal:g}×",
            met=ratio <= goal,
            note=f"{each['command: three tasks']:.2f} s vs {each['command: informative alone']:.2f} s, summary.json",
        )
        report.add(
            "6",
            "predict_tasks (one reading) over predict per task, the demo's three tasks",
            each["predict_tasks"] / each["predict per task"],
            "×",
            reference="predict per task",
            note=f"{each['predict_tasks']:.2f} s vs {each['predict per task']:.2f} s",
        )
    models = {name: model.to(device) for name, model in paper_size_tasks(texts).items()}
    post = {"text": texts[0], "image": photo}
    analysis_seconds(models, post)  # warm-up: the readers' digests, the prompt's reading, the allocator
    runs = [analysis_seconds(models, post) for _ in range(max(3, mode["reps"]))]
    total = sorted(run["total"] for run in runs)[len(runs) // 2]
    goal = goals["analysis_s"]
    report.add(
        "6",
        f"paper-size analysis of a post with a photo, three tasks, explanations drawn (median of {len(runs)})",
        total,
        "s",
        goal=f"≤ {goal:g} s",
        met=total <= goal,
        note="library + figures, no browser: row 5 has the page",
    )
    for stage in STAGES:
        spent = sorted(run.get(stage, 0.0) for run in runs)[len(runs) // 2]
        report.add("6", f"  analysis stage: {stage}", spent, "s", note=f"{spent / total:.0%} of the total")
    print(stage_table(runs), flush=True)


def three_task_throughput(
    device: torch.device, texts: list[str], photos: list[str], posts: int, batch_size: int, dtype: torch.dtype | None
) -> dict[str, float]:
    """Posts/s of the three paper-size tasks on `device`, each post read once (`predict_tasks`) and
    read by each task on its own (`predict` per model), in turn, after a warm-up: what
    bench/gpu_check.sh reports."""
    models = {name: model.to(device) for name, model in paper_size_tasks(texts).items()}
    batch = [{"text": texts[i % len(texts)], "image": photos[i % len(photos)]} for i in range(posts)]

    def shared() -> None:
        predict_tasks(models, batch, batch_size, dtype)

    def each() -> None:
        for model in models.values():
            predict(model, batch, batch_size, dtype)

    rates = {}
    for name, action in (("shared reading", shared), ("each task reads", each)):
        action()  # warm-up: kernels chosen, digests taken
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        action()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates[name] = posts / (time.perf_counter() - started)
    return rates


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.shared_reading --device cuda` (from the repository's root): the three
    paper-size tasks' posts/s, one reading shared vs each task reading alone, bf16, as JSON."""
    import argparse
    import json

    from bench.models import crisis_texts, make_photos

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--posts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--photos-dir", type=Path, default=OUT_DIR / "photos")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.precision == "bf16" else None
    rates = three_task_throughput(
        device, crisis_texts(), make_photos(args.photos_dir, 64), args.posts, args.batch_size, dtype
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    figures = {
        "device": name,
        "precision": args.precision,
        "posts": args.posts,
        "batch_size": args.batch_size,
        "posts_per_s": {k: round(v, 2) for k, v in rates.items()},
        "speed_up": round(rates["shared reading"] / rates["each task reads"], 3),
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
