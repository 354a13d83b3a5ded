"""The synthetic demo dataset: its layout loads for every task, it is deterministic and
idempotent, and a failed generation leaves nothing behind."""

import shutil
import warnings
from pathlib import Path

import pytest
from PIL import Image

from crisis_model.data import COLUMNS, TASKS, demo, load_crisismmd
from crisis_model.data.demo import DEMO_NOTICE, MARKER, generate_demo_dataset
from crisis_model.data.images import load_image
from crisis_model.errors import DataError


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "demo")


def load(root, task, labels):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every image of the demo exists: no MissingImagesWarning
        return load_crisismmd(root, task, labels)


@pytest.mark.parametrize(
    "task, labels",
    [(task, labels) for task, spec in TASKS.items() for labels in spec.label_sources],
)
def test_every_task_loads_with_sane_counts(demo_root, task, labels):
    frame = load(demo_root, task, labels)
    assert list(frame.columns) == COLUMNS
    sizes = frame.groupby("split").size()
    assert set(sizes.index) == {"train", "dev", "test"}
    assert sizes["train"] > 2 * sizes["dev"] and sizes["dev"] >= 5
    assert set(frame["label"]) == set(TASKS[task].label_names)  # every class appears
    assert (frame["image_path"] != "").all()
    assert frame["text"].str.len().min() > 0


def test_layout_counts_and_noise(demo_root):
    everything = load(demo_root, "informative", "text")
    agreed = load(demo_root, "informative", "agreed")
    n_tweets = demo.DEFAULT_TWEETS
    assert n_tweets * 1.05 < len(everything) < n_tweets * 1.3  # some tweets have two images
    assert everything["tweet_id"].nunique() == n_tweets
    assert everything.groupby("tweet_id")["split"].nunique().max() == 1  # split by tweet
    shares = everything.drop_duplicates("tweet_id")["split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.7, abs=0.01) and shares["dev"] == pytest.approx(0.15, abs=0.01)
    assert 0.01 < 1 - len(agreed) / len(everything) < 0.25  # some text and image labels disagree
    assert set(everything["event"]) == {"demo_hurricane", "demo_flood", "demo_earthquake"}
    header = (demo_root / "annotations" / "demo_flood_final_data.tsv").read_text().split("\n")[0].split("\t")
    assert len(header) == 15 and header[-1] == "image_path"


def test_images_are_small_rgb_jpegs(demo_root):
    frame = load(demo_root, "damage", "image")
    for path in frame["image_path"][:10]:
        image = load_image(path, root=demo_root)
        assert image.mode == "RGB" and image.size == (224, 224)
        assert path.endswith(".jpg") and 2_000 < Path(path).stat().st_size < 40_000


def test_labels_derived_from_the_annotations_match_the_split_files(demo_root, tmp_path):
    derived = tmp_path / "derived"
    shutil.copytree(demo_root, derived)
    for task in ("humanitarian", "damage"):
        for path in (derived / "crisismmd_datasplit_all").glob(f"task_{task}_*.tsv"):
            path.unlink()
    for task, labels in (("humanitarian", "agreed"), ("humanitarian", "image"), ("damage", "agreed")):
        official = load(demo_root, task, labels).drop(columns="image_path")
        rebuilt = load(derived, task, labels).drop(columns="image_path")
        assert (
            rebuilt.sort_values("post_id")
            .reset_index(drop=True)
            .equals(official.sort_values("post_id").reset_index(drop=True))
        )


def test_marker_says_synthetic_and_a_second_call_rewrites_nothing(demo_root):
    text = (demo_root / MARKER).read_text()
    assert "SYNTHETIC" in text and f"generator version: {demo.GENERATOR_VERSION}" in text and "seed: 0" in text
    assert "synthetic demo data" in DEMO_NOTICE.lower()
    before = {path: path.stat().st_mtime_ns for path in demo_root.rglob("*")}
    assert generate_demo_dataset(demo_root) == demo_root
    assert {path: path.stat().st_mtime_ns for path in demo_root.rglob("*")} == before


def test_same_seed_same_bytes_other_seed_regenerates(tmp_path):
    first = generate_demo_dataset(tmp_path / "a", n_tweets=20, seed=3)
    second = generate_demo_dataset(tmp_path / "b", n_tweets=20, seed=3)
    files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(second) for path in second.rglob("*") if path.is_file())
    assert all((first / name).read_bytes() == (second / name).read_bytes() for name in files)

    generate_demo_dataset(first, n_tweets=20, seed=4)
    assert "seed: 4" in (first / MARKER).read_text()
    tweets = (first / "annotations" / "demo_flood_final_data.tsv").read_bytes()
    assert tweets != (second / "annotations" / "demo_flood_final_data.tsv").read_bytes()


def test_a_failed_generation_leaves_nothing_and_user_folders_are_not_overwritten(tmp_path, monkeypatch):
    calls = []

    def failing_draw(*args):
        calls.append(args)
        if len(calls) > 5:
            raise KeyboardInterrupt  # as if the user stopped it half-way
        return Image.new("RGB", (8, 8)), []

    monkeypatch.setattr(demo, "draw_image", failing_draw)
    with pytest.raises(KeyboardInterrupt):
        generate_demo_dataset(tmp_path / "demo", n_tweets=20)
    assert list(tmp_path.iterdir()) == []

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty and holds no DEMO_README.md"):
        generate_demo_dataset(mine)
    assert (mine / "notes.txt").read_text() == "keep me"
