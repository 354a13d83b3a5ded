"""Scoring one chunk of a collection with every task's model: the rows of its scored part, the rows
of its errors part, and the counts that summary.json adds up.

A photo that is missing, outside --images, too large or unreadable leaves its post text-only with
a warning; a row that cannot be read (crisis_model.scoring.reader), or has nothing any model can
analyse, goes to the errors part with its kind and reason. A task judged from the photo (damage)
cannot judge a post without one: its cells stay empty, with a warning, and the post is counted
under `not_judged`; so is a post whose answer was not a number (crisis_model.inference). Nothing in
one row stops the others.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import torch

from crisis_model.data.table import resolve_image
from crisis_model.file_faults import os_reason
from crisis_model.inference import Prediction
from crisis_model.model import CrisisModel
from crisis_model.scoring.columns import ERRORS_SCHEMA, answer_cells, column_prefix, scored_schema, storable
from crisis_model.scoring.posts import predict_each
from crisis_model.scoring.reader import BadRow, Chunk, InputRow

MAX_IMAGE_MB = 20  # a larger photo file is not opened (as for an upload on the dashboard)


@dataclass
class ChunkResult:
    scored: pa.Table
    errors: pa.Table
    # scored, text_only, errors, warned, error_kinds, warning_kinds, not_judged ({task prefix: posts})
    stats: dict = field(default_factory=dict)


@dataclass
class Scorer:
    """The models (by run name) and options a collection is scored with."""

    models: dict[str, CrisisModel]
    images: Path | None
    batch_size: int = 32
    autocast_dtype: torch.dtype | None = None
    max_image_mb: float = MAX_IMAGE_MB

    @property
    def tasks(self) -> dict[str, list[str]]:
        """{column prefix: label names}."""
        return {column_prefix(name): list(model.config.label_names) for name, model in self.models.items()}

    def score(self, chunk: Chunk) -> ChunkResult:
        good = [row for row in chunk.rows if isinstance(row, InputRow)]
        errors = [row for row in chunk.rows if isinstance(row, BadRow)]
        photos = [self._photo(row.image_path) for row in good]
        posts = [{"text": row.text, "image": path or None} for row, (path, _, _) in zip(good, photos)]
        answers = predict_each(self.models, posts, self.batch_size, self.autocast_dtype)
        columns: dict[str, list] = {f.name: [] for f in scored_schema(self.tasks)}
        warning_kinds: Counter = Counter()
        for i, (row, (path, kind, note)) in enumerate(zip(good, photos)):
            per_task = {name: answers[name][i] for name in self.models}
            if all(isinstance(answer, str) for answer in per_task.values()):
                reason = next(iter(per_task.values()))
                errors.append(BadRow(row.row, "nothing_to_analyse", f"row {row.row}: {reason}", row.text[:200]))
                continue
            warnings = {kind: note} if kind else {}
            self._add_row(columns, row, per_task, path, warnings)
            warning_kinds.update(warnings.keys())
        scored = pa.table(columns, schema=scored_schema(self.tasks))
        errors.sort(key=lambda bad: bad.row)
        stats = {
            "rows": len(chunk.rows),
            "scored": scored.num_rows,
            "text_only": scored.num_rows - sum(columns["has_image"]),
            "errors": len(errors),
            "warned": sum(bool(w) for w in columns["warnings"]),
            "error_kinds": dict(Counter(bad.kind for bad in errors)),
            "warning_kinds": dict(warning_kinds),
            "not_judged": {
                column_prefix(name): n
                for name, answer in answers.items()
                if (n := sum(isinstance(a, Prediction) and a.label is None for a in answer))
            },
        }
        return ChunkResult(scored, self._errors_table(errors, {row.row: row for row in good}), stats)

    def _add_row(
        self, columns: dict[str, list], row: InputRow, per_task: dict, path: str, warnings: dict[str, str]
    ) -> None:
        """Appends one post's cells; `warnings` (kind -> message) gains what the models noted."""
        has_image = False
        for name, answer in per_task.items():
            prefix = column_prefix(name)
            labels = self.models[name].config.label_names
            if isinstance(answer, str):
                warnings.setdefault("task_skipped", f"{name}: not scored: {answer}")
                answer = None
            else:
                if answer.cannot_judge:
                    warnings.setdefault("task_cannot_judge", f"{name}: {answer.cannot_judge}")
                has_image |= answer.explanation.has_image
                for text in answer.explanation.warnings:  # "post <i>: ...": an index within the chunk, dropped
                    warnings.setdefault("photo_unreadable" if path else "model_note", text.split(": ", 1)[-1])
            for key, value in answer_cells(prefix, labels, answer).items():
                columns[key].append(value)
        for key, value in (
            ("row", row.row),
            ("post_id", row.post_id),
            ("text", row.text),
            ("image_path", row.image_path),
            ("created_at", row.created_at),
            ("has_image", has_image),
            ("warnings", storable("; ".join(dict.fromkeys(warnings.values())))),
        ):
            columns[key].append(value)

    def _photo(self, given: str) -> tuple[str, str, str]:
        """(absolute path of a photo to use or "", warning kind or "", warning) for a row's image_path."""
        path, note = resolve_image(given, self.images)
        if note:
            kind = (
                "photo_no_folder"
                if "no folder" in note
                else "photo_outside"
                if "must lie inside" in note
                else "photo_missing"
            )
            return "", kind, f"{given}: {note}"
        if not path:
            return "", "", ""
        try:
            size = os.path.getsize(path) / 2**20
        except OSError as err:  # gone or shut since it was found
            return "", "photo_unreadable", f"{given}: cannot be read ({os_reason(err)}): analysed as text only"
        if size > self.max_image_mb:
            return (
                "",
                "photo_too_large",
                f"{given}: {size:.1f} MB, over {self.max_image_mb:g} MB: analysed as text only",
            )
        return path, "", ""

    @staticmethod
    def _errors_table(errors: list[BadRow], rows: dict[int, InputRow]) -> pa.Table:
        found = [rows.get(bad.row) for bad in errors]
        return pa.table(
            {
                "row": [bad.row for bad in errors],
                "post_id": [row.post_id if row else str(bad.row) for bad, row in zip(errors, found)],
                "text": [storable(bad.text) for bad in errors],
                "image_path": [row.image_path if row else "" for row in found],
                "kind": [bad.kind for bad in errors],
                "reason": [storable(bad.reason) for bad in errors],
            },
            schema=ERRORS_SCHEMA,
        )
