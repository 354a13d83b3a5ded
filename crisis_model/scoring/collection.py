"""Scoring a whole collection: every task of a run over a posts file, chunk by chunk, into a folder
of Parquet parts (crisis_model.scoring.folder). What `python -m crisis_model.score` runs.

Resumable: a chunk whose part is in place is skipped, so a start after a kill does only what is
left and ends with the rows an uninterrupted start writes. Bounded memory: one chunk of posts and
its answers are held at a time. Several processes (torchrun, as train.py's DDP): the chunks left
to do are dealt out in turn, the j-th to rank j % world, so every process reads the file and
scores and writes only its own chunks; they end within a chunk of each other.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from crisis_model import load_model
from crisis_model.errors import ConfigError, CrisisLensError
from crisis_model.options import check_options, option
from crisis_model.run_folder import discover_run
from crisis_model.runtime import DEVICES, Distributed, processes
from crisis_model.scoring import folder
from crisis_model.scoring.chunks import MAX_IMAGE_MB, Scorer
from crisis_model.scoring.columns import column_prefix
from crisis_model.scoring.lock import FolderLock
from crisis_model.scoring.reader import CollectionFile

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class ScoreOptions:
    """How a collection is scored; each field is also an option of `python -m crisis_model.score`."""

    batch_size: int = option(32, "posts per forward pass", at_least=1)
    chunk_rows: int = option(
        1024, "posts per Parquet part: the unit of resuming and of sharing among processes", at_least=1
    )
    precision: str = option("auto", "auto = bf16 on a GPU, fp32 on a CPU", choices=PRECISIONS)
    device: str = option("auto", "auto = a CUDA GPU when PyTorch sees one", choices=DEVICES)
    max_image_mb: float = option(
        MAX_IMAGE_MB, "a larger photo file is not opened; its post is scored from the text", above=0
    )
    progress: bool = option(True, "no progress bar")


def score_collection(
    run: str | Path,
    input_file: str | Path,
    out: str | Path,
    images: str | Path | None = None,
    options: ScoreOptions | None = None,
) -> dict[str, Any]:
    """Scores `input_file` with every model of `run` into `out` and returns the summary (written to
    out/summary.json by process 0). A bad run, input file or --out raises CrisisLensError before
    anything is written."""
    options = options or ScoreOptions()
    check_options(options)
    started = time.perf_counter()
    out, source = Path(out), CollectionFile.open(input_file)
    runs = discover_run(run)
    images = Path(images).resolve() if images is not None else None
    with processes(options.device) as (dist, device):
        dtype = _autocast_dtype(options.precision, device)
        models = {name: load_model(task.checkpoint, device=device).eval() for name, task in runs.runs.items()}
        manifest = {
            "input": str(source.path.resolve()),
            "input_bytes": source.path.stat().st_size,
            "input_modified_ns": source.path.stat().st_mtime_ns,
            "run": str(runs.root.resolve()),
            "tasks": {
                column_prefix(name): {
                    "task": task.task,
                    "labels": list(models[name].config.label_names),
                    "checkpoint": str(task.checkpoint.resolve()),
                    "weights_modified": task.stamp,
                }
                for name, task in runs.runs.items()
            },
            "images": str(images) if images else None,
            "chunk_rows": options.chunk_rows,
            "precision": "bf16" if dtype else "fp32",
        }
        folder.check_folder(out, manifest)  # every process, before any writes
        dist.barrier()
        with _own_folder(out, manifest, dist) as lock:
            done = folder.finished_chunks(out)
            dist.barrier()  # every process has listed the finished parts before any writes a new one
            scorer = Scorer(models, images, options.batch_size, dtype, options.max_image_mb)
            score_chunks(source, scorer, out, done, dist, options)
            dist.barrier()
            summary = _summary(out, source, manifest, done, dist, time.perf_counter() - started, str(device))
            if lock is not None and lock.note:
                summary["notes"] = [*summary["notes"], lock.note]
            if dist.rank == 0:
                folder.write_summary(out, summary)
    return summary


@contextlib.contextmanager
def _own_folder(out: Path, manifest: dict, dist: Distributed) -> Iterator[FolderLock | None]:
    """Process 0 locks `out` for this job and starts it; every process learns whether the job may
    go on (a refused job's processes all stop with the same error, none waits for the others)."""
    lock, refusal = None, None
    if dist.rank == 0:
        try:
            lock = FolderLock.take(out)
            folder.check_folder(out, manifest)  # again: the folder cannot change under the lock
            folder.start_folder(out, manifest)
        except CrisisLensError as err:
            refusal = err
    refused = dist.share(None if refusal is None else str(refusal))
    try:
        if refusal is not None:
            raise refusal
        if refused is not None:
            raise ConfigError(refused)
        yield lock
    finally:
        if lock is not None:
            lock.release()


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def score_chunks(
    source: CollectionFile, scorer: Scorer, out: Path, done: set[int], dist: Distributed, options: ScoreOptions
) -> None:
    """This process's share of the chunks not yet done, with a progress bar on process 0; their
    parts written to `out` (made by `folder.start_folder`)."""
    estimate = max(source.estimated_rows() - len(done) * options.chunk_rows, 0)
    bar = tqdm(
        total=-(-estimate // dist.world),
        unit=" posts",
        desc="scoring" if dist.world == 1 else f"scoring (process 1 of {dist.world})",
        disable=not options.progress or dist.rank != 0,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    errors = pending = 0
    try:
        for chunk in source.chunks(options.chunk_rows):
            if chunk.index in done:
                continue
            mine, pending = pending % dist.world == dist.rank, pending + 1
            if not mine:
                continue
            started = time.perf_counter()
            result = scorer.score(chunk)
            folder.write_chunk(out, chunk.index, result, time.perf_counter() - started)
            errors += result.stats["errors"]
            bar.set_postfix(errors=errors, refresh=False)
            bar.update(len(chunk.rows))
        bar.total = bar.n  # the estimate was a line count
    finally:
        bar.close()


def _summary(
    out: Path,
    source: CollectionFile,
    manifest: dict,
    resumed: set[int],
    dist: Distributed,
    seconds: float,
    device: str,
) -> dict[str, Any]:
    chunks = folder.finished_chunks(out)
    counts = folder.totals(out, chunks)
    earlier = folder.totals(out, resumed)["rows"] if resumed else 0
    return {
        "scored": counts["scored"],
        "text_only": counts["text_only"],
        "errors": counts["errors"],
        "seconds": round(seconds, 2),
        "rows": counts["rows"],
        "with_warnings": counts["warned"],
        "posts_per_s": round((counts["rows"] - earlier) / seconds, 2) if seconds > 0 else None,
        "error_kinds": counts["error_kinds"],
        "warning_kinds": counts["warning_kinds"],
        "not_judged": counts["not_judged"],  # per task: posts its model could not judge (no photo for damage)
        "notes": source.notes,
        "chunks": len(chunks),
        "chunks_done_before_this_start": len(resumed),
        "processes": dist.world,
        "device": device,
        "precision": manifest["precision"],
        "input": manifest["input"],
        "run": manifest["run"],
        "tasks": list(manifest["tasks"]),
    }
