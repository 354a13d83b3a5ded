"""Browse predictions (/browse): a run's posts, or a scored collection's, filtered and paged, and one post.
Its body: crisis_dashboard/views/browse.py."""

from crisis_dashboard import routing

routing.show_page("browse")
