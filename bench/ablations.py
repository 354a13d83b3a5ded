#!/usr/bin/env python
"""What each speed-up of `predict` saves: every change switched off alone, in one run.

    python bench/ablations.py [--preset tiny|paper] [--posts 96] [--reps 3] [--batch-size 32]

Cases, timed in turn after a warm-up (median of --reps), all on the same posts:
  all on        predict as it is
  -reduced JPEG decode     images decoded in full (load_image without min_size)
  -decode ahead            images decoded in the calling thread, batch by batch
  -length order            posts scored in their given order (more padding)
  -channels last           the ResNet's weights and input in NCHW
  -CPU chunks of 8         the ResNet reads the whole batch at once
  none (old pipeline)      all five off
The figures feed bench/NOTES.md.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.models import crisis_texts, make_photos, make_posts, paper_size_model, tiny_model  # noqa: E402
from bench.run import OUT_DIR, interleaved, median  # noqa: E402
from crisis_model import inference, predict  # noqa: E402
from crisis_model.data.images import load_image  # noqa: E402
from crisis_model.model import image_encoder  # noqa: E402
from crisis_model.model.image_encoder import ImageEncoder  # noqa: E402

ALL = ("decode", "ahead", "order", "layout", "chunks")


def full_decode(source, *, root=None, min_size=None):
    return load_image(source, root=root)


def inline_decodes(posts, indices, size):
    return [inference._decode(posts[i], i, size) for i in indices]


def given_order(lengths, batch_size):
    return list(range(len(lengths)))


@contextlib.contextmanager
def switched_off(*changes: str, model=None):
    with contextlib.ExitStack() as stack:
        if "decode" in changes:
            stack.enter_context(mock.patch.object(inference, "load_image", full_decode))
        if "ahead" in changes:
            stack.enter_context(mock.patch.object(inference, "_submit_decodes", inline_decodes))
        if "chunks" in changes:
            stack.enter_context(mock.patch.object(image_encoder, "CPU_CHUNK", 10**9))
        if "order" in changes:
            stack.enter_context(mock.patch.object(inference, "_scoring_order", given_order))
        if "layout" in changes:
            stack.enter_context(mock.patch.object(ImageEncoder, "_regions", _nchw_regions))
            model.image_encoder.resnet.to(memory_format=torch.contiguous_format)
            stack.callback(lambda: model.image_encoder.resnet.to(memory_format=torch.channels_last))
        yield


def _nchw_regions(self, pixel_values):
    r = self.resnet
    x = r.maxpool(r.relu(r.bn1(r.conv1(pixel_values.contiguous()))))
    x = r.layer4(r.layer3(r.layer2(r.layer1(x)))).contiguous()
    return x.flatten(2).transpose(1, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tiny", choices=["tiny", "paper"])
    parser.add_argument("--posts", type=int, default=96)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="one torch thread, and CPU seconds of the process instead of wall time: "
        "the work each change saves, robust to other load on the machine",
    )
    args = parser.parse_args()
    clock = time.perf_counter
    if args.cpu_time:
        torch.set_num_threads(1)
        clock = time.process_time
    texts = crisis_texts()
    photos = make_photos(OUT_DIR / "photos", 48)
    model = paper_size_model(texts) if args.preset == "paper" else tiny_model(texts)
    posts = make_posts(texts, photos, args.posts)
    dtype = torch.bfloat16 if args.bf16 else None
    device = torch.device("cpu")

    def case(*off: str):
        def run():
            with switched_off(*off, model=model):
                return predict(model, posts, batch_size=args.batch_size, autocast_dtype=dtype)

        return run

    cases = {
        "all on": case(),
        "-reduced JPEG decode": case("decode"),
        "-decode ahead": case("ahead"),
        "-length order": case("order"),
        "-channels last": case("layout"),
        "-CPU chunks of 8": case("chunks"),
        "none (old pipeline)": case(*ALL),
    }
    warm = posts[: args.batch_size]
    warmups = {
        name: (lambda off=off: _warm(model, warm, args.batch_size, dtype, off))
        for name, off in zip(cases, [(), ("decode",), ("ahead",), ("order",), ("layout",), ("chunks",), ALL])
    }
    if args.cpu_time:
        del cases["-decode ahead"]  # it moves work to other threads; it does not remove any
    times, _ = interleaved(cases, args.reps, device, warmups, clock=clock)
    base = median(times["all on"])
    print(
        f"\n{args.preset}, {args.posts} posts, batch {args.batch_size}, "
        f"{'bf16' if dtype else 'fp32'}, {torch.get_num_threads()} threads, median of {args.reps}, "
        f"{'CPU seconds' if args.cpu_time else 'wall seconds'}"
    )
    print("| case | s | ms/post | time vs all on |\n| --- | --- | --- | --- |")
    for name, t in times.items():
        print(f"| {name} | {median(t):.2f} | {1000 * median(t) / args.posts:.1f} | {median(t) / base:.2f} |")


def _warm(model, posts, batch_size, dtype, off):
    with switched_off(*off, model=model):
        predict(model, posts, batch_size=batch_size, autocast_dtype=dtype)


if __name__ == "__main__":
    main()
