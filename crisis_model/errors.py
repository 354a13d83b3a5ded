"""The one exception type CrisisLens raises for bad input.

Every fault a user can cause (a corrupt image, a malformed TSV row, a broken checkpoint,
an unknown task name) is raised as a `CrisisLensError` whose message names the file
(and the line or post where it applies) and what is wrong with it. The CLI prints the
message without a traceback; the dashboard shows it on the page.
"""


class CrisisLensError(Exception):
    """Bad input: the message says which file or post, and what is wrong."""


class ImageError(CrisisLensError):
    """An image that cannot be decoded, is too large, or lies outside the allowed folder."""


class DataError(CrisisLensError):
    """A dataset or posts file that is missing, malformed or has unknown labels."""


class CheckpointError(CrisisLensError):
    """A checkpoint folder that is missing files, mismatched, or not safetensors + JSON."""


class BackboneUnavailableError(CrisisLensError):
    """Pretrained weights that cannot be found locally nor downloaded (e.g. offline)."""


class TrainingError(CrisisLensError):
    """A training run that cannot start or go on: bad options, a run folder in the way, a NaN loss."""
