"""Training from reviewers' corrections (`train.py --corrections PATH`), and what the run reports.

A correction wins over the dataset's label, in every split. Reviewed dev and test posts are not a
random sample (the queue picks the posts the model is unsure of, and the reviewer saw its answer),
so the run reports them apart: corrections.json holds, per held-out split, the scores on the posts
nobody corrected (the honest estimate), on the corrected ones, and how many there are.

A post id may be only a row number, which names another post in another posts file; so a review
is applied to the post it was about only: the post of its id whose key (its text and photo,
crisis_model.predictions.post_key) is the one the review recorded, or, for a review recorded
without a key, the one its run's predictions.parquet gives that post. Reviews naming posts the data
does not hold, posts whose text or photo differ here, or posts that cannot be told (no key, and
their run's predictions are gone) are counted, listed and warned about; never applied in silence.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crisis_model.atomic_files import write_json
from crisis_model.corrections.report import LEFT_OUT, scores
from crisis_model.corrections.store import CorrectionStore
from crisis_model.errors import DataError
from crisis_model.predictions import POST_KEY_COLUMN, post_keys
from crisis_model.run_folder import CORRECTIONS_FILE, PREDICTIONS_FILE

HELD_OUT = ("dev", "test")
SHOWN_UNKNOWN = 10  # post ids listed in the report per kind of review left out (all are counted)


class UnknownPostsWarning(UserWarning):
    """Corrections that name posts the training data does not hold, or holds with another text or photo."""


def apply_corrections(frame: pd.DataFrame, path: str | Path, task: str, label_names: list[str]) -> pd.DataFrame:
    """`frame` (the posts table) with the corrections of `task` from the database at `path` over
    its labels: `label` the corrected one, `dataset_label` the original, `corrected` where a review
    set it. Reviews of other posts (see above) are left out and counted; `attrs["corrections"]`
    holds the counts for the run's report. Raises DatabaseError for a file that is no corrections
    database, DataError for a label `task` does not have."""
    reviews = CorrectionStore(path, create=False).latest(task)
    bad = reviews[~reviews["label_after"].isin(label_names)]
    if not bad.empty:  # another task's labels: the wrong database, whichever posts it names
        row = bad.iloc[0]
        raise DataError(
            f"{path}: review {row['id']} gives post {row['post_id']!r} the {task} label {row['label_after']!r}; "
            f"valid labels: {', '.join(label_names)}"
        )
    here = dict(zip(frame["post_id"], post_keys(frame)))
    reviewed = _reviewed_keys(reviews)
    known = reviews["post_id"].isin(here)
    left_out = {
        "unknown_posts": ~known,
        "other_posts": known & reviewed.notna() & (reviewed != reviews["post_id"].map(here)),
        "unmatched_posts": known & reviewed.isna(),
    }
    for kind, why in LEFT_OUT.items():
        if left_out[kind].any():
            examples = ", ".join(sorted(reviews.loc[left_out[kind], "post_id"])[:3])
            warnings.warn(
                f"{path}: {int(left_out[kind].sum())} {task} correction(s) {why} (e.g. {examples}); they are not "
                f"applied and are counted in {CORRECTIONS_FILE}",
                UnknownPostsWarning,
                stacklevel=2,
            )
    applied = reviews[~(left_out["unknown_posts"] | left_out["other_posts"] | left_out["unmatched_posts"])]
    new_label = dict(zip(applied["post_id"], applied["label_after"]))
    frame = frame.assign(dataset_label=frame["label"], corrected=frame["post_id"].isin(new_label))
    frame.loc[frame["corrected"], "label"] = frame.loc[frame["corrected"], "post_id"].map(new_label)
    frame.attrs["corrections"] = {
        "source": str(path),
        "task": task,
        "reviews": len(reviews),
        **{kind: int(rows.sum()) for kind, rows in left_out.items()},
        **{f"{kind}_examples": sorted(reviews.loc[rows, "post_id"])[:SHOWN_UNKNOWN] for kind, rows in left_out.items()},
        "reviewed_runs": {str(k): int(v) for k, v in reviews["run"].value_counts().items()},
    }
    return frame


def _reviewed_keys(reviews: pd.DataFrame) -> pd.Series:
    """The key of the post each review is about (None where nothing says): the one it recorded,
    else the one its run's predictions give its post."""
    keys = reviews["post_key"].astype(object).where(reviews["post_key"].notna(), None)
    for run, rows in reviews[keys.isna()].groupby("run"):
        keys[rows.index] = rows["post_id"].map(_run_keys(Path(str(run)))).astype(object)
    return keys.where(keys.notna(), None)


def _run_keys(run: Path) -> dict[str, str]:
    """post_id -> post_key of a run's predictions ({} when the run or its predictions are gone)."""
    path = run / PREDICTIONS_FILE
    try:  # the columns that say which post a row is, not the probabilities, weights and routing
        names = set(pq.read_schema(path).names)
        if not {"post_id", "text", "image_path"} <= names:
            return {}
        keyed = POST_KEY_COLUMN in names  # else a table written before posts had keys
        table = pd.read_parquet(
            path, columns=["post_id", POST_KEY_COLUMN] if keyed else ["post_id", "text", "image_path"]
        )
    except (OSError, ValueError, pa.ArrowException):
        return {}
    keys = table[POST_KEY_COLUMN] if keyed else post_keys(table.fillna(""))
    return dict(zip(table["post_id"].astype(str), keys))


def write_report(out: Path, frame: pd.DataFrame, label_names: list[str]) -> dict:
    """corrections.json of a finished run: what the corrections changed per split (from `frame`,
    the posts it trained on) and the held-out scores with corrected posts apart (from its
    predictions.parquet)."""
    corrected = frame[frame["corrected"]]
    report = {
        **frame.attrs.get("corrections", {}),
        "applied": {s: int((corrected["split"] == s).sum()) for s in ("train", *HELD_OUT)},
        "changed": {
            s: int(((corrected["split"] == s) & (corrected["label"] != corrected["dataset_label"])).sum())
            for s in ("train", *HELD_OUT)
        },
    }
    predictions = pd.read_parquet(out / PREDICTIONS_FILE)
    flags = predictions["post_id"].isin(set(corrected["post_id"]))
    report["held_out"] = {
        split: {
            "posts": int((predictions["split"] == split).sum()),
            "corrected_posts": int((flags & (predictions["split"] == split)).sum()),
            "uncorrected": scores(predictions[~flags & (predictions["split"] == split)], label_names),
            "corrected": scores(predictions[flags & (predictions["split"] == split)], label_names),
        }
        for split in HELD_OUT
        if (predictions["split"] == split).any()
    }
    write_json(out / CORRECTIONS_FILE, report)
    return report
