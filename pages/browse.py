"""Browse predictions: a run's posts, or a scored collection's, with filters, paging and the
detail of one post (crisis_dashboard.views.browse)."""

from crisis_dashboard.routing import page_state
from crisis_dashboard.views import browse

browse.show(page_state())
