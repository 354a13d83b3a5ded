"""Browse's one query model: filters, sort, paging and folding near-duplicates, as DuckDB SQL over
a `Source` of posts, a run's predictions or a scored collection alike. Pure: no Streamlit here.

A source is a DuckDB table of posts under common column names: row (a stable order), post_id,
text, text_lower (for search), image_path, has_image, label (the model's answer), confidence,
text_weight, prob_<label>; and, where the source has them, event, split, true_label, correct,
duplicate_group, reliance_*, warnings, created_at. A filter or a sort names a column, so it is
offered on every source that has that column and nowhere else. A page is found on its sort key
alone, then only its rows are read whole: on a collection of 1,000,000 posts an action stays
under 0.5 s (bench/browse_collection.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from crisis_dashboard.collection import Collection
from crisis_dashboard.names import pretty, task_title
from crisis_model.predictions import prob_column

# filter -> the column it needs: a source without that column does not offer the filter
FILTER_COLUMNS = {
    "events": "event",
    "splits": "split",
    "true_labels": "true_label",
    "labels": "label",
    "outcome": "correct",
    "photo": "has_image",
    "warnings": "warnings",
    "confidence": "confidence",
    "query": "text_lower",
}
SORTS = {  # name -> (column, ascending); offered where the source has the column
    "File order": ("row", True),
    "Least confident first": ("confidence", True),
    "Most confident first": ("confidence", False),
    "Least weight on the words' vote": ("text_weight", True),
    "Most weight on the words' vote": ("text_weight", False),
    "Newest first": ("created_at", False),
    "Post id": ("post_id", True),
}
GROUP = "duplicate_group"  # a source with it can fold near-duplicates into one row
INTERNAL = ["row", "label"]  # the query model's own columns, left out of an export


@dataclass(frozen=True)
class Source:
    connection: duckdb.DuckDBPyConnection  # query it through `.cursor()`s: safe across session threads
    relation: str  # the posts under the common names: a table, or a subquery over one
    columns: tuple[str, ...]  # what a page holds
    labels: tuple[str, ...]  # the answers the model can give
    answers: dict[str, str] = field(default_factory=dict)  # every task's label column -> its title
    version: str | None = None  # names the data, for caching answers; None: in memory, not worth it
    first_order: str = "File order"  # the order offered first

    def has(self, column: str) -> bool:
        return column in self.columns or column == "text_lower"

    def offers(self, name: str) -> bool:
        """Whether a filter (a Filters field) or a sort (a SORTS name) works on this source."""
        column = FILTER_COLUMNS.get(name) or SORTS.get(name, ("",))[0]
        return self.has(column)

    @property
    def sorts(self) -> list[str]:
        return sorted((name for name in SORTS if self.offers(name)), key=lambda name: name != self.first_order)


def frame_source(frame: pd.DataFrame) -> Source:
    """A predictions table (crisis_model.predictions.normalise, with duplicate groups where known) as a
    source: copied into an in-memory DuckDB table, a few tens of ms for the demo's posts."""
    connection = duckdb.connect()
    connection.register("frame", frame.assign(row=np.arange(len(frame))))
    connection.execute("CREATE TABLE posts AS SELECT *, predicted_label AS label, lower(text) AS text_lower FROM frame")
    connection.unregister("frame")
    labels = sorted(v for v in frame["predicted_label"].unique() if v)
    # a predictions table's order says nothing: the least confident posts first
    return Source(
        connection, "posts", (*frame.columns, "row", "label"), tuple(labels), first_order="Least confident first"
    )


def collection_source(
    connection: duckdb.DuckDBPyConnection, collection: Collection, task: str, version: str | None = None
) -> Source:
    """A scored collection's posts (its browse index, or any `posts` of the parts' columns) with
    the answer of `task`, a column prefix of the collection, under the common names."""
    labels = tuple(collection.tasks[task]["labels"])
    answers = {
        f"{prefix}_label": task_title(spec["task"]) + prefix[len(spec["task"]) :]
        for prefix, spec in collection.tasks.items()
    }
    named = {  # common name -> the collection's column; only these are selected (a `*` costs ~10 %)
        **{c: c for c in ("row", "post_id", "created_at", "text", "image_path", "has_image", "warnings")},
        **{c: f"{task}_{c}" for c in ("label", "confidence", "text_weight")},
        **{c: c for c in answers},
        **{prob_column(label): prob_column(label, f"{task}_") for label in labels},
    }
    selected = ", ".join(f'"{column}" AS "{name}"' for name, column in named.items())
    relation = f"(SELECT {selected}, text_lower FROM posts)"
    columns = tuple(named)
    return Source(connection, relation, columns, labels, answers, version)


@dataclass
class Filters:
    events: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    true_labels: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # the model's answer
    outcome: str = "all"  # all | right | wrong
    photo: str = "all"  # all | with | without
    warnings: str = "all"  # all | with | without
    confidence: tuple[float, float] = (0.0, 1.0)
    query: str = ""  # in the text or the post id, any case

    def signature(self) -> tuple:
        """Hashable, equal for filters that pick the same posts (a cache key; a change goes back to page 1)."""
        return (
            tuple(self.events),
            tuple(self.splits),
            tuple(self.true_labels),
            tuple(self.labels),
            self.outcome,
            self.photo,
            self.warnings,
            tuple(self.confidence),
            self.query.strip().lower(),
        )

    def where(self) -> tuple[str, list]:
        """The SQL condition and its parameters (values are never pasted into the SQL)."""
        parts, params = ["TRUE"], []
        for name in ("events", "splits", "true_labels", "labels"):
            if chosen := getattr(self, name):
                parts.append(f"{FILTER_COLUMNS[name]} IN ({', '.join('?' for _ in chosen)})")
                params += list(chosen)
        for name, when_with in (("outcome", "correct"), ("photo", "has_image"), ("warnings", "warnings <> ''")):
            value = getattr(self, name)
            if value != "all":
                parts.append(when_with if value in ("right", "with") else f"NOT ({when_with})")
        low, high = self.confidence
        if low > 0.0 or high < 1.0:
            parts.append("confidence BETWEEN ? AND ?")
            params += [low, high]
        if query := self.query.strip().lower():
            parts.append("(contains(text_lower, ?) OR contains(lower(post_id), ?))")
            params += [query, query]
        return " AND ".join(parts), params


@dataclass(frozen=True)
class Counts:
    matching: int  # posts passing the filters
    listed: int  # rows they make: fewer than matching when near-duplicates are folded
    wrong: int | None  # of the matching, those the model got wrong (None: no true labels)


@dataclass(frozen=True)
class Page:
    counts: Counts
    rows: pd.DataFrame  # source.columns, and `copies` (of its group among the matching) when folded


def _key(order: str) -> str:
    column, ascending = SORTS.get(order, SORTS["File order"])
    return f'"{column}" {"ASC" if ascending else "DESC"} NULLS LAST, row'


def _with_key(order: str, *columns: str) -> str:
    """`columns`, and those the order sorts on, once each."""
    return ", ".join(f'"{c}"' for c in dict.fromkeys([*columns, "row", SORTS.get(order, SORTS["File order"])[0]]))


def _listed(source: Source, filters: Filters, order: str, fold: bool, columns: str) -> tuple[str, list]:
    """The SELECT of `columns` of the listed rows (one per group when folded, with `copies`), unordered."""
    where, params = filters.where()
    if not fold:
        return f"SELECT {columns} FROM {source.relation} WHERE {where}", params
    return (
        f"SELECT {columns}, count(*) OVER (PARTITION BY {GROUP}) AS copies FROM {source.relation} "
        f"WHERE {where} QUALIFY row_number() OVER (PARTITION BY {GROUP} ORDER BY {_key(order)}) = 1"
    ), params


def count(source: Source, filters: Filters, fold: bool = False) -> Counts:
    where, params = filters.where()
    listed = f"count(DISTINCT {GROUP})" if fold else "count(*)"
    wrong = "count(*) FILTER (WHERE NOT correct)" if source.has("correct") else "NULL"
    sql = f"SELECT count(*), {listed}, {wrong} FROM {source.relation} WHERE {where}"
    return Counts(*source.connection.cursor().execute(sql, params).fetchone())


def page(source: Source, filters: Filters, order: str, number: int, size: int, fold: bool = False) -> Page:
    """Page `number` (from 1) of `size` listed rows in `order` (a SORTS name). A text search (a
    scan of every text) counts its matches in the same scan; other filters are counted apart,
    which costs less than counting inside a sort of all the posts."""
    in_scan = bool(filters.query.strip()) and not fold
    wrong = "count(*) FILTER (WHERE NOT correct) OVER ()" if source.has("correct") else "NULL"
    counted = f"count(*) OVER (), {wrong}" if in_scan else "NULL, NULL"
    sql, params = _listed(
        source, filters, order, fold, _with_key(order, *(["correct"] if source.has("correct") else []))
    )
    found = (
        source.connection.cursor()
        .execute(
            f"SELECT row, {'copies' if fold else 'NULL'}, {counted} FROM ({sql}) ORDER BY {_key(order)} "
            "LIMIT ? OFFSET ?",
            [*params, size, (max(number, 1) - 1) * size],
        )
        .fetchall()
    )
    counts = Counts(found[0][2], found[0][2], found[0][3]) if in_scan and found else count(source, filters, fold)
    columns = ", ".join(f'"{c}"' for c in source.columns)
    rows = (
        source.connection.cursor()
        .execute(
            f"SELECT {columns} FROM {source.relation} WHERE list_contains(?::BIGINT[], row) ORDER BY {_key(order)}",
            [[row for row, *_ in found]],
        )
        .df()
    )
    if fold:
        rows["copies"] = [copies for _, copies, *_ in found]
    return Page(counts, rows)


def page_of(source: Source, filters: Filters, order: str, post_id: str | None, size: int, fold: bool = False):
    """The page (from 1) of `size` rows on which `post_id` is listed, or None (not listed)."""
    if post_id is None:
        return None
    sql, params = _listed(source, filters, order, fold, _with_key(order, "post_id"))
    found = (
        source.connection.cursor()
        .execute(
            f"SELECT position FROM (SELECT post_id, row_number() OVER (ORDER BY {_key(order)}) - 1 AS position "
            f"FROM ({sql})) WHERE post_id = ? LIMIT 1",
            [*params, post_id],
        )
        .fetchone()
    )
    return int(found[0]) // size + 1 if found else None


def matching_rows(source: Source, filters: Filters, order: str) -> pd.DataFrame:
    """Every post passing the filters, in `order`, without the query model's own columns (an export)."""
    columns = ", ".join(f'"{c}"' for c in source.columns if c not in INTERNAL)
    where, params = filters.where()
    sql = f"SELECT {columns} FROM {source.relation} WHERE {where} ORDER BY {_key(order)}"
    return source.connection.cursor().execute(sql, params).df()


def options(source: Source, column: str) -> list[str]:
    """The values of `column`, sorted, empty ones left out (for a filter's choices)."""
    sql = f'SELECT DISTINCT "{column}" FROM {source.relation} WHERE "{column}" <> \'\' ORDER BY 1'
    return [value for (value,) in source.connection.cursor().execute(sql).fetchall()]


def apply_filters(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows of a predictions table that pass `filters`, in its order (for a page that searches
    a run's posts without Browse's paging)."""
    where, params = filters.where()
    source = frame_source(frame)
    rows = source.connection.cursor().execute(f"SELECT row FROM posts WHERE {where} ORDER BY row", params).fetchall()
    return frame.iloc[[row for (row,) in rows]]


def table_view(rows: pd.DataFrame, source: Source) -> pd.DataFrame:
    """The columns an analyst reads, with plain names, where the source has them: the post's text
    first, then the answer and how sure the model was, the truth, the evidence, every task's
    answer (a collection), the photo, where the post is from, its warnings, id and time."""
    view = {
        "Text": rows["text"].values,
        "Answer": rows["label"].map(pretty, na_action="ignore").values,
        "Confidence": rows["confidence"].values,
    }
    if "true_label" in rows:
        view["True label"] = rows["true_label"].map(pretty).values
        view["Right?"] = np.where(rows["correct"].values, "✓ right", "✗ wrong")
    view["Words share"] = rows["text_weight"].values
    for column, name in (("reliance_words", "Fall without words"), ("reliance_photo", "Fall without photo")):
        if column in rows:
            view[name] = rows[column].values
    for column, title in source.answers.items():
        view[title] = rows[column].map(pretty, na_action="ignore").values
    view["Photo"] = np.where(rows["has_image"].values, "photo", "text only")
    for column, name in (("event", "Event"), ("split", "Split"), ("warnings", "Warnings")):
        if column in rows:
            view[name] = rows[column].map(pretty).values if column == "event" else rows[column].values
    view["Post"] = rows["post_id"].values
    if "created_at" in rows and rows["created_at"].fillna("").any():  # the file had created_at
        view["Posted"] = rows["created_at"].fillna("").values
    return pd.DataFrame(view)
