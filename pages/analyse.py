"""Analyse a post (/analyse): every task's answer for a post typed in, or for each row of a CSV file.
Its body: crisis_dashboard/views/analyse.py."""

from crisis_dashboard import routing

routing.show_page("analyse")
