"""Data: CrisisMMD folders and a user's posts files as one table, safe image decoding, and the
synthetic demo dataset."""

from crisis_model.data.crisismmd import LABEL_SOURCES, TASKS, Task, get_task, load_crisismmd
from crisis_model.data.normalise import normalise_text
from crisis_model.data.posts import load_posts_file, read_posts_upload
from crisis_model.data.table import COLUMNS, SPLITS, MissingImagesWarning, dataset_summary

__all__ = [
    "COLUMNS",
    "LABEL_SOURCES",
    "SPLITS",
    "TASKS",
    "MissingImagesWarning",
    "Task",
    "dataset_summary",
    "get_task",
    "load_crisismmd",
    "load_posts_file",
    "normalise_text",
    "read_posts_upload",
]
