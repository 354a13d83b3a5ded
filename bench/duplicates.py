"""What folding near-duplicates saves an analyst: groups of more than one post, the largest group,
and the posts that need not be read (all but one per group).

    python bench/duplicates.py                          # ../shared/crisismmd texts and runs/demo-data
    python bench/duplicates.py --crisismmd /data/CrisisMMD_v2.0 --demo runs/demo-data --max-distance 6

CrisisMMD is read as its (tweet, photo) pairs with informative text labels (every annotated pair),
and once more as one row per tweet: a tweet with several photos repeats its words, so the pairs'
groups include each tweet's own photos. The shared folder holds no photo, so CrisisMMD is grouped
by its words only. The demo is grouped by words, by photos, and by both (the rule of
crisis_model.data.duplicates: same words count only where the photos agree).

Would MinHash find more? It estimates the Jaccard similarity of word sets; the exact similarity
(computed here on every pair of CrisisMMD tweets) counts the pairs of tweets whose word sets
overlap by at least --jaccard but whose normalised words differ: what MinHash could add at best.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from crisis_model.data import MissingImagesWarning, load_crisismmd  # noqa: E402
from crisis_model.data.demo import DEMO_DATA_DIR  # noqa: E402
from crisis_model.data.duplicates import (  # noqa: E402
    DEFAULT_MAX_DISTANCE,
    duplicate_groups,
    group_summary,
    photo_hashes,
    words_key,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_CRISISMMD = REPO.parent / "shared" / "crisismmd"


def all_pairs(root: Path) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingImagesWarning)
        return load_crisismmd(root, "informative", "text")


def measure(name: str, posts: pd.DataFrame, hashes=None, max_distance: int = DEFAULT_MAX_DISTANCE) -> dict:
    start = time.perf_counter()
    groups = duplicate_groups(posts, hashes, max_distance)
    summary = group_summary(groups)
    tweets_of = posts["tweet_id"].groupby(groups["duplicate_group"].to_numpy()).nunique()
    return {
        "set": name,
        **summary,
        "groups spanning tweets": int((tweets_of > 1).sum()),
        "saved %": f"{summary['posts_saved'] / max(summary['posts'], 1):.1%}",
        "grouping s": f"{time.perf_counter() - start:.1f}",
    }


def similar_but_not_equal(texts: list[str], threshold: float, block: int = 2000) -> list[tuple[float, int, int]]:
    """(Jaccard, i, j) of the pairs whose word sets overlap by at least `threshold` and whose
    normalised words differ: the duplicates a MinHash of the words could add."""
    keys = [words_key(t) for t in texts]
    words = CountVectorizer(binary=True, token_pattern=r"\S+").fit_transform(keys).astype(np.float32).tocsr()
    sizes = np.asarray(words.sum(axis=1)).ravel()
    found = []
    for start in range(0, words.shape[0], block):
        shared = (words[start : start + block] @ words.T).tocoo()
        i, j, both = shared.row + start, shared.col, shared.data
        later = j > i
        i, j, both = i[later], j[later], both[later]
        jaccard = both / (sizes[i] + sizes[j] - both)
        close = jaccard >= threshold
        found += [(float(s), a, b) for s, a, b in zip(jaccard[close], i[close], j[close]) if keys[a] != keys[b]]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crisismmd", type=Path, default=SHARED_CRISISMMD, help="a CrisisMMD v2.0 folder")
    parser.add_argument("--demo", type=Path, default=REPO / DEMO_DATA_DIR, help="a demo data folder")
    parser.add_argument("--max-distance", type=int, default=DEFAULT_MAX_DISTANCE, help="pHash bits that may differ")
    parser.add_argument("--jaccard", type=float, default=0.8, help="word-set overlap for the MinHash check")
    args = parser.parse_args()

    rows = []
    if args.crisismmd.is_dir():
        pairs = all_pairs(args.crisismmd)
        rows.append(measure("CrisisMMD pairs, words", pairs))
        tweets = pairs.drop_duplicates("tweet_id").reset_index(drop=True)
        rows.append(measure("CrisisMMD tweets, words", tweets))
        extra = similar_but_not_equal(tweets["text"].tolist(), args.jaccard)
        print(f"CrisisMMD tweets: {len(extra)} pairs with word-set Jaccard >= {args.jaccard} but other words:")
        for similarity, i, j in extra[:10]:
            print(f"  {similarity:.2f}  {tweets['text'][i][:90]!r}\n        {tweets['text'][j][:90]!r}")
    if args.demo.is_dir():
        posts = all_pairs(args.demo)
        start = time.perf_counter()
        hashes = photo_hashes(posts["image_path"].tolist())
        hashing = time.perf_counter() - start
        rows.append(measure("demo pairs, words only", posts))
        rows.append(measure("demo pairs, photos only", posts.assign(text=""), hashes, args.max_distance))
        rows.append(measure("demo pairs, words + photos", posts, hashes, args.max_distance))
        print(f"demo: {len(posts):,} photos hashed in {hashing:.1f} s")
    if not rows:
        sys.exit(f"neither {args.crisismmd} nor {args.demo} is a folder")
    table = pd.DataFrame(rows)
    print("| " + " | ".join(table.columns) + " |")
    print("| " + " | ".join("---" for _ in table.columns) + " |")
    for row in table.itertuples(index=False):
        print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
