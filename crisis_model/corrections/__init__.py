"""What reviewers say about the model's answers: the corrections database (`store`), the review
queue's strategies (`queue`), who holds which post and what each reviewer skipped (`claims`),
where reviewers disagree and Cohen's kappa (`agreement`), the reviewed set as a table to export
(`export`), and what a run trained from them reports (`report`). Training from the corrections is
crisis_model.training.corrections (`train.py --corrections`)."""

from crisis_model.corrections.queue import GROUP_COLUMN, STRATEGIES, build_queue, group_members
from crisis_model.corrections.store import SCHEMA_VERSION, CorrectionStore, Review, latest_reviews

__all__ = [
    "GROUP_COLUMN",
    "SCHEMA_VERSION",
    "STRATEGIES",
    "CorrectionStore",
    "Review",
    "build_queue",
    "group_members",
    "latest_reviews",
]
