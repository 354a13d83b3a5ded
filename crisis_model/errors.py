"""The exceptions CrisisLens raises for faults a user can cause.

Every one of them is a `CrisisLensError`, whose message names the file (and the line or post where
it applies) and what is wrong with it: a corrupt image, a malformed TSV row, a broken checkpoint,
an option that does not exist. The subclasses say which kind of input was at fault, for callers
that treat them differently. The CLI prints the message without a traceback; the dashboard shows
it on the page.
"""


class CrisisLensError(Exception):
    """Bad input: the message says which file, post or option, and what is wrong."""


class ImageError(CrisisLensError):
    """An image that cannot be decoded, is too large, or lies outside the allowed folder."""


class DataError(CrisisLensError):
    """A dataset or posts file that is missing, malformed or has unknown labels."""


class CheckpointError(CrisisLensError):
    """A checkpoint folder that is missing files, mismatched, or not safetensors + JSON."""


class ConfigError(CrisisLensError):
    """A model or training option that does not exist or is out of range (a usage error)."""


class BackboneUnavailableError(CrisisLensError):
    """Pretrained weights that cannot be found locally nor downloaded (e.g. offline)."""


class TrainingError(CrisisLensError):
    """A training run that cannot start or go on: a run folder in the way, a NaN loss."""


class DatabaseError(CrisisLensError):
    """A corrections database that cannot be used: `kind` says which fault it is (locked, read-only,
    not a database, a newer schema...: crisis_model.corrections.store.FAULT_KINDS), so a caller can
    tell a fault that passes (a lock: try again) from a file to replace."""

    def __init__(self, message: str, kind: str = "unreadable") -> None:
        super().__init__(message)
        self.kind = kind


class ReviewConflict(CrisisLensError):
    """A review not recorded because another reviewer reviewed the same post after this one's page
    was drawn: `earlier` holds their reviews (crisis_model.corrections.store.OtherReview), and the
    reviewer chooses whether to record theirs over them."""

    def __init__(self, message: str, earlier: list) -> None:
        super().__init__(message)
        self.earlier = earlier
