#!/usr/bin/env python
"""CrisisLens benchmark: the pipeline against a naive loop and against the machine's own limit.

    python bench/run.py                 # full (20-35 min on 2 CPU cores, by their load)
    python bench/run.py --quick         # about 2.5 min on 2 quiet CPU cores
    python bench/run.py --smoke         # seconds: proves that every row runs (CI)
    python bench/run.py --device cuda   # the same on a GPU (bench/gpu_check.sh)

Prints one markdown table and writes the same figures as JSON (--json, default
artifacts/bench/<mode>-<device>.json). Every row is measured in the same run as its reference:
the cases of a group are timed in turn, repetition after repetition (the order rotated each
time), after a warm-up; a row reports the median of its repetitions. So a ratio holds on a
machine that other work shares, even when the absolute numbers move.

Rows:
  1. posts/s of `model.predict` (text + a 224-px image) for the paper-size and tiny models,
     batch 1/8/32, fp32 and bf16 autocast, against a naive loop over the same posts.
  2. FLOPs per post (torch.utils.flop_counter) x posts/s over the peak of a large matmul
     (same dtype, same run); bf16 speed-up; the share of labels bf16 leaves unchanged and the
     largest probability change, on a trained model (bench/bf16_rows.py).
  3. seconds per training epoch of the fusion head, feature cache warm vs. off.
  4. scoring time and peak memory for growing numbers of posts; epoch time vs. dataset size.
  5. the dashboard: `streamlit run` to the Overview in headless Chromium; analyse-a-post time.
  6. one reading for every task (bench/shared_reading.py): the scoring command's three tasks over
     one task on the demo run; a paper-size post analysed for three tasks, and where its time goes.

The paper-size model has random weights and a stand-in tokenizer: see bench/models.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.bf16_rows import bf16_rows, trained_run  # noqa: E402
from bench.dashboard_rows import dashboard_rows  # noqa: E402
from bench.models import crisis_texts, make_photos, make_posts, paper_size_model, tiny_model  # noqa: E402
from bench.shared_reading import shared_reading_rows  # noqa: E402
from bench.training_rows import training_rows  # noqa: E402
from crisis_model import predict  # noqa: E402
from crisis_model.data.images import image_to_tensor, load_image  # noqa: E402

OUT_DIR = ROOT / "artifacts" / "bench"

# Sizes per mode. quick and full measure the same rows; smoke only proves that each row runs.
MODES: dict[str, dict[str, Any]] = {
    "smoke": dict(  # one paper-size post: bf16 on a CPU without native bf16 takes ~14 s a post
        posts={"paper": 1, "tiny": 4},
        batch_sizes={"paper": [1], "tiny": [4]},
        reps=1,
        warmup=False,
        matmul=256,
        growth=[16],
        train_posts=[48],
        train_reps=1,
        train_preset="tiny",
        dashboard=False,
        photos=4,
        texts=2000,
        matmul_seconds=0.2,
        bf16_posts=8,
    ),
    "quick": dict(
        posts={"paper": 8, "tiny": 32},
        batch_sizes={"paper": [1, 8], "tiny": [1, 8, 32]},
        reps=3,
        matmul=2048,
        growth=[150, 600],
        train_posts=[250, 500],
        train_reps=2,
        dashboard=True,
        dashboard_reps=2,
        photos=32,
    ),
    "full": dict(
        posts={"paper": 32, "tiny": 128},
        batch_sizes={"paper": [1, 8, 32], "tiny": [1, 8, 32]},
        reps=5,
        matmul=2048,
        growth=[1000, 4000, 16000],
        train_posts=[1000, 2000, 4000],
        train_reps=3,
        train_photos=500,
        dashboard=True,
        dashboard_reps=3,
        photos=64,
    ),
}
"""Sizes per mode. quick and full measure the same rows (quick on fewer posts, the paper-size
model at batch 1 and 8 only); smoke only proves that each row runs. Memory is measured at the
largest growth size."""
CUDA_MATMUL = 8192
GOALS = {
    "batched_vs_naive": 5.0,  # x the naive loop
    "fp32_of_peak": 0.9,  # end-to-end FLOP/s over the fp32 matmul peak
    "bf16_speedup": 1.8,  # bf16 over fp32
    "bf16_agreement": 0.99,  # share of labels unchanged
    "cache_speedup": 20.0,  # warm feature cache over no cache, seconds per epoch
    "linear_growth": 1.25,  # time per post at the largest size over the smallest
    "analyse_post_s": 0.8,  # dashboard: one post analysed, paper-size model, CPU
    "three_tasks_over_one": 1.4,  # scoring the demo run's three tasks over its one, one reading shared
    "analysis_s": 0.8,  # one post, three paper-size tasks, explanations drawn, no browser
}


# --------------------------------------------------------------------------- timing


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved(
    cases: dict[str, Callable[[], Any]],
    reps: int,
    device: torch.device,
    warmups: dict[str, Callable[[], Any]] | None | bool = None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[dict[str, list[float]], dict[str, list]]:
    """Times each case `reps` times, in turn (rotating the order), after one warm-up call each
    (`warmups` names a lighter call per case; False: none).
    Returns the seconds and the result of every repetition of each case."""
    names = list(cases)
    for name in names if warmups is not False else []:
        (warmups or {}).get(name, cases[name])()
    times: dict[str, list[float]] = {name: [] for name in names}
    results: dict[str, list] = {name: [] for name in names}
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            sync(device)
            start = clock()
            results[name].append(cases[name]())
            sync(device)
            times[name].append(clock() - start)
        print(f"  rep {rep + 1}/{reps}: " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in names))
    return times, results


def median(values: list[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------- the pipelines


def naive_loop(model, posts: list[dict], device: torch.device) -> list[int]:
    """The reference: one post at a time, image decoded in full and text tokenised inline,
    fp32, under no_grad; the label index of each post."""
    labels = []
    with torch.no_grad():
        for post in posts:
            pixels = image_to_tensor(load_image(post["image"]), model.config.image_size)
            encoded = model.tokenize([post["text"]])
            out = model(
                has_image=torch.tensor([True], device=device),
                input_ids=encoded["input_ids"].to(device),
                attention_mask=encoded["attention_mask"].to(device),
                post_mask=encoded["post_mask"].to(device),
                pixel_values=pixels.unsqueeze(0).to(device),
            )
            labels.append(int(out.probabilities[0].argmax()))
    return labels


def predict_labels(
    model, posts: list[dict], batch_size: int, dtype: torch.dtype | None
) -> tuple[list[int], list[float]]:
    """The label index of each post, and every probability of every post (flat)."""
    names = model.config.label_names
    scored = predict(model, posts, batch_size=batch_size, autocast_dtype=dtype)
    return [names.index(p.label) for p in scored], [q for p in scored for q in p.probabilities.values()]


def matmul_case(n: int, dtype: torch.dtype, device: torch.device, seconds: float = 1.0) -> Callable[[], float]:
    """A case that returns the FLOP/s of n x n matmuls run back to back for about `seconds`
    (the count is fixed at the first call, the warm-up): sustained over a span like a model
    case's, so that both see the same share of the machine when other work shares it."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    iters = [0]

    def run() -> float:
        if not iters[0]:
            torch.mm(a, b)
            sync(device)
            start = time.perf_counter()
            torch.mm(a, b)
            sync(device)
            iters[0] = max(3, round(seconds / max(time.perf_counter() - start, 1e-6)))
        sync(device)
        start = time.perf_counter()
        for _ in range(iters[0]):
            torch.mm(a, b)
        sync(device)
        return iters[0] * 2 * n**3 / (time.perf_counter() - start)

    return run


def flops_per_post(model, posts: list[dict], device: torch.device) -> float:
    """Mean FLOPs of the model's forward per post, unpadded (batch 1), as FlopCounterMode counts
    them. The forward's count is exactly linear in the token count (matmuls and convolutions;
    FlopCounterMode has no formula for the CPU's fused attention, under 1% here), so two
    forwards, the shortest and the longest post, give every post's count."""
    from torch.utils.flop_counter import FlopCounterMode

    lengths = [int(model.tokenize([p["text"]])["attention_mask"].sum()) for p in posts]
    short, long = min(range(len(posts)), key=lengths.__getitem__), max(range(len(posts)), key=lengths.__getitem__)
    counts = {}
    with torch.inference_mode():
        for i in {short, long}:
            pixels = image_to_tensor(load_image(posts[i]["image"]), model.config.image_size)
            encoded = model.tokenize([posts[i]["text"]])
            with FlopCounterMode(display=False) as counter:
                model(
                    has_image=torch.tensor([True], device=device),
                    input_ids=encoded["input_ids"].to(device),
                    attention_mask=encoded["attention_mask"].to(device),
                    post_mask=encoded["post_mask"].to(device),
                    pixel_values=pixels.unsqueeze(0).to(device),
                )
            counts[lengths[i]] = counter.get_total_flops()
    if len(counts) == 1:
        return float(next(iter(counts.values())))
    (l0, f0), (l1, f1) = sorted(counts.items())
    per_token = (f1 - f0) / (l1 - l0)
    return statistics.fmean(f0 + per_token * (length - l0) for length in lengths)


# --------------------------------------------------------------------------- report


class Report:
    def __init__(self, mode: str, device: torch.device) -> None:
        self.rows: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {
            "mode": mode,
            "device": device_name(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "load_average_start": os.getloadavg(),
        }
        if device.type == "cuda":  # cuDNN convolutions may run in TF32 under "fp32" by default
            self.meta["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
            self.meta["matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32

    def add(
        self,
        item: str,
        measurement: str,
        value: float | None,
        unit: str,
        *,
        reference: str = "",
        ratio: float | None = None,
        goal: str = "",
        met: bool | None = None,
        note: str = "",
        **extra: Any,
    ) -> None:
        row = dict(
            item=item,
            measurement=measurement,
            value=value,
            unit=unit,
            reference=reference,
            ratio=ratio,
            goal=goal,
            met=met,
            note=note,
            **extra,
        )
        self.rows.append(row)
        print(
            f"  -> {measurement}: {_fmt(value)} {unit}"
            + (f" ({_fmt(ratio)}x {reference})" if ratio else "")
            + (f" [{note}]" if note else ""),
            flush=True,
        )

    def not_measured(self, item: str, measurement: str, reason: str, goal: str = "") -> None:
        self.add(item, measurement, None, "", goal=goal, note=f"not measured: {reason}")

    def markdown(self) -> str:
        m = self.meta
        lines = [
            f"CrisisLens benchmark, mode {m['mode']}, {m['device']}, {m['threads']} torch threads, "
            f"torch {m['torch']}, load average {m['load_average_start'][0]:.1f} at start and "
            f"{m.get('load_average_end', (float('nan'),))[0]:.1f} at the end, {m.get('seconds', 0):.0f} s",
            "",
            "| # | measurement | value | reference (same run) | ratio | goal | met |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in self.rows:
            value = "—" if r["value"] is None else f"{_fmt(r['value'])} {r['unit']}".strip()
            if r["note"]:
                r = {**r, "note": " ".join(str(r["note"]).split()).replace("|", "/")}
                value = f"{value} ({r['note']})" if r["value"] is not None else r["note"]
            met = {True: "yes", False: "**no**", None: ""}[r["met"]]
            ratio = "" if r["ratio"] is None else f"{_fmt(r['ratio'])}"
            lines.append(
                f"| {r['item']} | {r['measurement']} | {value} | {r['reference']} | {ratio} | {r['goal']} | {met} |"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "goals": GOALS, "rows": self.rows}


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if abs(x) >= 0.1 else f"{x:.3g}"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or "CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model} ({os.cpu_count()} CPUs)"


# --------------------------------------------------------------------------- 1 + 2: scoring


def bench_scoring(
    report: Report, mode: dict, device: torch.device, texts: list[str], photos: list[str], batch_sizes: list[int] | None
) -> None:
    bf16 = torch.bfloat16
    for preset in ("paper", "tiny"):
        n = mode["posts"][preset]
        sizes = batch_sizes or mode["batch_sizes"][preset]
        label = "paper-size (GPT-2 124M + ResNet50)" if preset == "paper" else "tiny"
        print(f"\n[1] scoring, {label}, {n} posts with text + image, {device.type}", flush=True)
        started = time.perf_counter()
        model = (paper_size_model(texts) if preset == "paper" else tiny_model(texts)).to(device)
        print(f"  built in {time.perf_counter() - started:.1f}s", flush=True)
        posts = make_posts(texts, photos, n)
        warm = posts[: max(sizes)]
        # every case is timed before the next preset replaces model, posts and warm
        cases: dict[str, Callable[[], Any]] = {"naive": lambda: naive_loop(model, posts, device)}  # noqa: B023
        warmups: dict[str, Callable[[], Any]] = {"naive": lambda: naive_loop(model, posts[:2], device)}  # noqa: B023
        for dtype in (None, bf16):
            for bs in sizes:
                name = f"b{bs} {'bf16' if dtype else 'fp32'}"
                cases[name] = lambda bs=bs, dtype=dtype: predict_labels(model, posts, bs, dtype)  # noqa: B023
                warmups[name] = lambda bs=bs, dtype=dtype: predict_labels(model, warm[:bs], bs, dtype)  # noqa: B023
        if preset == "paper":
            size = CUDA_MATMUL if device.type == "cuda" else mode["matmul"]
            span = mode.get("matmul_seconds", 1.0)
            cases["peak fp32"] = matmul_case(size, torch.float32, device, span)
            cases["peak bf16"] = matmul_case(size, bf16, device, span)
        times, results = interleaved(cases, mode["reps"], device, warmups if mode.get("warmup", True) else False)
        report.meta.setdefault("scoring_posts", {})[preset] = n
        rate = {name: n / median(t) for name, t in times.items() if not name.startswith("peak")}

        item = "1"
        report.add(
            item, f"{preset}: naive loop, fp32, one post at a time", rate["naive"], "posts/s", reps=times["naive"]
        )
        largest = max(sizes)
        for name in cases:
            if name in ("naive",) or name.startswith("peak"):
                continue
            ratio = rate[name] / rate["naive"]
            goal = f"≥ {GOALS['batched_vs_naive']:g}× naive" if name.startswith(f"b{largest} ") else ""
            report.add(
                item,
                f"{preset}: predict, batch {name.split()[0][1:]}, {name.split()[1]}",
                rate[name],
                "posts/s",
                reference="naive",
                ratio=ratio,
                goal=goal,
                met=(ratio >= GOALS["batched_vs_naive"]) if goal else None,
                reps=times[name],
            )

        fp32, bf = f"b{largest} fp32", f"b{largest} bf16"
        report.add(
            "2",
            f"{preset}: bf16 speed-up over fp32 (batch {largest})",
            rate[bf] / rate[fp32],
            "×",
            reference=f"b{largest} fp32",
            goal=f"≥ {GOALS['bf16_speedup']:g}×",
            met=rate[bf] / rate[fp32] >= GOALS["bf16_speedup"],
        )
        # random weights: one label for every post, so label agreement is measured on a trained model (bf16_rows)
        change = max(abs(a - b) for a, b in zip(results[fp32][-1][1], results[bf][-1][1]))
        report.add(
            "2",
            f"{preset}: largest probability change under bf16 ({n} posts, random weights)",
            change,
            "",
            reference=f"b{largest} fp32",
            note=f"labels given: {len(set(results[fp32][-1][0]))} distinct",
        )
        same = statistics.fmean(a == b for a, b in zip(results["naive"][-1], results[fp32][-1][0]))
        report.add(
            "2",
            f"{preset}: labels of predict fp32 = naive loop's ({n} posts)",
            100 * same,
            "%",
            reference="naive",
            note="reduced-scale JPEG decoding, batching",
        )

        if preset == "paper":
            flops = flops_per_post(model, posts, device)
            peaks = {dt: median(results[f"peak {dt}"]) for dt in ("fp32", "bf16")}
            report.add(
                "2",
                "paper: FLOPs per post (forward, text + image)",
                flops / 1e9,
                "GFLOP",
                note="FlopCounterMode; attention's fused kernel uncounted (<1%)",
            )
            for dt in ("fp32", "bf16"):
                report.add(
                    "2",
                    f"paper: peak matmul {dt} ({size}×{size})",
                    peaks[dt] / 1e9,
                    "GFLOP/s",
                    note="sustained for about 1 s, median over reps",
                )
            for name, dt in (("naive", "fp32"), (fp32, "fp32"), (bf, "bf16"), (bf, "fp32")):
                achieved = flops * rate[name]
                goal = f"≥ {GOALS['fp32_of_peak']:g}" if (name, dt) == (fp32, "fp32") else ""
                report.add(
                    "2",
                    f"paper: {name} end to end, share of the {dt} peak",
                    achieved / peaks[dt],
                    "",
                    reference=f"peak {dt}",
                    goal=goal,
                    met=(achieved / peaks[dt] >= GOALS["fp32_of_peak"]) if goal else None,
                    note=f"{achieved / 1e9:.1f} GFLOP/s",
                )
        model = None  # the cases' closures read this name: the model is freed before the next is built
        if device.type == "cuda":
            torch.cuda.empty_cache()


def bench_bf16(report: Report, mode: dict, device: torch.device, trained: Path | None) -> None:
    print("\n[2] bf16 on a trained model", flush=True)
    run = trained or trained_run(OUT_DIR / "trained-run")
    bf16_rows(report, device, run, GOALS["bf16_agreement"], posts=mode.get("bf16_posts"))


# --------------------------------------------------------------------------- 4: growth


def growth_child(
    n: int, device: str, photos_dir: str, photos: int, batch_size: int, texts_limit: int | None
) -> dict[str, Any]:
    """Run in a fresh process: score n posts with the tiny model; time and memory."""
    dev = torch.device(device)
    texts = crisis_texts(texts_limit)
    pool = make_photos(Path(photos_dir), photos)
    model = tiny_model(texts).to(dev)
    predict(model, make_posts(texts, pool, min(n, 2 * batch_size)), batch_size=batch_size)  # warm-up
    reset = _reset_peak_rss()  # the peak of building the model is not scoring's
    rss_before = _rss_mb("VmRSS")
    posts = make_posts(texts, pool, n)
    start = time.perf_counter()
    preds = predict(model, posts, batch_size=batch_size)
    sync(dev)
    seconds = time.perf_counter() - start
    assert len(preds) == n
    peak = _rss_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    explained = sum(
        a.nbytes
        for p in preds
        for a in (
            p.explanation.token_to_region,
            p.explanation.region_to_token,
            p.explanation.capsule_lengths,
            p.explanation.routing_coefficients,
        )
        if a is not None
    )
    return {
        "n": n,
        "seconds": seconds,
        "rss_before_mb": rss_before,
        "rss_peak_mb": peak,
        "peak_since_reset": reset,
        "explanation_mb": explained / 2**20,
    }


def _reset_peak_rss() -> bool:
    """Resets the kernel's peak-RSS mark (VmHWM) of this process (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_mb(field: str) -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_growth(report: Report, mode: dict, device: torch.device, photos_dir: Path) -> None:
    sizes = mode["growth"]
    batch_size = 32
    print(
        f"\n[4] growth: tiny model, predict batch {batch_size} fp32, {sizes} posts, one fresh process each", flush=True
    )
    runs = []
    for n in sizes:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--_growth-child",
            str(n),
            "--device",
            device.type,
            "--photos",
            str(mode["photos"]),
            "--photos-dir",
            str(photos_dir),
        ]
        cmd += ["--texts", str(mode["texts"])] if mode.get("texts") else []
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"growth child for {n} posts failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        runs.append(result)
        print(
            f"  {n} posts: {result['seconds']:.1f}s, {1000 * result['seconds'] / n:.1f} ms/post, "
            f"RSS {result['rss_before_mb']:.0f} -> peak {result['rss_peak_mb']:.0f} MB",
            flush=True,
        )
    base = runs[0]["seconds"] / runs[0]["n"]
    for r in runs:
        per_post = r["seconds"] / r["n"]
        last = r is runs[-1]
        report.add(
            "4",
            f"tiny: score {r['n']:,} posts",
            r["seconds"],
            "s",
            reference=f"{runs[0]['n']:,} posts, per post",
            ratio=per_post / base,
            goal=f"≤ {GOALS['linear_growth']:g} (linear)" if last and len(runs) > 1 else "",
            met=(per_post / base <= GOALS["linear_growth"]) if last and len(runs) > 1 else None,
            note=f"{1000 * per_post:.1f} ms/post",
            run=r,
        )
    big = runs[-1]
    added = big["rss_peak_mb"] - big["rss_before_mb"]
    image_mb = big["n"] * 3 * 224 * 224 * 4 / 2**20
    report.add(
        "4",
        f"tiny: peak RSS scoring {big['n']:,} posts",
        big["rss_peak_mb"],
        "MB",
        reference="all images as tensors",
        ratio=added / image_mb,
        note=f"+{added:.0f} MB over the loaded model ({1024 * added / big['n']:.0f} KB/post), of which "
        f"the predictions' attention and routing arrays {big['explanation_mb']:.0f} MB; all images "
        f"at once would be {image_mb:,.0f} MB",
    )


# --------------------------------------------------------------------------- 3: training


def bench_training(report: Report, mode: dict, device: torch.device) -> None:
    print("\n[3] training with the feature cache", flush=True)
    training_rows(report, mode, device, GOALS)


# --------------------------------------------------------------------------- 5: dashboard


def bench_dashboard(report: Report, mode: dict, device: torch.device, texts: list[str]) -> None:
    print("\n[5] dashboard", flush=True)
    if not mode["dashboard"]:
        report.not_measured("5", "dashboard start and analyse-a-post", "skipped in smoke mode")
        return
    dashboard_rows(report, mode, device, GOALS, texts)


# --------------------------------------------------------------------------- 6: one reading


def bench_shared(
    report: Report, mode: dict, device: torch.device, texts: list[str], photos: list[str], demo_run
) -> None:
    print("\n[6] one reading for every task", flush=True)
    shared_reading_rows(report, mode, device, GOALS, texts, photos[0], demo_run, interleaved)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="about 2 minutes on 2 CPU cores")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: proves every row runs")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--json", type=Path, help="where to write the figures (default artifacts/bench/)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["scoring", "bf16", "growth", "training", "dashboard", "shared"],
        help="measure only these groups",
    )
    parser.add_argument("--batch-sizes", nargs="*", type=int, help="override the batch sizes of row 1")
    parser.add_argument(
        "--posts",
        nargs=2,
        action="append",
        metavar=("PRESET", "N"),
        help="override the number of posts of row 1 for a preset (paper or tiny)",
    )
    parser.add_argument("--growth", nargs="*", type=int, help="override the sizes of row 4")
    parser.add_argument(
        "--trained-run",
        type=Path,
        help="a trained demo informative run for row 2's bf16 labels (default: trained once into artifacts/bench/)",
    )
    parser.add_argument(
        "--demo-run",
        type=Path,
        help="a trained three-task demo run for row 6's ratio (default: trained once into artifacts/bench/)",
    )
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--_growth-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--photos", type=int, default=48, help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--photos-dir", type=Path, default=OUT_DIR / "photos", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args._growth_child:
        print(
            json.dumps(growth_child(args._growth_child, args.device, str(args.photos_dir), args.photos, 32, args.texts))
        )
        return 0

    mode_name = "smoke" if args.smoke else "quick" if args.quick else "full"
    mode = {**MODES[mode_name], "posts": dict(MODES[mode_name]["posts"])}
    for preset, n in args.posts or []:
        mode["posts"][preset] = int(n)
    if args.growth:
        mode["growth"] = args.growth
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    batch_sizes = args.batch_sizes
    groups = args.only or ["scoring", "bf16", "growth", "training", "dashboard", "shared"]
    report = Report(mode_name, device)
    started = time.perf_counter()
    print(
        f"CrisisLens benchmark ({mode_name}) on {report.meta['device']}, {torch.get_num_threads()} threads", flush=True
    )
    texts = crisis_texts(mode.get("texts"))
    photos = make_photos(args.photos_dir, mode["photos"])
    steps = {
        "scoring": lambda: bench_scoring(report, mode, device, texts, photos, batch_sizes),
        "bf16": lambda: bench_bf16(report, mode, device, args.trained_run),
        "growth": lambda: bench_growth(report, mode, device, args.photos_dir),
        "training": lambda: bench_training(report, mode, device),
        "dashboard": lambda: bench_dashboard(report, mode, device, texts),
        "shared": lambda: bench_shared(report, mode, device, texts, photos, args.demo_run),
    }
    failed = []
    for group in groups:
        group_started = time.perf_counter()
        try:
            steps[group]()
        except Exception as err:  # a broken row is reported, the others still run
            traceback.print_exc()
            failed.append(group)
            report.not_measured("!", f"{group}", f"failed: {type(err).__name__}: {str(err)[:200]}")
        seconds = time.perf_counter() - group_started
        report.meta.setdefault("group_seconds", {})[group] = round(seconds, 1)
        print(f"  ({group}: {seconds:.0f} s)", flush=True)
    report.meta["seconds"] = time.perf_counter() - started
    report.meta["load_average_end"] = os.getloadavg()
    table = report.markdown()
    print("\n" + table)
    path = args.json or OUT_DIR / f"{mode_name}-{device.type}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**report.to_json(), "markdown": table}, indent=1, default=str) + "\n")
    print(f"\nfigures written to {path}")
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
