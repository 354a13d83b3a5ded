"""Score a whole collection of posts with every model of a run: the command line of crisis_model.scoring.

python -m crisis_model.score --run RUN --input FILE --out DIR [--images ROOT]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys

from crisis_model.errors import CrisisLensError
from crisis_model.options import add_options
from crisis_model.scoring import ScoreOptions, score_collection

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
    parser.add_argument(
        "--run", required=True, help="a train.py run folder (every task in it) or one checkpoint folder"
    )
    parser.add_argument("--input", required=True, metavar="FILE", help=".csv, .jsonl or .parquet")
    parser.add_argument("--out", required=True, metavar="DIR", help="the folder to write (or to resume)")
    parser.add_argument(
        "--images", metavar="ROOT", help="the folder image_path is relative to; photos outside it are refused"
    )
    add_options(parser, ScoreOptions)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    options = ScoreOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ScoreOptions)})
    try:
        summary = score_collection(args.run, args.input, args.out, args.images, options)
    except CrisisLensError as err:
        print(f"error: {' '.join(str(err).splitlines())}", file=sys.stderr)  # one line, whoever wrote the message
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
