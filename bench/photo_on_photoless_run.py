#!/usr/bin/env python
"""What a photo does to a model trained without photos: each typed post scored alone, with a photo
of noise and with a plain sky-blue one. A full fusion trained on posts without photos never trained
its photo vote, joint vote or gate, so any photo moves its answers (bench/NOTES.md, "A full fusion
trained without photos, scored with one"); a model that reads only the words does not move.

    python bench/photo_on_photoless_run.py --run runs/goal-inf-full    # a run folder (its checkpoint/)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from crisis_model import load_model, predict  # noqa: E402
from crisis_model.run_folder import CHECKPOINT_DIR  # noqa: E402

POSTS = ("Bridge collapsed on route 9, people trapped, send rescue teams", "Having a lovely lunch with friends today")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a run folder")
    args = parser.parse_args()
    model = load_model(Path(args.run) / CHECKPOINT_DIR)
    positive = model.config.label_names[0]
    with tempfile.TemporaryDirectory() as folder:
        photos = {"noise": Path(folder) / "noise.png", "sky": Path(folder) / "sky.png"}
        noise = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
        Image.fromarray(noise).save(photos["noise"])
        Image.new("RGB", (224, 224), (120, 160, 220)).save(photos["sky"])
        print(f"fusion {model.config.fusion}; probability of {positive}\n")
        print("| post | no photo | noise | sky |\n| --- | --- | --- | --- |")
        for text in POSTS:
            cells = [predict(model, [{"text": text}])[0]]
            cells += [predict(model, [{"text": text, "image_path": str(path)}])[0] for path in photos.values()]
            print(f"| {text} | " + " | ".join(f"{c.probabilities[positive]:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
