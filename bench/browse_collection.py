#!/usr/bin/env python
"""Browse on a scored collection of 1,000,000 posts: time per action, DuckDB against pyarrow datasets.

    python bench/browse_collection.py            # 1,000,000 posts (generated once into artifacts/bench/, ~1 min)
    python bench/browse_collection.py --rows 100000

The collection is generated in the command's own layout and schema (crisis_model.scoring: parts of
1,024 posts, written by `folder.write_chunk`): CrisisMMD's texts with a running number, the
informative and humanitarian tasks with random answers, a photo for 60 % of the posts, warnings on
3 %. Each action is what the Browse page asks for one click: the number of matching posts and one
page of 50 in the chosen order, read from disk, nothing kept in memory between actions. Three ways,
in the same run, interleaved, median of 5 after a warm-up:

  DuckDB index    `crisis_dashboard.browse` as the page calls it, on the browse index of
                  `crisis_dashboard.collection`, a DuckDB file built once per version of the
                  collection (its build time is reported)
  DuckDB parts    the same SQL straight over the ~1,000 Parquet parts (read_parquet)
  pyarrow parts   `pyarrow.dataset` over the parts: filter pushed into the scan, the matching
                  rows' sort keys sorted, the page's rows fetched

Goal: < 1 s per action.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402

from bench.models import crisis_texts  # noqa: E402
from bench.run import OUT_DIR, device_name, interleaved  # noqa: E402
from crisis_dashboard import browse, collection  # noqa: E402
from crisis_model.atomic_files import write_json  # noqa: E402
from crisis_model.model.fusion import GROUPS  # noqa: E402
from crisis_model.scoring import folder  # noqa: E402
from crisis_model.scoring.chunks import ChunkResult  # noqa: E402
from crisis_model.scoring.columns import ERRORS_SCHEMA, scored_schema  # noqa: E402

TASKS = {
    "informative": ["informative", "not_informative"],
    "humanitarian": [
        "affected_individuals",
        "infrastructure_and_utility_damage",
        "not_humanitarian",
        "other_relevant_information",
        "rescue_volunteering_or_donation_effort",
    ],
}
CHUNK = 1024
PAGE = 50
GOAL_S = 1.0


def generate(out: Path, rows: int) -> Path:
    """A scored collection of `rows` random answers in the command's layout (kept when complete and
    of the command's schema as it is now; else made again)."""
    schema = scored_schema(TASKS)
    first = folder.part_path(out, folder.PARTS_DIR, 0)
    if (out / folder.SUMMARY_FILE).is_file() and pq.read_schema(first).remove_metadata().equals(schema):
        return out
    shutil.rmtree(out, ignore_errors=True)
    texts = crisis_texts()
    folder.start_folder(out, {"tasks": {t: {"task": t, "labels": labels} for t, labels in TASKS.items()}})
    rng = np.random.default_rng(0)
    for chunk, first in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - first)
        row = np.arange(first + 1, first + n + 1)
        columns = {
            "row": row,
            "post_id": [f"t{r}" for r in row],
            "text": [f"{texts[r % len(texts)]} #{r}" for r in row],
            "image_path": [f"photos/{r}.jpg" if r % 5 > 1 else "" for r in row],
            "created_at": [f"2017-09-{1 + r % 28:02d}T{r % 24:02d}:00:00" for r in row],
            "has_image": row % 5 > 1,
            "warnings": ["photos/x.jpg: image not found: analysed as text only" if r % 33 == 0 else "" for r in row],
        }
        for task, labels in TASKS.items():
            probabilities = rng.dirichlet(np.ones(len(labels)), n).astype(np.float32)
            columns[f"{task}_label"] = [labels[i] for i in probabilities.argmax(1)]
            columns[f"{task}_confidence"] = probabilities.max(1)
            for k, label in enumerate(labels):
                columns[f"{task}_prob_{label}"] = probabilities[:, k]
            weights = rng.dirichlet(np.ones(3), n).astype(np.float32)  # the gate's text, image, joint
            for k, group in enumerate(GROUPS):
                columns[f"{task}_{group}_weight"] = weights[:, k]
        table = pa.table(columns, schema=schema)
        folder.write_chunk(out, chunk, ChunkResult(table, ERRORS_SCHEMA.empty_table(), {"rows": n}), 0.0)
    write_json(out / folder.SUMMARY_FILE, {"scored": rows, "text_only": 0, "errors": 0, "seconds": 0})
    return out


def parts_connection(collection_: collection.Collection) -> duckdb.DuckDBPyConnection:
    """A connection whose `posts` is a view over the Parquet parts (footers cached), for the page's SQL."""
    connection = duckdb.connect()
    connection.execute("SET parquet_metadata_cache = true")
    glob = collection_.glob.replace("'", "''")
    connection.execute(f"CREATE VIEW posts AS SELECT *, lower(text) AS text_lower FROM read_parquet('{glob}')")
    return connection


def arrow_action(
    dataset: ds.Dataset, task: str, query: browse.Filters, order: str, number: int
) -> tuple[int, pa.Table]:
    """The DuckDB action's count and page, with pyarrow datasets."""
    condition = pc.scalar(True)
    if query.labels:
        condition &= pc.field(f"{task}_label").isin(query.labels)
    low, high = query.confidence
    if low > 0 or high < 1:
        condition &= (pc.field(f"{task}_confidence") >= low) & (pc.field(f"{task}_confidence") <= high)
    if query.photo != "all":
        condition &= pc.field("has_image") if query.photo == "with" else ~pc.field("has_image")
    if query.warnings != "all":
        condition &= (pc.field("warnings") != "") if query.warnings == "with" else (pc.field("warnings") == "")
    if query.query:
        condition &= pc.match_substring(pc.field("text"), query.query, ignore_case=True)
    column, ascending = browse.SORTS[order]
    key = f"{task}_{column}" if column in ("confidence", "text_weight") else column
    keys = dataset.to_table(columns=list(dict.fromkeys(["row", key])), filter=condition)
    order_by = [(key, "ascending" if ascending else "descending"), ("row", "ascending")]
    chosen = keys.take(pc.sort_indices(keys, sort_keys=order_by)[(number - 1) * PAGE : number * PAGE])["row"]
    page = dataset.to_table(filter=pc.field("row").isin(chosen))
    return keys.num_rows, page


ACTIONS = {  # name -> (task, filters, order, page)
    "open: all posts, file order, page 1": ("informative", browse.Filters(), "File order", 1),
    "filter: one humanitarian label + confidence 0.3–0.5, least confident first": (
        "humanitarian",
        browse.Filters(labels=["rescue_volunteering_or_donation_effort"], confidence=(0.3, 0.5)),
        "Least confident first",
        1,
    ),
    "search the text for 'flood', most confident first": (
        "informative",
        browse.Filters(query="flood"),
        "Most confident first",
        1,
    ),
    "page 10,000 of all posts, least confident first": (
        "informative",
        browse.Filters(),
        "Least confident first",
        10_000,
    ),
    "text-only posts with warnings, newest first": (
        "informative",
        browse.Filters(photo="without", warnings="with"),
        "Newest first",
        1,
    ),
}


def duckdb_action(
    connection, collection_: collection.Collection, task, query, order, number
) -> tuple[int, pd.DataFrame]:
    """Browse's count and page (crisis_dashboard.browse) on the posts `connection` holds."""
    page = browse.page(browse.collection_source(connection, collection_, task), query, order, number, PAGE)
    return page.counts.matching, page.rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = generate(OUT_DIR / f"collection-{args.rows}", args.rows)
    print(f"collection of {args.rows:,} posts ready in {time.perf_counter() - started:.0f} s: {out}", flush=True)
    scored = collection.open_collection(out)
    shutil.rmtree(out / collection.INDEX_DIR, ignore_errors=True)
    built = time.perf_counter()
    index = collection.build_index(scored)
    built = time.perf_counter() - built
    connection = collection.connect(index)
    dataset = ds.dataset(out / folder.PARTS_DIR, format="parquet")
    parts = parts_connection(scored)
    cpu = torch.device("cpu")
    lines = [
        f"Browse on {args.rows:,} posts ({scored.parts} parts), {device_name(cpu)}, load average "
        f"{os.getloadavg()[0]:.1f} at start; median of {args.reps} after a warm-up; count + one page of {PAGE}. "
        f"Building the DuckDB index (once per version of the collection): {built:.1f} s, "
        f"{index.stat().st_size / 2**20:.0f} MB.",
        "",
        "| action | matching | DuckDB index (s) | DuckDB parts (s) | pyarrow parts (s) | goal < 1 s (index) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, (task, query, order, number) in ACTIONS.items():
        cases = {
            "index": lambda t=task, q=query, o=order, k=number: duckdb_action(connection, scored, t, q, o, k),
            "parts": lambda t=task, q=query, o=order, k=number: duckdb_action(parts, scored, t, q, o, k),
            "arrow": lambda t=task, q=query, o=order, k=number: arrow_action(dataset, t, q, o, k),
        }
        times, results = interleaved(cases, args.reps, cpu)
        matching = {case: results[case][-1][0] for case in cases}
        assert len(set(matching.values())) == 1, (name, matching)
        pages = [results[case][-1][1] for case in ("index", "parts")]
        assert pages[0]["row"].tolist() == pages[1]["row"].tolist(), name
        assert sorted(pages[0]["row"]) == sorted(results["arrow"][-1][1]["row"].to_pylist()), name
        seconds = {case: statistics.median(times[case]) for case in cases}
        met = "yes" if seconds["index"] < GOAL_S else "**no**"
        lines.append(
            f"| {name} | {matching['index']:,} | {seconds['index']:.3f} | {seconds['parts']:.3f} "
            f"| {seconds['arrow']:.3f} | {met} |"
        )
    print("\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
