#!/usr/bin/env python
"""Scoring a whole collection (`python -m crisis_model.score`): memory and throughput.

    python bench/score_collection.py            # RSS at 10k vs 100k posts, throughput (about 25 min on 2 busy cores)
    python bench/score_collection.py --quick    # RSS at 2k vs 20k posts, fewer posts per case (about 8 min)
    python bench/score_collection.py --device cuda   # the same on a GPU (bench/gpu_check.sh)

Prints two markdown tables (and writes them with the figures as JSON, --json):

1. Memory. The command itself, a subprocess per size, scoring N text-only posts (the first
   SHORT_WORDS words of CrisisMMD's texts with a running number, a CSV: short posts keep the
   100k run within a quarter of an hour on 2 busy cores; memory per chunk, not per post, is the
   question) with the tiny preset saved as a checkpoint. Its resident memory
   is read from /proc/<pid>/status every 0.2 s: VmHWM (the kernel's peak) at the last read before
   it exits, and the median VmRSS over the second half of the run (the level it holds while
   scoring). Goal: the larger size within 10 % of the smaller.
2. Throughput, posts/s, each row in the same run as its references (cases interleaved, median of
   repetitions after a warm-up; bench/run.py's `interleaved`): the command's pipeline (read the CSV
   in chunks, score every chunk, write its Parquet part; in process, the model already loaded, as
   the command holds it after its start) in fp32 and under bf16 autocast; the dashboard's CSV path
   (`crisis_dashboard.csv_scoring`: the whole file read, then scored); the naive one-post loop
   (bench/run.py). Posts have text and a photo (bench/models.py); tiny and paper-size models
   (random weights: timings need the architecture).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.models import crisis_texts, make_photos, paper_size_model, tiny_model  # noqa: E402
from bench.run import OUT_DIR, device_name, interleaved, naive_loop  # noqa: E402
from crisis_dashboard.csv_scoring import read_batch_file, score_batch  # noqa: E402
from crisis_model.runtime import Distributed  # noqa: E402
from crisis_model.scoring import ScoreOptions  # noqa: E402
from crisis_model.scoring.chunks import Scorer  # noqa: E402
from crisis_model.scoring.collection import score_chunks  # noqa: E402
from crisis_model.scoring.folder import start_folder  # noqa: E402
from crisis_model.scoring.reader import CollectionFile  # noqa: E402

MODES = {
    "quick": {"memory": [2_000, 20_000], "posts": {"tiny": 64, "paper": 16}, "reps": 3},
    "full": {"memory": [10_000, 100_000], "posts": {"tiny": 256, "paper": 48}, "reps": 3},
    "smoke": {"memory": [50, 200], "posts": {"tiny": 8, "paper": 2}, "reps": 1},
}
MEMORY_GOAL = 0.10  # the larger collection's RSS at most this much above the smaller's
SHORT_WORDS = 6


def write_posts(path: Path, texts: list[str], n: int, photos: list[str] | None = None) -> Path:
    """A CSV of n posts (text + a running number; with a photo each when `photos` is given, by name)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["post_id", "text", "image_path"])
        for i in range(n):
            photo = Path(photos[i % len(photos)]).name if photos else ""
            writer.writerow([f"p{i}", f"{texts[i % len(texts)]} #{i}", photo])
    return path


# --------------------------------------------------------------------------- 1: memory


def watch_rss(command: list[str]) -> dict[str, Any]:
    """Runs `command`; its peak (VmHWM) and steady (median VmRSS, second half) resident memory in MB."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, float]] = []
    peak = 0.0
    while process.poll() is None:
        status = _status(process.pid)
        if status:
            samples.append((time.perf_counter() - started, status.get("VmRSS", 0.0)))
            peak = max(peak, status.get("VmHWM", 0.0))
        time.sleep(0.2)
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{err[-3000:]}")
    seconds = time.perf_counter() - started
    second_half = [rss for t, rss in samples if t >= seconds / 2] or [rss for _, rss in samples]
    return {"seconds": seconds, "peak_mb": peak, "steady_mb": statistics.median(second_half), "stdout": out.strip()}


def _status(pid: int) -> dict[str, float]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {line.split(":")[0]: int(line.split()[1]) / 1024 for line in lines if line.startswith(("VmRSS:", "VmHWM:"))}


def memory_rows(sizes: list[int], texts: list[str], work: Path, device: str) -> list[dict[str, Any]]:
    checkpoint = work / "tiny-checkpoint"
    tiny_model(texts).save_pretrained(checkpoint)
    rows = []
    short = [" ".join(text.split()[:SHORT_WORDS]) for text in texts]
    for n in sizes:
        posts = write_posts(work / f"posts-{n}.csv", short, n)
        out = work / f"scored-{n}"
        command = [sys.executable, "-m", "crisis_model.score", "--run", str(checkpoint), "--input", str(posts)]
        command += ["--out", str(out), "--no-progress", "--device", device]
        print(f"  scoring {n:,} text-only posts in a subprocess ...", flush=True)
        result = watch_rss(command)
        summary = json.loads((out / "summary.json").read_text())
        rows.append({"posts": n, **result, "posts_per_s": summary["posts_per_s"], "scored": summary["scored"]})
        print(f"    {result['seconds']:.0f} s, peak {result['peak_mb']:.0f} MB, steady {result['steady_mb']:.0f} MB")
        shutil.rmtree(out)
    return rows


def memory_table(rows: list[dict[str, Any]]) -> str:
    small, large = rows[0], rows[-1]
    lines = [
        f"| posts (text-only, {SHORT_WORDS} words, tiny) | peak RSS (VmHWM) | steady RSS (median, 2nd half) "
        "| seconds | posts/s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['posts']:,} | {r['peak_mb']:.0f} MB | {r['steady_mb']:.0f} MB | {r['seconds']:.0f} "
            f"| {r['posts_per_s']:.1f} |"
        )
    growth = large["peak_mb"] / small["peak_mb"] - 1
    steady = large["steady_mb"] / small["steady_mb"] - 1
    met = "met" if abs(growth) <= MEMORY_GOAL else "**missed**"
    lines.append(
        f"\nPeak RSS at {large['posts']:,} posts is {100 * growth:+.1f} % of that at {small['posts']:,} "
        f"(goal: within {100 * MEMORY_GOAL:.0f} %: {met}); steady {100 * steady:+.1f} %. "
        "posts/s: summary.json's, model loading included."
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- 2: throughput


def command_case(model, posts_csv: Path, photos_dir: Path, work: Path, dtype: torch.dtype | None):
    """The command's pipeline over posts_csv into a fresh folder each call: read, score, write."""
    scorer = Scorer({"task": model}, photos_dir.resolve(), batch_size=32, autocast_dtype=dtype)
    options = ScoreOptions(progress=False)

    def run() -> int:
        out = Path(tempfile.mkdtemp(dir=work))
        start_folder(out, {})
        score_chunks(CollectionFile.open(posts_csv), scorer, out, set(), Distributed(), options)
        shutil.rmtree(out)
        return 0

    return run


def throughput_rows(
    mode: dict, texts: list[str], photos: list[str], work: Path, device: torch.device, no_bf16: list[str]
) -> list[dict]:
    rows = []
    photos_dir = Path(photos[0]).parent
    for preset, n in mode["posts"].items():
        print(f"\n  throughput, {preset}, {n} posts with text + photo", flush=True)
        model = (paper_size_model(texts) if preset == "paper" else tiny_model(texts)).to(device)
        posts_csv = write_posts(work / f"throughput-{preset}.csv", texts, n, photos)
        data = posts_csv.read_bytes()
        posts = [{"text": f"{texts[i % len(texts)]} #{i}", "image": photos[i % len(photos)]} for i in range(n)]
        cases = {
            "command fp32": command_case(model, posts_csv, photos_dir, work, None),
            **(
                {}
                if preset in no_bf16
                else {"command bf16": command_case(model, posts_csv, photos_dir, work, torch.bfloat16)}
            ),
            "dashboard CSV": lambda: score_batch(read_batch_file(data, "posts.csv", photos_dir), {"task": model}),  # noqa: B023
            "naive loop": lambda: naive_loop(model, posts, device),  # noqa: B023
        }
        times, _ = interleaved(cases, mode["reps"], device)
        rate = {name: n / statistics.median(t) for name, t in times.items()}
        for name in cases:
            rows.append({"model": preset, "path": name, "posts_per_s": rate[name], "reps": times[name]})
            print(f"    {name}: {rate[name]:.2f} posts/s", flush=True)
        model = None
    return rows


def throughput_table(rows: list[dict]) -> str:
    lines = [
        "| model | path | posts/s | × naive loop | × dashboard CSV |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        same = {x["path"]: x["posts_per_s"] for x in rows if x["model"] == r["model"]}
        lines.append(
            f"| {r['model']} | {r['path']} | {r['posts_per_s']:.2f} | {r['posts_per_s'] / same['naive loop']:.2f} "
            f"| {r['posts_per_s'] / same['dashboard CSV']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="*", choices=["memory", "throughput"])
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--no-bf16",
        nargs="*",
        default=[],
        choices=list(MODES["full"]["posts"]),
        help="models whose bf16 case is left out (a CPU without native bf16 takes ~20 s a paper-size post)",
    )
    args = parser.parse_args(argv)
    name = "smoke" if args.smoke else "quick" if args.quick else "full"
    mode, device = MODES[name], torch.device(args.device)
    groups = args.only or ["memory", "throughput"]
    started = time.perf_counter()
    texts = crisis_texts()
    print(f"scoring a collection ({name}) on {device_name(device)}, {torch.get_num_threads()} threads", flush=True)
    figures: dict[str, Any] = {
        "mode": name,
        "device": device_name(device),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": torch.ops.mkldnn._is_mkldnn_bf16_supported(),
        "load_average_start": os.getloadavg(),
    }
    tables = []
    with tempfile.TemporaryDirectory(prefix="crisislens-bench-") as tmp:
        work = Path(tmp)
        if "memory" in groups:
            print("\n[memory] the command in a subprocess per size", flush=True)
            figures["memory"] = memory_rows(mode["memory"], texts, work, device.type)
            tables.append(memory_table(figures["memory"]))
        if "throughput" in groups:
            photos = make_photos(OUT_DIR / "photos", 32)
            figures["throughput"] = throughput_rows(mode, texts, photos, work, device, args.no_bf16)
            tables.append(throughput_table(figures["throughput"]))
    figures["seconds"] = time.perf_counter() - started
    report = "\n\n".join(tables)
    print(
        f"\n{name} mode, {figures['device']} ({figures['cpu_capability']}, native bf16: {figures['native_bf16']}), "
        f"load average {figures['load_average_start'][0]:.1f} at start, {figures['seconds']:.0f} s\n\n{report}"
    )
    path = args.json or OUT_DIR / f"score-collection-{name}-{device.type}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**figures, "markdown": report}, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
