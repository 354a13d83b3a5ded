"""Review (/review): the run's posts one at a time, each answer accepted or corrected.
Its body: crisis_dashboard/views/review.py."""

from crisis_dashboard import routing

routing.show_page("review")
