"""Near-duplicate folding on a made set whose duplicates are known: drawn photos resized,
re-encoded as JPEG and slightly cropped, retweets and reformatted texts, and posts that only
look alike (same caption over another photo, other photos of the same kind of scene)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from crisis_model.data.demo_drawing import add_noise, draw_image
from crisis_model.data.duplicates import (
    NO_HASH,
    duplicate_groups,
    group_summary,
    photo_hashes,
    words_key,
)

SCENES = ("infrastructure_and_utility_damage", "rescue_volunteering_or_donation_effort", "not_humanitarian",
          "affected_individuals", "vehicle_damage", "generic")  # fmt: skip


def drawn_photos(folder: Path) -> list[Path]:
    """One original photo per scene, each a different drawing."""
    rng, noise = random.Random(1), np.random.default_rng(1)
    paths = []
    for k, scene in enumerate(SCENES):
        image, _ = draw_image(rng, "demo_flood", scene, "severe_damage" if "damage" in scene else "nan")
        paths.append(folder / f"original_{k}.png")
        add_noise(image, noise).save(paths[-1])
    return paths


def copies(original: Path) -> dict[str, Path]:
    """The same photo resized to half, re-encoded as a low-quality JPEG, and cropped 3% on every side."""
    image = Image.open(original).convert("RGB")
    w, h = image.size
    made = {
        "resized": image.resize((w // 2, h // 2)),
        "jpeg": image,
        "cropped": image.crop((w * 3 // 100, h * 3 // 100, w - w * 3 // 100, h - h * 3 // 100)),
    }
    paths = {}
    for name, variant in made.items():
        paths[name] = original.with_name(f"{original.stem}_{name}.jpg")
        variant.save(paths[name], quality=35 if name == "jpeg" else 90)
    return paths


@pytest.mark.parametrize(
    "text",
    [
        "RT @RedCross: Shelter OPEN at 5th St!! https://t.co/abc123",
        "shelter open at 5th st",
        "@mayor_office Shelter open at 5th St. http://bit.ly/x",
        "Shelter   open at 5th St &amp; www.example.org/info",
    ],
)
def test_retweets_and_reformatted_texts_share_one_key(text):
    assert words_key(text).removesuffix(" info") == "shelter open at 5th st"


def test_different_words_keep_different_keys():
    assert words_key("Shelter open at 5th St") != words_key("Shelter closed at 5th St")
    assert words_key("RT") == words_key("https://t.co/x @user") == ""


def test_known_duplicates_are_grouped_and_true_non_duplicates_are_not(tmp_path):
    *originals, unrelated = drawn_photos(tmp_path)
    rows = []  # (post_id, text, photo, the group it truly belongs to)
    for k, original in enumerate(originals):
        caption = f"Scene number {k} after the flood, street {k * 7}"
        rows.append((f"p{k}", caption, original, f"g{k}"))
        for name, path in copies(original).items():
            rows.append((f"p{k}-{name}", f"Other words {name} {k}", path, f"g{k}"))  # same photo, new caption
    rows.append(("rt0", "RT @user: Scene number 0 after the flood, street 0 https://t.co/q", None, "g0"))
    rows.append(("words1", "scene NUMBER 1 after the flood... street 7!", originals[1], "g1"))
    # look alike but are not copies: p2's caption over another photo, and a text-only post
    rows.append(("other-photo", "Scene number 2 after the flood, street 14", unrelated, "lone-a"))
    rows.append(("other-words", "A completely different post", None, "lone-b"))
    frame = pd.DataFrame(rows, columns=["post_id", "text", "photo", "truth"])
    # captions differ between a photo's copies, so its group is found by the photos alone;
    # each copy's caption is its own, so the words alone link the originals to their retweets
    hashes = photo_hashes([str(p) if p is not None else None for p in frame["photo"]])
    groups = duplicate_groups(frame, hashes)

    found = groups.groupby("duplicate_group")["post_id"].apply(frozenset)
    truth = frame.groupby("truth")["post_id"].apply(frozenset)
    assert set(found) == set(truth)
    assert (groups["duplicate_group"] == groups.groupby("duplicate_group")["post_id"].transform("min")).all()
    by_post = groups.set_index("post_id")
    assert by_post.loc["p0", "group_size"] == 5  # the original, three copies and the retweet
    assert by_post.loc["other-words", "group_size"] == 1
    assert by_post.loc["other-words", "duplicate_group"] == "other-words"


def test_a_copy_beyond_the_distance_stays_apart(tmp_path):
    [original] = drawn_photos(tmp_path)[:1]
    cropped = copies(original)["cropped"]
    frame = pd.DataFrame({"post_id": ["a", "b"], "text": ["", ""]})
    hashes = photo_hashes([str(original), str(cropped)])
    distance = int(hashes.view(np.uint64)[0] ^ hashes.view(np.uint64)[1]).bit_count()
    assert 0 < distance <= 6
    assert duplicate_groups(frame, hashes)["group_size"].tolist() == [2, 2]
    assert duplicate_groups(frame, hashes, max_distance=distance - 1)["group_size"].tolist() == [1, 1]


def test_an_unreadable_photo_leaves_the_post_to_its_words(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    done = []
    hashes = photo_hashes([str(broken), None, str(tmp_path / "missing.jpg")], lambda i, n: done.append((i, n)))
    assert hashes.tolist() == [NO_HASH] * 3
    assert done[-1] == (3, 3)
    frame = pd.DataFrame({"post_id": ["x", "y", "z"], "text": ["Help needed", "help NEEDED!", "other"]})
    assert duplicate_groups(frame, hashes)["duplicate_group"].tolist() == ["x", "x", "z"]


def test_the_summary_counts_what_folding_saves():
    frame = pd.DataFrame({"post_id": list("abcdef"), "text": ["one", "One!", "RT one", "two", "two", "three"]})
    summary = group_summary(duplicate_groups(frame))
    assert summary == {"posts": 6, "groups": 3, "groups_with_copies": 2, "largest_group": 3, "posts_saved": 3}
