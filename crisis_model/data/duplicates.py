"""Near-duplicate posts: retweets, reposts and the same photo shared again, folded into groups.

Two posts are linked when
- their photos' perceptual hashes (pHash, 64 bits) differ in at most `max_distance` bits: the same
  picture resized, re-encoded or slightly cropped, whatever words a repost puts over it; or
- their words are equal after `words_key` (links, @mentions, a leading "RT", case,
  punctuation and spacing removed) and their photos do not differ: a retweet without its photo
  joins the post it repeats, but the same words over another photo stay apart (template and
  headline texts repeat over new photos; on the demo, words alone would fold posts whose photos
  show different things: bench/duplicates.py).
Groups are the connected posts (union-find); a group's id is its smallest post_id, so a group keeps
its id as long as its first post stays in it, and a post without duplicates is a group of one.

    groups = duplicate_groups(frame, photo_hashes(paths))  # post_id, duplicate_group, group_size
"""

from __future__ import annotations

import contextlib
import html
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd

from crisis_model.data.images import load_image
from crisis_model.data.normalise import normalise_text
from crisis_model.errors import ImageError

DEFAULT_MAX_DISTANCE = 6  # bits of 64 in which two pHashes may differ: resized, re-encoded, slightly cropped
NO_HASH = -1  # a post without a usable photo
_HASH_DECODE_SIZE = 64  # pHash reads a 32x32 reduction; a JPEG need not be decoded larger than this
_PAIR_BLOCK = 2048  # photos compared at once against all others (memory: block x photos bytes)

_NOT_WORD = re.compile(r"[\W_]+")  # punctuation, symbols and emoji (a hashtag keeps its word)


def words_key(text: str) -> str:
    """The words of a post as a key: the normal form training uses against leaks (links,
    @mentions, "RT", case and spacing removed), also without punctuation and HTML entities, so
    "RT @red_cross: Shelter OPEN at 5th St!! https://t.co/x" and "shelter open at 5th st" match."""
    return " ".join(_NOT_WORD.sub(" ", normalise_text(html.unescape(text or ""))).split())


def photo_hash(path: str | Path) -> int:
    """The 64-bit pHash of a photo file (decoded safely, crisis_model.data.images). Raises ImageError."""
    image = load_image(path, min_size=_HASH_DECODE_SIZE)
    return int(str(imagehash.phash(image)), 16)


def photo_hashes(paths: Sequence[str | None], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The pHash of each photo as int64 (the 64 bits), NO_HASH where there is no path or the photo
    cannot be read (that post is then grouped by its words only). `progress(done, total)` after each."""
    hashes = np.full(len(paths), NO_HASH, dtype=np.int64)
    for i, path in enumerate(paths):
        if path:
            with contextlib.suppress(ImageError):  # a missing or broken photo: the words still group the post
                hashes[i] = np.uint64(photo_hash(path)).view(np.int64)
        if progress is not None:
            progress(i + 1, len(paths))
    return hashes


def near_photo_pairs(hashes: np.ndarray, max_distance: int = DEFAULT_MAX_DISTANCE) -> list[tuple[int, int]]:
    """The index pairs (i < j) of photos whose hashes differ in at most `max_distance` bits. All
    pairs are compared, a block of rows at a time: 18k photos take a few seconds."""
    present = np.flatnonzero(hashes != NO_HASH)
    bits = hashes[present].view(np.uint64)
    pairs = []
    for start in range(0, len(bits), _PAIR_BLOCK):
        block = bits[start : start + _PAIR_BLOCK]
        distance = np.bitwise_count(block[:, None] ^ bits[None, :])
        rows, cols = np.nonzero(distance <= max_distance)
        rows = rows + start
        later = cols > rows
        pairs += zip(present[rows[later]].tolist(), present[cols[later]].tolist())
    return pairs


def duplicate_groups(
    frame: pd.DataFrame, hashes: np.ndarray | None = None, max_distance: int = DEFAULT_MAX_DISTANCE
) -> pd.DataFrame:
    """post_id, duplicate_group and group_size for each row of `frame` (columns post_id and text),
    in its order. `hashes`, one per row (photo_hashes), adds the photos; without them only the
    words link posts."""
    count = len(frame)
    hashes = np.full(count, NO_HASH, dtype=np.int64) if hashes is None else np.asarray(hashes, dtype=np.int64)
    if len(hashes) != count:
        raise ValueError(f"{len(hashes)} photo hashes for {count} posts")
    keys = [words_key(t) for t in frame["text"].fillna("").astype(str)]
    bits = hashes.view(np.uint64)

    def photos_agree(i: int, j: int) -> bool:
        return hashes[i] == NO_HASH or hashes[j] == NO_HASH or int(bits[i] ^ bits[j]).bit_count() <= max_distance

    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    def link(i: int, j: int) -> None:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    same_words = defaultdict(list)
    for i, key in enumerate(keys):
        if key:
            same_words[key].append(i)
    for members in same_words.values():
        if (hashes[members] == NO_HASH).all():  # words only: every pair matches, a chain links them
            for i, j in zip(members, members[1:]):
                link(i, j)
            continue
        for n, i in enumerate(members):
            for j in members[n + 1 :]:
                if photos_agree(i, j):
                    link(i, j)
    for i, j in near_photo_pairs(hashes, max_distance):
        link(i, j)

    post_ids = frame["post_id"].astype(str).to_numpy()
    roots = np.array([root(i) for i in range(count)], dtype=np.int64)
    group = pd.Series(post_ids).groupby(roots).transform("min").to_numpy()
    size = pd.Series(roots).map(pd.Series(roots).value_counts()).to_numpy()
    return pd.DataFrame({"post_id": post_ids, "duplicate_group": group, "group_size": size})


def group_summary(groups: pd.DataFrame) -> dict[str, int]:
    """What folding saves: posts, groups, groups of more than one post, the largest group, and the
    posts an analyst need not read (all but one of each group)."""
    sizes = groups.drop_duplicates("duplicate_group")["group_size"]
    return {
        "posts": len(groups),
        "groups": len(sizes),
        "groups_with_copies": int((sizes > 1).sum()),
        "largest_group": int(sizes.max()) if len(sizes) else 0,
        "posts_saved": int(len(groups) - len(sizes)),
    }
