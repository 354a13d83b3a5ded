"""Train the CrisisLens fusion model: the command line of crisis_model.training (argparse only)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crisis_model.config import BACKBONE_MODES, FUSIONS, PHOTO_POOLINGS, PRESETS, PROMPTS
from crisis_model.data import LABEL_SOURCES, TASKS
from crisis_model.errors import CrisisLensError
from crisis_model.run_folder import ABLATION_MD, TRAIN_CONFIG_FILE
from crisis_model.training import (
    ABLATIONS,
    DEMO_DATA_DIR,
    DEMO_TASKS,
    DEVICES,
    TqdmProgress,
    TrainConfig,
    load_train_config,
    print_summary,
    run_ablation,
    train,
    train_demo,
)

DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}

DESCRIPTION = """\
Train the multimodal crisis-post classifier (a language model reads the text, a ResNet the
image, a fusion head with contextual attention and dynamic routing decides) and leave in --out
everything the dashboard shows: the best checkpoint by dev macro-F1, metrics.json,
predictions.parquet, history.jsonl, train_config.json and command.txt.

With frozen backbones (the default) the backbones read each post once; their outputs are
cached on disk (--cache-dir), and every epoch then trains only the fusion head, which takes
seconds on a CPU.
"""

EPILOG = """\
examples:
  # the dashboard's demo models (synthetic data, demo preset: MiniLM words, a small CNN)
  python train.py --demo --out runs/demo

  # CrisisMMD v2.0, informative task, pairs whose text and image labels agree
  python train.py --data-root data/CrisisMMD_v2.0 --task informative --labels agreed \\
      --preset minilm --fusion full --out runs/informative

  # your own posts: CSV or JSONL with text, label and optionally image_path and split
  python train.py --posts my_posts.csv --task humanitarian --preset tiny --out runs/mine

  # continue an interrupted run (Ctrl-C or a kill keeps the last completed epoch)
  python train.py --out runs/informative --resume

  # the paper's ablation table, three seeds: runs/abl/ablation.md
  python train.py --data-root data/CrisisMMD_v2.0 --ablation fusion --seeds 0 1 2 --out runs/abl

  # several GPUs (or CPU processes, gloo): the same script under torchrun
  torchrun --nproc_per_node=4 train.py --data-root data/CrisisMMD_v2.0 --out runs/ddp

presets: paper = GPT-2 + ImageNet ResNet50 (needs the Hugging Face hub or a local copy; prompt
task); offline = SmolLM2-135M + EfficientNet-Lite0, both pretrained and shipped by Python packages
(prompt none); minilm = all-MiniLM-L6-v2 + EfficientNet-Lite0 (offline, prompt none); tiny = a
2-layer GPT-2 with a tokenizer trained on your texts + a small ResNet, random and small (demo,
tests; prompt task). On CrisisMMD the pretrained readers read the bare post best
(bench/crisismmd_probe.py, bench/crisismmd_text.py).
prompts:
""" + "\n".join(f"  {name} = {template!r}" for name, template in PROMPTS.items())


def build_parser(suppress_defaults: bool = False) -> argparse.ArgumentParser:
    """The parser; with `suppress_defaults`, options not given are absent from the result (to
    tell what was typed from what was defaulted, for --resume and --demo)."""

    def default(name: str, fallback: Any = None) -> Any:
        return argparse.SUPPRESS if suppress_defaults else DEFAULTS.get(name, fallback)

    parser = argparse.ArgumentParser(
        prog="train.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(parser, default)
    _add_model_options(parser, default)
    _add_optimisation_options(parser, default)
    _add_run_options(parser, default)
    _add_comparison_options(parser, default)
    return parser


def _add_data_options(parser: argparse.ArgumentParser, default: Callable[..., Any]) -> None:
    """Where the posts come from and which labels."""
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data-root",
        metavar="DIR",
        default=default("data_root"),
        help="a CrisisMMD v2.0 folder (crisismmd_datasplit_all/, annotations/, data_image/)",
    )
    data.add_argument(
        "--posts",
        metavar="FILE",
        default=default("posts"),
        help="your own labelled posts instead: .csv or .jsonl with columns text, label and "
        "optionally image_path, split (train/dev/test), post_id, event",
    )
    data.add_argument(
        "--task", choices=list(TASKS), default=default("task"), help="what to predict (default %(default)s)"
    )
    data.add_argument(
        "--labels",
        choices=LABEL_SOURCES,
        default=default("labels"),
        help="which CrisisMMD annotation: of the text, of the image, or the pairs where both "
        "agree (default %(default)s; damage has image labels only)",
    )
    data.add_argument(
        "--corrections",
        metavar="DB",
        default=default("corrections"),
        help="a corrections database written by the dashboard's Review page: its labels win over the "
        "dataset's; corrected dev/test posts are scored apart (corrections.json in --out)",
    )
    data.add_argument(
        "--dedupe",
        action="store_true",
        default=default("dedupe"),
        help="drop train posts that repeat another's text, image and label",
    )
    data.add_argument(
        "--dev-fraction",
        type=float,
        default=default("dev_fraction"),
        help="share of a posts file held out as dev when it has no dev split (default %(default)s)",
    )
    data.add_argument(
        "--demo",
        action="store_true",
        default=default("demo", False),
        help=f"generate the synthetic demo dataset (into --data-root, default {DEMO_DATA_DIR}) and "
        f"train the dashboard's demo models, one per task, into --out (default runs/demo)",
    )


def _add_model_options(parser: argparse.ArgumentParser, default: Callable[..., Any]) -> None:
    """The model: backbones, fusion variant, prompt."""
    model = parser.add_argument_group("model")
    model.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=default("preset"),
        help="backbones and sizes (default %(default)s; see below)",
    )
    model.add_argument(
        "--fusion",
        choices=FUSIONS,
        default=default("fusion"),
        help="full = attention + modality gate + dynamic routing; attention = without routing; "
        "concat = no attention; text / image = one modality (default %(default)s)",
    )
    model.add_argument(
        "--prompt",
        default=default("prompt"),
        help=f"what the language model reads: a name ({', '.join(PROMPTS)}) or a template "
        "with {text} (default: the preset's, see below)",
    )
    model.add_argument(
        "--backbone-mode",
        choices=BACKBONE_MODES,
        default=default("backbone_mode"),
        help="frozen backbones (cached features, fast), LoRA adapters on the language model "
        "(peft), or full fine-tuning (default %(default)s)",
    )
    model.add_argument("--lora-rank", type=int, default=default("lora_rank"), help="(default %(default)s)")
    model.add_argument(
        "--text-backbone",
        metavar="NAME_OR_DIR",
        default=default("text_backbone"),
        help="replace the preset's language model (a Hugging Face name or local folder)",
    )
    model.add_argument(
        "--hidden-size", type=int, default=default("hidden_size"), help="replace the preset's fusion width"
    )
    model.add_argument(
        "--photo-pooling",
        choices=PHOTO_POOLINGS,
        default=default("photo_pooling"),
        help="the photo's summary over its 7x7 regions (default: max for damage, judged from the photo; else mean)",
    )


def _add_optimisation_options(parser: argparse.ArgumentParser, default: Callable[..., Any]) -> None:
    """The optimiser's settings (defaults: the paper's)."""
    opt = parser.add_argument_group("optimisation (defaults: the paper's)")
    opt.add_argument("--epochs", type=int, default=default("epochs"), help="(default %(default)s)")
    opt.add_argument(
        "--batch-size", type=int, default=default("batch_size"), help="posts per step and process (default %(default)s)"
    )
    opt.add_argument(
        "--lr",
        type=float,
        default=default("lr"),
        help="peak learning rate of AdamW; warm-up then cosine decay (default %(default)s)",
    )
    opt.add_argument("--dropout", type=float, default=default("dropout"), help="(default %(default)s)")
    opt.add_argument("--weight-decay", type=float, default=default("weight_decay"), help="(default %(default)s)")
    opt.add_argument(
        "--warmup",
        type=float,
        default=default("warmup"),
        help="share of the steps with a rising learning rate (default %(default)s)",
    )
    opt.add_argument(
        "--grad-clip",
        type=float,
        default=default("grad_clip"),
        help="gradient norm limit, 0 for none (default %(default)s)",
    )
    opt.add_argument(
        "--class-weights",
        action="store_true",
        default=default("class_weights"),
        help="weigh the loss by inverse class frequency",
    )
    opt.add_argument(
        "--vote-weight",
        type=float,
        default=default("vote_weight"),
        help="weight of each evidence group's vote (words, photo, both) trained on its own, which keeps "
        "every modality informative; 0 turns it off (default %(default)s)",
    )
    opt.add_argument(
        "--gate-entropy-weight",
        type=float,
        default=default("gate_entropy_weight"),
        help="bonus for a gate that does not put all its weight on one vote; 0 turns it off (default %(default)s)",
    )
    opt.add_argument(
        "--modality-dropout",
        type=float,
        default=default("modality_dropout"),
        help="chance that a training post's photo is hidden for a step (default %(default)s)",
    )
    opt.add_argument("--seed", type=int, default=default("seed"), help="(default %(default)s)")


def _add_run_options(parser: argparse.ArgumentParser, default: Callable[..., Any]) -> None:
    """How and where the run executes: its folder, resume, devices, cache."""
    run = parser.add_argument_group("run")
    run.add_argument(
        "--out",
        metavar="DIR",
        default=default("out"),
        help="the run folder to create, e.g. runs/NAME (required unless --demo)",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        default=default("resume"),
        help="continue the run in --out from its last completed epoch (its options are "
        "kept; --epochs may raise the total)",
    )
    run.add_argument("--overwrite", action="store_true", default=default("overwrite"), help="replace the run in --out")
    run.add_argument(
        "--workers",
        type=int,
        default=default("workers"),
        help="DataLoader processes decoding images (default %(default)s)",
    )
    run.add_argument(
        "--threads",
        type=int,
        default=default("threads"),
        help="CPU threads of the training loop (default: 1 with frozen backbones, which holds "
        "up best on a shared machine; more is faster on a dedicated one)",
    )
    run.add_argument(
        "--device",
        choices=DEVICES,
        default=default("device"),
        help="auto = CUDA (bf16 autocast) when a GPU is present (default %(default)s)",
    )
    run.add_argument(
        "--cache-dir",
        metavar="DIR",
        default=default("cache_dir"),
        help="where backbone features are kept between runs (default %(default)s)",
    )
    run.add_argument(
        "--no-cache", action="store_true", default=default("no_cache", False), help="keep features in memory only"
    )


def _add_comparison_options(parser: argparse.ArgumentParser, default: Callable[..., Any]) -> None:
    """Comparisons: an ablation over variants and seeds."""
    compare = parser.add_argument_group("comparisons")
    compare.add_argument(
        "--ablation",
        nargs="?",
        const="fusion",
        choices=list(ABLATIONS),
        default=default("ablation"),
        help="train every fusion variant of the paper's table (or every prompt: none, task, "
        "summarize) into --out/<variant>-seed<S>/ and write --out/ablation.md and .json",
    )
    compare.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=default("seeds"),
        help="seeds of an ablation; scores are reported as mean ± std over them",
    )


def config_from_args(args: argparse.Namespace, given: dict[str, Any]) -> TrainConfig:
    """A TrainConfig from the options; with --resume, the run's saved options, where not given."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {name: value for name, value in vars(args).items() if name in fields}
    typed = {name: value for name, value in given.items() if name in fields}
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
            kept = {k: v for k, v in given.items() if k in DEFAULTS and k not in ("out", "data_root", "resume")}
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
