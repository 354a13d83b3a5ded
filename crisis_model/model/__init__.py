"""The model: two readers (text, image), the fusion head, and CrisisModel that joins them."""

from crisis_model.model.modeling import CrisisModel
from crisis_model.model.outputs import CrisisOutput

__all__ = ["CrisisModel", "CrisisOutput"]
