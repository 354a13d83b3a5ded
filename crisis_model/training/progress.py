"""What a training run reports as it goes, and the console's view of it.

`train` calls its `progress` callback with `ProgressEvent`s; the console shows them as tqdm bars
(`TqdmProgress`), the dashboard's first start as a progress bar with a line of text.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from crisis_model.corrections.report import report_lines
from crisis_model.run_folder import CORRECTIONS_FILE, METRICS_FILE

STAGES = ("data", "model", "features", "epoch", "epoch_end", "eval", "done")


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a run: `done` of `total` in `stage` (one of STAGES)."""

    stage: str
    done: int = 0
    total: int = 1
    epoch: int | None = None  # epoch, epoch_end: the epoch, from 1
    epochs: int | None = None
    split: str | None = None  # eval: the split being scored
    loss: float | None = None  # epoch: mean training loss so far
    posts_per_s: float | None = None
    lr: float | None = None
    scores: dict[str, Any] | None = None  # epoch_end: the history line (losses, dev scores, best)
    stats: dict[str, Any] | None = None  # features: per kind, cache hits and misses
    warnings: tuple[str, ...] = ()
    run: str | None = None  # one run of several (the demo's tasks, an ablation's variants) ...
    run_index: int = 0
    run_count: int = 1  # ... and how many there are

    @property
    def fraction(self) -> float:
        """How far the stage is, from 0 to 1."""
        return min(max(self.done / max(self.total, 1), 0.0), 1.0)


Progress = Callable[[ProgressEvent], None]


def tagged(progress: Progress | None, **tags: Any) -> Progress | None:
    """`progress` with the run's name and place among several runs set on every event."""
    return None if progress is None else (lambda event: progress(dataclasses.replace(event, **tags)))


class TqdmProgress:
    """Shows `train`'s progress as tqdm bars: one per stage and epoch, with the loss and
    throughput while training, and a line per completed epoch."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.key: tuple | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == "epoch_end":
            self.close()
            s = event.scores or {}
            tqdm.write(
                f"epoch {event.epoch}/{event.epochs}: loss {s['train_loss']:.4f}, dev macro-F1 "
                f"{s['dev_macro_f1']:.4f}, accuracy {s['dev_accuracy']:.4f}"
                + (" (best)" if s["best"] else "")
                + f", {s['seconds']:.1f} s"
            )
            return
        if event.stage == "features" and event.stats is not None:
            self.close()
            stats = ", ".join(f"{k}: {v['hits']} cached, {v['misses']} computed" for k, v in event.stats.items())
            tqdm.write(f"features: {stats or 'none needed'}")
            for warning in event.warnings[:5]:
                tqdm.write(f"warning: {warning}")
            return
        if event.stage not in ("features", "epoch", "eval"):
            return  # the other stages take a moment, no bar
        key = (event.run, event.stage, event.epoch, event.split)
        if key != self.key:
            self.close()
            label = {"epoch": f"epoch {event.epoch}/{event.epochs}", "eval": f"eval {event.split}"}.get(
                event.stage, event.stage
            )
            run = f"[{event.run}] " if event.run else ""
            self.bar = tqdm(
                total=event.total,
                desc=run + label,
                unit="post" if event.stage == "features" else "batch",
                leave=event.stage == "epoch",
                dynamic_ncols=True,
            )
            self.key = key
        if event.loss is not None:
            self.bar.set_postfix(loss=f"{event.loss:.4f}", posts_s=f"{event.posts_per_s:.0f}", refresh=False)
        self.bar.update(event.done - self.bar.n)  # redraws at most every mininterval
        if event.done >= event.total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.key = None, None


def print_summary(run: Path, file=None) -> None:
    """The scores of a finished run, one line per split; with corrections, what they changed.
    (`file` defaults to sys.stdout at call time, so a redirected stdout gets the lines.)"""
    file = file or sys.stdout
    metrics = json.loads((run / METRICS_FILE).read_text(encoding="utf-8"))
    for split, m in metrics.items():
        extra = f", positive-F1 {m['positive_f1']:.4f}" if m["positive_f1"] is not None else ""
        print(
            f"{run} {split}: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}, "
            f"weighted-F1 {m['weighted_f1']:.4f}{extra} ({m['posts']} posts)",
            file=file,
        )
    corrections = run / CORRECTIONS_FILE
    if corrections.is_file():
        for line in report_lines(json.loads(corrections.read_text(encoding="utf-8"))):
            print(line, file=file)
