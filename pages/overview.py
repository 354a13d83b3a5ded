"""Overview (/ and /overview): the dataset, each task's model card and scores, the shown model's details.
Its body: crisis_dashboard/views/overview.py."""

from crisis_dashboard import routing

routing.show_page("overview")
