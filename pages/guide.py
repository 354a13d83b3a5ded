"""How to read CrisisLens: the answers, their reliability and the explanations, in plain words."""

from crisis_dashboard.guide import show_guide
from crisis_dashboard.routing import page_state

page_state()
show_guide()
