"""Train the CrisisLens fusion model: the command line of crisis_model.training (argparse only)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from crisis_model.config import PROMPTS
from crisis_model.errors import CrisisLensError
from crisis_model.options import add_options
from crisis_model.run_folder import ABLATION_MD, TRAIN_CONFIG_FILE
from crisis_model.training import (
    ABLATIONS,
    DEMO_DATA_DIR,
    DEMO_TASKS,
    TqdmProgress,
    TrainConfig,
    load_train_config,
    print_summary,
    run_ablation,
    train,
    train_demo,
)

FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}

DESCRIPTION = """\
Train the multimodal crisis-post classifier (a language model reads the text, a CNN the photo:
ResNet50 in the paper's preset, EfficientNet-Lite0 in the offline ones; a fusion head with
contextual attention and dynamic routing decides) and leave in --out everything the dashboard
shows: the best checkpoint by dev macro-F1, metrics.json, predictions.parquet, history.jsonl,
train_config.json and command.txt.

With frozen readers (the default) the readers read each post once; their outputs are cached
on disk (--cache-dir), and every epoch then trains only the fusion head, which takes seconds on
a CPU. With --finetune-layers K (the offline preset: 2) the text reader's top K layers learn too,
on the cached output of the layers below them: minutes an epoch on a CPU.
"""

EPILOG = """\
examples:
  # the dashboard's demo models (synthetic data, demo preset: MiniLM words, a small CNN)
  python train.py --demo --out runs/demo

  # CrisisMMD v2.0, informative task, pairs whose text and image labels agree (MPNet's top 2 layers tuned)
  python train.py --data-root data/CrisisMMD_v2.0 --task informative --labels agreed \\
      --preset offline --out runs/informative

  # your own posts: CSV or JSONL with text, label and optionally image_path and split
  python train.py --posts my_posts.csv --task humanitarian --preset tiny --out runs/mine

  # continue an interrupted run (Ctrl-C or a kill keeps the last completed epoch)
  python train.py --out runs/informative --resume

  # the paper's ablation table, three seeds: runs/abl/ablation.md
  python train.py --data-root data/CrisisMMD_v2.0 --ablation fusion --seeds 0 1 2 --out runs/abl

  # several GPUs (or CPU processes, gloo): the same script under torchrun
  torchrun --nproc_per_node=4 train.py --data-root data/CrisisMMD_v2.0 --out runs/ddp

presets: paper = GPT-2 + ImageNet ResNet50 (needs the Hugging Face hub or a local copy; prompt
task); offline = all-mpnet-base-v2 with its top 2 layers fine-tuned + EfficientNet-Lite0, both
pretrained and shipped by Python packages (prompt none; the best measured on CrisisMMD's texts);
minilm = all-MiniLM-L6-v2, frozen, + EfficientNet-Lite0 (offline, prompt none); smollm2 =
SmolLM2-135M's first 9 layers, frozen, + EfficientNet-Lite0 (offline, prompt none); tiny = a
2-layer GPT-2 with a tokenizer trained on your texts + a small ResNet, random and small (demo,
tests; prompt task). On CrisisMMD the pretrained readers read the bare post best
(bench/crisismmd_probe.py, bench/crisismmd_text.py).
prompts:
""" + "\n".join(f"  {name} = {template!r}" for name, template in PROMPTS.items())


GROUPS = {  # TrainConfig's option groups, in the order --help lists them
    "data": "data",
    "model": "model",
    "optimisation": "optimisation (defaults: the paper's)",
    "run": "run",
}


def build_parser(suppress_defaults: bool = False) -> argparse.ArgumentParser:
    """TrainConfig's fields as options (crisis_model.options), and the few that are not a run's:
    --demo, --no-cache, --ablation and --seeds. With `suppress_defaults`, options not given are
    absent from the result (to tell what was typed from what was defaulted, for --resume and --demo)."""
    parser = argparse.ArgumentParser(
        prog="train.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = {name: parser.add_argument_group(title) for name, title in GROUPS.items()}
    add_options(parser, TrainConfig, suppress_defaults=suppress_defaults, groups=groups)
    unset, off = (argparse.SUPPRESS, argparse.SUPPRESS) if suppress_defaults else (None, False)
    groups["data"].add_argument(
        "--demo",
        action="store_true",
        default=off,
        help=f"generate the synthetic demo dataset (into --data-root, default {DEMO_DATA_DIR}) and "
        "train the dashboard's demo models, one per task, into --out (default runs/demo)",
    )
    groups["run"].add_argument(
        "--no-cache", action="store_true", default=off, help="keep the readers' features in memory only"
    )
    compare = parser.add_argument_group("comparisons")
    compare.add_argument(
        "--ablation",
        nargs="?",
        const="fusion",
        choices=list(ABLATIONS),
        default=unset,
        help="train every fusion variant of the paper's table (or every prompt: none, task, "
        "summarize) into --out/<variant>-seed<S>/ and write --out/ablation.md and .json",
    )
    compare.add_argument(
        "--seeds", type=int, nargs="+", default=unset, help="seeds of an ablation; scores are reported as mean ± std"
    )
    return parser


def config_from_args(args: argparse.Namespace, given: dict[str, Any]) -> TrainConfig:
    """A TrainConfig from the options; with --resume, the run's saved options, where not given."""
    values = {name: value for name, value in vars(args).items() if name in FIELDS}
    typed = {name: value for name, value in given.items() if name in FIELDS}
    saved = Path(args.out) / TRAIN_CONFIG_FILE
    if args.resume and saved.exists():
        values = {**dataclasses.asdict(load_train_config(saved)), **typed, "resume": True}
    if args.no_cache:
        values["cache_dir"] = None
    return TrainConfig(**values)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    given = vars(build_parser(suppress_defaults=True).parse_args(argv))
    if not args.demo and args.out is None:
        parser.error("--out is required (the run folder to create, e.g. runs/NAME)")
    rank0 = int(os.environ.get("RANK", "0")) == 0
    out = Path(args.out or "runs/demo")
    progress = TqdmProgress()
    try:
        if args.demo:
            kept = {k: v for k, v in given.items() if k in FIELDS and k not in ("out", "data_root", "resume")}
            if args.no_cache:
                kept["cache_dir"] = None
            train_demo(out, progress, data_dir=args.data_root, **kept)
            for task in DEMO_TASKS:
                print_summary(out / task)
            return 0
        cfg = config_from_args(args, given)
        if args.ablation:
            run_ablation(cfg, args.ablation, args.seeds, progress=progress)
            if rank0:
                print((out / ABLATION_MD).read_text(encoding="utf-8"))
            return 0
        launcher = ["python"]
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            launcher = ["torchrun", f"--nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', '?')}"]
        run = train(cfg, progress, command=shlex.join([*launcher, "train.py", *argv]))
        if rank0:
            print_summary(run)
        return 0
    except CrisisLensError as err:
        progress.close()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        progress.close()
        print(
            f"\ninterrupted: {out} keeps its last completed epoch; continue with "
            f"python train.py --out {shlex.quote(str(out))} --resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
