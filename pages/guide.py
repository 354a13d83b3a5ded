"""How to read CrisisLens (/guide): the answers, their reliability and the explanations in plain words.
Its body: crisis_dashboard/views/guide.py."""

from crisis_dashboard import routing

routing.show_page("guide")
