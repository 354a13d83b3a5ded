"""Attention & routing (/attention): how the model combines words and photo across the dataset.
Its body: crisis_dashboard/views/attention.py."""

from crisis_dashboard import routing

routing.show_page("attention")
