#!/usr/bin/env python
"""Do the demo models' explanations tell the truth? Interventions, per task, as tables.

    python bench/faithfulness.py                      # trains the demo models (seeds 0 1 2), checks each
    python bench/faithfulness.py --run runs/demo      # checks an existing demo run
    python bench/faithfulness.py --ablation           # also the fusion ablation, 3 seeds (~10-15 min)

Per task, on the demo's dev + test posts with a photo (crisis_model.faithfulness): the mean gate
weights, the labels changed by swapping the words vs the photo, the mean reliance (probability
fall without the words / the photo), the rank correlation between per-post weights and reliance,
and the attention's lift on the drawn damage. Then the words-only accuracy (photo removed) against
the majority class, typed posts, captions under one drawn photo of collapsed buildings (the damage
answer must not follow them), and (--ablation) each fusion variant's dev accuracy and macro-F1,
mean ± std over seeds. Prints markdown; writes JSON to artifacts/faithfulness/.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from crisis_model import load_model, predict  # noqa: E402
from crisis_model.data import MissingImagesWarning, load_crisismmd  # noqa: E402
from crisis_model.data.demo import REGIONS_FILE, generate_demo_dataset  # noqa: E402
from crisis_model.data.demo_drawing import draw_image  # noqa: E402
from crisis_model.faithfulness import attention_vs_importance, check_faithfulness, on_damage  # noqa: E402
from crisis_model.run_folder import CHECKPOINT_DIR, TRAIN_CONFIG_FILE  # noqa: E402
from crisis_model.training import DEMO_TASKS, TqdmProgress, TrainConfig, run_ablation, train_demo  # noqa: E402
from crisis_model.training.demo import DEMO_SETTINGS  # noqa: E402

OUT = ROOT / "artifacts" / "faithfulness"
TYPED_POSTS = [
    "Bridge collapsed, people trapped, send rescue teams",
    "Happy birthday to my best friend!!",
    "Just watched a great movie tonight",
    "🙏🙏🌊",
]
# captions put under one drawn photo of collapsed buildings (severe damage): the damage answer must
# come from the photo, whatever the caption says (issue 23)
CAPTIONS = [
    "Our house is gone, the roof landed in the street",
    "Happy birthday to my best friend!!",
    "Red Cross shelter open at Lincoln High, bring blankets",
    "",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a demo run folder (default: train one into artifacts/)")
    parser.add_argument("--ablation", action="store_true", help="also the fusion ablation over --seeds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the demo runs' and the ablation's")
    args = parser.parse_args()
    warnings.simplefilter("ignore", MissingImagesWarning)
    OUT.mkdir(parents=True, exist_ok=True)
    runs = {"given": args.run} if args.run else {seed: demo_run(seed) for seed in args.seeds}
    report: dict = {"runs": {}}
    for seed, run in runs.items():
        tasks = {}
        for task, labels in DEMO_TASKS.items():
            data_root = Path(json.loads((run / task / TRAIN_CONFIG_FILE).read_text())["data_root"])
            tasks[task] = check_task(run / task / CHECKPOINT_DIR, data_root, task, labels)
        report["runs"][str(seed)] = {"run": str(run), "tasks": tasks}
        print(f"\n## {run} (seed {seed})")
        print_checks(tasks)
    if len(runs) > 1:
        print_agreement(report["runs"])
    if args.ablation:
        report["ablation"] = fusion_ablation(generate_demo_dataset(OUT / "demo-data"), args.seeds)
        print_ablation(report["ablation"], args.seeds)
    (OUT / "faithfulness.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON: {OUT / 'faithfulness.json'}")


def demo_run(seed: int) -> Path:
    """The demo models trained with `seed` (kept between calls: a finished run is reused)."""
    out = OUT / ("demo" if seed == 0 else f"demo-seed{seed}")
    return train_demo(out, TqdmProgress(), data_dir=OUT / "demo-data", cache_dir=str(OUT / "cache"), seed=seed)


def check_task(checkpoint: Path, data_root: Path, task: str, labels: str) -> dict:
    """Every check of one task's model on the dev + test posts of its data."""
    model = load_model(checkpoint, device="cpu")
    frame = load_crisismmd(data_root, task, labels, splits=["dev", "test"])
    with_photo = frame[frame["image_path"] != ""]
    posts = [{"text": t, "image": p} for t, p in zip(with_photo["text"], with_photo["image_path"])]
    scored = predict(model, posts, reliance=True)  # once: the checks and the photo tables share it
    checks = check_faithfulness(model, posts, original=scored)
    boxes = json.loads((data_root / REGIONS_FILE).read_text()) if (data_root / REGIONS_FILE).exists() else {}
    damage = on_damage(scored, [boxes.get(post_id, []) for post_id in with_photo["post_id"]])
    agree = {"swaps": checks.larger_weight == checks.larger_swap_effect,
             "reliance": checks.larger_weight == checks.larger_reliance}  # fmt: skip
    result = {"checks": checks.__dict__, "larger_weight_agrees_with": agree, "damage": damage,
              "attention_vs_importance": attention_vs_importance(scored)}  # fmt: skip
    if not model.config.requires_image:  # words alone: the photo removed from every post
        words_only = predict(model, [{"text": t} for t in frame["text"]])
        truth = frame["label"].tolist()
        result["words_only_accuracy"] = float(np.mean([p.label == t for p, t in zip(words_only, truth)]))
        result["majority_accuracy"] = float(frame["label"].value_counts(normalize=True).iloc[0])
        result["words_only_labels"] = len({p.label for p in words_only})
    result["typed"] = {
        text: _answer(p) for text, p in zip(TYPED_POSTS, predict(model, [{"text": t} for t in TYPED_POSTS]))
    }
    photo = collapsed_buildings()
    captioned = predict(model, [{"text": t, "image": photo} for t in CAPTIONS])
    result["captioned_photo"] = {text: _answer(p) for text, p in zip(CAPTIONS, captioned)}
    return result


def collapsed_buildings():
    """A demo photo of collapsed buildings (the demo data's drawing of severe damage)."""
    scene = ("demo_earthquake", "infrastructure_and_utility_damage", "severe_damage")
    image, _boxes = draw_image(random.Random(1), *scene)
    return image


def _num(value: float, digits: int) -> str:
    """A number, or "–" where it does not apply (NaN: a photo-only model has no words to weigh)."""
    return "–" if np.isnan(value) else f"{value:.{digits}f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _answer(prediction) -> str:
    if prediction.label is None:
        return "cannot judge (no photo)"
    return f"{prediction.label} {prediction.confidence:.0%}"


def fusion_ablation(data_root: Path, seeds: list[int]) -> dict:
    """Each fusion variant of the informative and humanitarian demo models, over the seeds."""
    tables = {}
    for task in ("informative", "humanitarian"):
        cfg = TrainConfig(out=str(OUT / f"ablation-{task}"), data_root=str(data_root), task=task, labels="agreed",
                          **DEMO_SETTINGS, workers=0, cache_dir=str(OUT / "cache"), overwrite=True)  # fmt: skip
        # (informative and humanitarian have no task settings of their own: DEMO_SETTINGS is all)
        folder = run_ablation(cfg, "fusion", seeds, progress=TqdmProgress())
        tables[task] = json.loads((folder / "ablation.json").read_text())
    return tables


def print_checks(tasks: dict) -> None:
    print(
        "\n| task | posts | mean weight text / photo / joint | labels changed: words swapped / photo swapped "
        "| reliance words / photo | rank corr. | larger weight = larger swap effect / larger reliance |"
    )
    print("|---|---|---|---|---|---|---|")
    for task, r in tasks.items():
        c, w, agree = r["checks"], r["checks"]["weights"], r["larger_weight_agrees_with"]
        print(f"| {task} | {c['posts']} | {w['text']:.2f} / {w['image']:.2f} / {w['joint']:.2f} "
              f"| {c['text_swap_changed']:.0%} / {c['photo_swap_changed']:.0%} "
              f"| {_num(c['reliance']['words'], 3)} / {c['reliance']['photo']:.3f} | {_num(c['rank_correlation'], 2)} "
              f"| {_yes(agree['swaps'])} / {_yes(agree['reliance'])} |")  # fmt: skip
    print(
        "\n| task | posts with drawn damage | attention lift in damage / elsewhere "
        "| probability fall hiding a square in damage / elsewhere | attention vs fall, Spearman |"
    )
    print("|---|---|---|---|---|")
    for task, r in tasks.items():
        d = r["damage"]
        inside = (f"{_num(d['lift_inside'], 2)} / {_num(d['lift_outside'], 2)} "
                  f"| {d['importance_inside']:.3f} / {d['importance_outside']:.3f}")  # fmt: skip
        spearman = _num(r["attention_vs_importance"], 2)
        print(f"| {task} | {d['posts']} | {inside if d['posts'] else '– | –'} | {spearman} |")
    print("\n| task | words-only accuracy (photo removed) | majority class | distinct words-only answers |")
    print("|---|---|---|---|")
    for task, r in tasks.items():
        if "words_only_accuracy" in r:
            print(
                f"| {task} | {r['words_only_accuracy']:.3f} | {r['majority_accuracy']:.3f} | {r['words_only_labels']} |"
            )
    print("\n| typed post | " + " | ".join(tasks) + " |\n" + "|---" * (len(tasks) + 1) + "|")
    for text in TYPED_POSTS:
        print(f"| {text} | " + " | ".join(tasks[t]["typed"][text] for t in tasks) + " |")
    print("\n| caption under the collapsed-buildings photo | " + " | ".join(tasks) + " |")
    print("|---" * (len(tasks) + 1) + "|")
    for text in CAPTIONS:
        print(f"| {text or '(no words)'} | " + " | ".join(tasks[t]["captioned_photo"][text] for t in tasks) + " |")


def print_agreement(runs: dict) -> None:
    """Per task over the seeds' runs: the weights and swap effects as mean ± std, and in how many
    runs the larger weight is on the part whose swap / removal changes more."""
    print("\n## Over the seeds' runs (mean ± std)")
    print("\n| task | weight words / photo / joint | labels changed: words / photo swapped "
          "| larger weight = larger swap effect / larger reliance |")  # fmt: skip
    print("|---|---|---|---|")
    for task in DEMO_TASKS:
        results = [r["tasks"][task] for r in runs.values()]

        def spread(values: list[float], percent: bool = False) -> str:
            scale, unit = (100, "%") if percent else (1, "")
            return f"{np.mean(values) * scale:.2f}{unit} ± {np.std(values) * scale:.2f}{unit}"

        weights = " / ".join(spread([r["checks"]["weights"][g] for r in results]) for g in ("text", "image", "joint"))
        swaps = " / ".join(spread([r["checks"][k] for r in results], percent=True)
                           for k in ("text_swap_changed", "photo_swap_changed"))  # fmt: skip
        agree = " / ".join(f"{sum(r['larger_weight_agrees_with'][k] for r in results)} of {len(results)}"
                           for k in ("swaps", "reliance"))  # fmt: skip
        print(f"| {task} | {weights} | {swaps} | {agree} |")


def print_ablation(tables: dict, seeds: list[int]) -> None:
    for task, table in tables.items():
        print(f"\n{task}, demo dev, mean ± std over seeds {seeds}:\n")
        print("| fusion | accuracy | macro-F1 |\n|---|---|---|")
        for row in table["rows"]:
            acc, f1 = row["dev"]["accuracy"], row["dev"]["macro_f1"]
            print(f"| {row['fusion']} | {acc['mean']:.3f} ± {acc['std']:.3f} | {f1['mean']:.3f} ± {f1['std']:.3f} |")


if __name__ == "__main__":
    main()
