"""A small SYNTHETIC dataset in the CrisisMMD v2.0 layout, to try CrisisLens without the
real data.

Every tweet, image and label here is invented. A tweet's label shows in its words and its photo
(about a third), in its words only, beside a generic photo (a third), or in its photo only,
beside vague words (a third), so a model must read both to answer every tweet; its words vary
(crisis_model.data.demo_texts) and its photos are drawn (crisis_model.data.demo_drawing), with the
boxes where damage is drawn kept in demo_regions.json. About 1 photo in 12 shows something other
than its tweet says (those text and image labels disagree).

    generate_demo_dataset(DEMO_DATA_DIR)  # then load_crisismmd(that folder, ...)
"""

import json
import random
import shutil
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from crisis_model.data.crisismmd import ALL_DIR, MERGED_LABELS, SPLIT_COLUMNS, TASKS
from crisis_model.data.demo_drawing import add_noise, draw_image
from crisis_model.data.demo_texts import TEXTS, VAGUE_TEXTS, write_text
from crisis_model.data.timeline import make_snowflake
from crisis_model.errors import DataError

DEMO_DATA_DIR = Path("runs") / "demo-data"  # where train.py --demo puts it, relative to the working directory
GENERATOR_VERSION = 4  # 2: words-only and photo-only tweets, varied wording, damage boxes; 3: balanced;
# 4: tweet ids are snowflakes of a time on the tweet's day (the Situation page reads them)
MARKER = "DEMO_README.md"  # written last: a folder without it is not a finished demo
DEMO_NOTICE = (
    "Synthetic demo data: invented tweets and drawn images, not real crisis posts, "
    "so scores on it say nothing about real-world performance."
)

EVENTS = {  # event -> (the word its tweets use, the day it starts)
    "demo_hurricane": ("hurricane", date(2017, 9, 4)),
    "demo_flood": ("flood", date(2017, 8, 14)),
    "demo_earthquake": ("earthquake", date(2017, 9, 19)),
}
# The raw humanitarian categories as CrisisMMD annotates them, with their share of tweets.
CATEGORIES = {
    "not_humanitarian": 0.24,
    "other_relevant_information": 0.18,
    "rescue_volunteering_or_donation_effort": 0.18,
    "infrastructure_and_utility_damage": 0.26,
    "affected_individuals": 0.04,
    "injured_or_dead_people": 0.03,
    "missing_or_found_people": 0.03,
    "vehicle_damage": 0.04,
}
# Where a tweet's label shows: in its words and its photo, in its words only (a generic photo),
# or in its photo only (vague words). A model has to read both to answer every tweet, so vague
# words and generic photos go with crisis and non-crisis tweets about equally often: the words'
# and the photo's carriers draw their categories with not_humanitarian as likely as the rest.
CARRIERS = {"both": 0.35, "text": 0.3, "photo": 0.35}
ONE_SIDED_CATEGORIES = {category: share / (1 - CATEGORIES["not_humanitarian"]) / 2 for category, share in
                        CATEGORIES.items() if category != "not_humanitarian"} | {"not_humanitarian": 0.5}  # fmt: skip
DAMAGE_LEVELS = {  # image_damage of the damage pictures, drawn as 0, 1, 2 (don't know: any)
    "little_or_no_damage": 0.25,
    "mild_damage": 0.3,
    "severe_damage": 0.4,
    "dont_know_or_cant_judge": 0.05,
}
OUTDOOR_SCENES = ("rescue_volunteering_or_donation_effort", "affected_individuals", "injured_or_dead_people",
                  "generic")  # fmt: skip
DEFAULT_TWEETS = 600
REGIONS_FILE = "demo_regions.json"  # image id -> the boxes where the photo shows damage

ANNOTATION_COLUMNS = [
    "tweet_id", "image_id", "text_info", "text_info_conf", "image_info", "image_info_conf",
    "text_human", "text_human_conf", "image_human", "image_human_conf", "image_damage",
    "image_damage_conf", "tweet_text", "image_url", "image_path",
]  # fmt: skip
PAIR_COLUMNS = SPLIT_COLUMNS + ["label", "label_text", "label_image", "label_text_image"]


def generate_demo_dataset(root: Path, n_tweets: int = DEFAULT_TWEETS, seed: int = 0) -> Path:
    """Write the demo dataset to `root` (unless it already holds this one) and return `root`.

    The folder is built next to `root` (as .<name>.partial-*) and renamed into place once
    complete, so a killed run never leaves a half-written `root`. A non-empty `root` that
    is not a demo folder is refused.
    """
    root = Path(root)
    if demo_dataset_current(root, n_tweets, seed):
        return root
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER).is_file():
        raise DataError(f"{root}: the folder is not empty and holds no {MARKER}; refusing to overwrite it")
    root.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        _write_dataset(building, n_tweets, seed)
        (building / MARKER).write_text(_marker_text(n_tweets, seed), encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)
        building.rename(root)
    finally:
        shutil.rmtree(building, ignore_errors=True)  # only left when something failed
    return root


def demo_dataset_current(root: Path, n_tweets: int = DEFAULT_TWEETS, seed: int = 0) -> bool:
    """Whether `root` holds the demo dataset this generator version writes for these settings."""
    marker = Path(root) / MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8") == _marker_text(n_tweets, seed)


def _marker_text(n_tweets: int, seed: int) -> str:
    return (
        "# CrisisLens demo data: SYNTHETIC\n\n"
        "Everything in this folder was generated by `crisis_model.data.demo`: the tweets, the images "
        "and the labels are invented. It is not CrisisMMD and not real crisis data; it only "
        "follows the CrisisMMD v2.0 folder layout so the whole pipeline can be tried.\n\n"
        f"generator version: {GENERATOR_VERSION}\nseed: {seed}\ntweets: {n_tweets}\n"
    )


# ------------------------------------------------------------------------------ the tables


def _write_dataset(folder: Path, n_tweets: int, seed: int) -> None:
    """Draw every image and write the annotations and split files into `folder`."""
    rng = random.Random(seed)
    pairs = _invent_pairs(rng, n_tweets, seed)
    noise = np.random.default_rng(seed)
    damage_boxes = {}
    for pair in pairs:
        path = folder / pair["image_path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        image, boxes = draw_image(rng, pair["event"], pair["scene"], pair["image_damage"])
        add_noise(image, noise).save(path, quality=80)
        if boxes:
            damage_boxes[pair["image_id"]] = boxes
    (folder / REGIONS_FILE).write_text(json.dumps(damage_boxes, indent=1) + "\n", encoding="utf-8")

    for event in EVENTS:
        rows = [[pair[key] for key in ANNOTATION_COLUMNS] for pair in pairs if pair["event"] == event]
        _write_tsv(folder / "annotations" / f"{event}_final_data.tsv", ANNOTATION_COLUMNS, rows)
    for split in ("train", "dev", "test"):
        in_split = [pair for pair in pairs if pair["split"] == split]
        for task, text_key, image_key in (
            ("informative", "text_info", "image_info"),
            ("humanitarian", "text_human", "image_human"),
        ):
            rows = [_pair_row(rng, pair, pair[text_key], pair[image_key]) for pair in in_split]
            _write_tsv(folder / ALL_DIR / f"task_{task}_text_img_{split}.tsv", PAIR_COLUMNS, rows)
        keys = ("event", "tweet_id", "image_id", "tweet_text", "image_path", "image_damage")
        damaged = [pair for pair in in_split if pair["image_damage"] in TASKS["damage"].label_names]
        rows = [[pair[key] for key in keys] for pair in damaged]
        _write_tsv(folder / ALL_DIR / f"task_damage_text_img_{split}.tsv", SPLIT_COLUMNS + ["label"], rows)


def _invent_pairs(rng: random.Random, n_tweets: int, seed: int) -> list[dict]:
    """One dict per (tweet, image) pair, with every annotation column, `event`, `split`, and
    `scene` (the category its image shows)."""
    order = list(range(n_tweets))
    rng.shuffle(order)
    split_of = {}  # 70% train, 15% dev, 15% test, by tweet
    for rank, i in enumerate(order):
        split_of[i] = "train" if rank < 0.7 * n_tweets else "dev" if rank < 0.85 * n_tweets else "test"
    # the time of day from a generator of its own, so the tweets, photos and labels stay those of
    # the same seed before ids were times
    clock = random.Random(f"{seed}-clock")
    pairs = []
    for i in range(n_tweets):
        event = rng.choice(list(EVENTS))
        word, start = EVENTS[event]
        day = start + timedelta(days=rng.randrange(7))
        tweet_id = str(_tweet_id(day, clock.randrange(24 * 3600), rng.randrange(1000), i))
        carrier = _weighted(rng, CARRIERS)
        category = _weighted(rng, CATEGORIES if carrier == "both" else ONE_SIDED_CATEGORIES)
        text = write_text(rng, VAGUE_TEXTS if carrier == "photo" else TEXTS[category], word)
        for k in range(2 if rng.random() < 0.15 else 1):
            if carrier == "text":
                scene = "generic"
            else:  # about 1 photo in 12 shows something other than the tweet says
                scene = category if rng.random() < 0.92 else rng.choice(list(CATEGORIES))
            image_label = category if scene in (category, "generic") else scene
            damage = _damage(rng, scene)
            image_id = f"{tweet_id}_{k}"
            pairs.append(
                {
                    "tweet_id": tweet_id,
                    "image_id": image_id,
                    "text_info": _informative(category),
                    "text_info_conf": _confidence(rng),
                    "image_info": _informative(image_label),
                    "image_info_conf": _confidence(rng),
                    "text_human": category,
                    "text_human_conf": _confidence(rng),
                    "image_human": image_label,
                    "image_human_conf": _confidence(rng),
                    "image_damage": damage,
                    "image_damage_conf": "nan" if damage == "nan" else _confidence(rng),
                    "tweet_text": text,
                    "image_url": f"https://demo.crisislens.invalid/media/{image_id}.jpg",
                    "image_path": f"data_image/{event}/{day.day}_{day.month}_{day.year}/{image_id}.jpg",
                    "event": event,
                    "split": split_of[i],
                    "scene": scene,
                }
            )
    return pairs


def _tweet_id(day: date, second: int, millisecond: int, number: int) -> int:
    """A snowflake id of a tweet posted at `second` of `day` (UTC); `number` in its sequence bits
    keeps ids unique when two tweets share a millisecond."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return make_snowflake(int(midnight.timestamp()) * 1000 + second * 1000 + millisecond, sequence=number)


def _damage(rng: random.Random, scene: str) -> str:
    """The damage annotation of a photo of `scene`: a level for damage scenes, often "little or no
    damage" for other outdoor scenes, and none for charts, food and posters."""
    if scene == "infrastructure_and_utility_damage":
        return _weighted(rng, DAMAGE_LEVELS)
    if scene == "vehicle_damage":
        return rng.choice(["mild_damage", "severe_damage"])
    if scene in OUTDOOR_SCENES and rng.random() < 0.5:
        return "little_or_no_damage"
    return "nan"


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _informative(category: str) -> str:
    return "not_informative" if category == "not_humanitarian" else "informative"


def _confidence(rng: random.Random) -> str:
    return "1.0" if rng.random() < 0.7 else f"{rng.uniform(0.6, 0.95):.4f}"


def _pair_row(rng: random.Random, pair: dict, label_text: str, label_image: str) -> list[str]:
    """A split-file row. As in CrisisMMD, `label` follows the text label for some
    disagreeing pairs and the image label for others."""
    label_text = MERGED_LABELS.get(label_text, label_text)
    label_image = MERGED_LABELS.get(label_image, label_image)
    agree = label_text == label_image
    label = label_text if agree or rng.random() < 0.5 else label_image
    return [
        pair["event"], pair["tweet_id"], pair["image_id"], pair["tweet_text"], pair["image_path"],
        label, label_text, label_image, "Positive" if agree else "Negative",
    ]  # fmt: skip


def _write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
