"""Review: the run's posts in the order a strategy picks, one at a time; accept or correct each
task's answer, skip, undo; the corrections go to a database that train.py --corrections reads."""

from crisis_dashboard import review
from crisis_dashboard.routing import page_state

review.show(page_state())
