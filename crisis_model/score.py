"""Score a whole collection of posts with every model of a run: the command line of crisis_model.scoring.

python -m crisis_model.score --run RUN --input FILE --out DIR [--images ROOT]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from crisis_model.errors import CrisisLensError
from crisis_model.scoring import PRECISIONS, ScoreOptions, score_collection
from crisis_model.training import DEVICES

EPILOG = """\
examples:
  python -m crisis_model.score --run runs/demo --input posts.csv --out scored/harvey --images photos/
  # several GPUs on one machine, or CPU processes (gloo); each process scores its own chunks.
  # The -- keeps torchrun from reading --run as an abbreviation of its own --run-path.
  torchrun --standalone --nproc_per_node=4 -m crisis_model.score -- --run runs/demo --input posts.parquet --out scored/x
  # several machines: the same line on each (DIR on a folder every machine sees, HOST one of them)
  torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 --rdzv_id=harvey \\
      -m crisis_model.score -- --run runs/demo --input posts.parquet --out /shared/scored/x

Killed or interrupted, the same command again skips the finished parts and ends with the same rows.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m crisis_model.score",
        description="Score every post of a CSV, JSON Lines or Parquet file (columns text, optional image_path, "
        "post_id, created_at) with every model of a run, into Parquet parts and summary.json in --out.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = ScoreOptions()
    parser.add_argument(
        "--run", required=True, help="a train.py run folder (every task in it) or one checkpoint folder"
    )
    parser.add_argument("--input", required=True, metavar="FILE", help=".csv, .jsonl or .parquet")
    parser.add_argument("--out", required=True, metavar="DIR", help="the folder to write (or to resume)")
    parser.add_argument(
        "--images", metavar="ROOT", help="the folder image_path is relative to; photos outside it are refused"
    )
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="posts per forward pass (default %(default)s)"
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=defaults.chunk_rows,
        help="posts per Parquet part, the unit of resuming (default %(default)s)",
    )
    parser.add_argument(
        "--precision", choices=PRECISIONS, default=defaults.precision, help="auto = bf16 on a GPU, fp32 on a CPU"
    )
    parser.add_argument("--device", choices=DEVICES, default=defaults.device)
    parser.add_argument(
        "--max-image-mb",
        type=float,
        default=defaults.max_image_mb,
        help="a larger photo file is not opened; its post is scored from the text (default %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.chunk_rows < 1:
        parser.error("--batch-size and --chunk-rows must be at least 1")
    options = ScoreOptions(
        chunk_rows=args.chunk_rows,
        batch_size=args.batch_size,
        precision=args.precision,
        device=args.device,
        max_image_mb=args.max_image_mb,
        progress=not args.no_progress,
    )
    try:
        summary = score_collection(args.run, args.input, args.out, args.images, options)
    except CrisisLensError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        again = shlex.join(["python", "-m", "crisis_model.score", *argv])
        print(f"\ninterrupted: {args.out} keeps its finished parts; continue with {again}", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) == 0:
        for note in summary["notes"]:
            print(f"note: {note}", file=sys.stderr)
        print(
            f"scored {summary['scored']:,} posts ({summary['text_only']:,} text-only, "
            f"{summary['with_warnings']:,} with warnings), {summary['errors']:,} errors, in {summary['seconds']:.1f} s "
            f"({summary['posts_per_s'] or 0:,.1f} posts/s): {os.path.join(args.out, 'summary.json')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
