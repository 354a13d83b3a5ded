"""The columns of a scored collection: one row per post, then each task's answer.

    row, post_id, text, image_path (as written), created_at, has_image (the photo was used),
    warnings ("; "-joined: a photo missing, refused or unreadable, a task that could not score it)
    <task>_label, <task>_confidence, <task>_prob_<label> ..., <task>_text_weight, <task>_image_weight,
    <task>_joint_weight (the gate's weights of the three evidence groups, as in predictions.parquet)

A task's cells are empty where its model could not judge the post (a photo-judged task, such as
damage, for a post without a usable photo) or could not read it at all.

and the errors part: row, post_id, text, image_path, kind, reason. Every part of a collection
has the same schema, so the parts read as one table (pyarrow datasets, DuckDB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from crisis_model.data.files import lone_surrogate
from crisis_model.model.fusion import GROUPS
from crisis_model.predictions import prob_column, weight_column

if TYPE_CHECKING:
    from crisis_model.inference import Prediction

_ROW_FIELDS = [  # what both tables say of the input row
    pa.field("row", pa.int64()),
    pa.field("post_id", pa.string()),
    pa.field("text", pa.string()),
    pa.field("image_path", pa.string()),
]
POST_FIELDS = [
    *_ROW_FIELDS,
    pa.field("created_at", pa.string()),
    pa.field("has_image", pa.bool_()),
    pa.field("warnings", pa.string()),
]
ERRORS_SCHEMA = pa.schema([*_ROW_FIELDS, pa.field("kind", pa.string()), pa.field("reason", pa.string())])


def answer_cells(prefix: str, labels: list[str], answer: Prediction | None) -> dict[str, Any]:
    """One task's cells for one post (the dashboard's CSV scoring writes the same): empty where the
    model gave no answer (a weight that decided nothing is not shown)."""
    judged = answer is not None and answer.label is not None
    weights = answer.explanation.modality_weights if judged else {}
    return {
        f"{prefix}_label": answer.label if judged else None,
        f"{prefix}_confidence": answer.confidence if judged else None,
        **{prob_column(label, f"{prefix}_"): answer.probabilities.get(label) if judged else None for label in labels},
        **{weight_column(group, f"{prefix}_"): weights.get(group) for group in GROUPS},
    }


def storable(text: str) -> str:
    """`text` as a Parquet string column takes it: a message that quotes a path or cell holding half
    of a UTF-16 pair (a file name that is not UTF-8) shows it escaped, "\\udcff", instead of
    failing the part it is written to."""
    if lone_surrogate(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def column_prefix(name: str) -> str:
    """A task run's name as a column prefix: 'informative (run-a)' -> 'informative_run-a'."""
    return name.replace(" ", "_").replace("(", "").replace(")", "")


def task_fields(prefix: str, labels: list[str]) -> list[pa.Field]:
    return [
        pa.field(f"{prefix}_label", pa.string()),
        pa.field(f"{prefix}_confidence", pa.float32()),
        *(pa.field(prob_column(label, f"{prefix}_"), pa.float32()) for label in labels),
        *(pa.field(weight_column(group, f"{prefix}_"), pa.float32()) for group in GROUPS),
    ]


def scored_schema(tasks: dict[str, list[str]]) -> pa.Schema:
    """The schema of the scored parts, for tasks {column prefix: label names}."""
    return pa.schema(POST_FIELDS + [f for prefix, labels in tasks.items() for f in task_fields(prefix, labels)])
