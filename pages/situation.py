"""Situation over time (/situation): per event, the model's answers per hour or day.
Its body: crisis_dashboard/views/situation.py."""

from crisis_dashboard import routing

routing.show_page("situation")
