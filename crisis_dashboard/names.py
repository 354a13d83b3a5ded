"""The words the dashboard shows for the library's names: tasks, labels, fusion variants."""

from __future__ import annotations

TASK_TITLES = {
    "informative": "Informative or not",
    "humanitarian": "Humanitarian category",
    "damage": "Damage severity",
}
TASK_HELP = {
    "informative": "Is the post useful for humanitarian response?",
    "humanitarian": "What kind of information does the post report (damage, rescue, affected people ...)?",
    "damage": "How severe is the damage the photo shows?",
}
CANNOT_JUDGE = "Cannot judge"  # the answer of a model that needs a photo (damage) to a post without one
FUSION_HELP = {
    "full": "words and photo read together (attention), weighted per post, combined by dynamic routing",
    "attention": "words and photo read together (attention), weighted per post, no routing",
    "concat": "words and photo summarised separately and joined, no attention",
    "text": "words only",
    "image": "photo only",
}


def pretty(label: str) -> str:
    """'infrastructure_and_utility_damage' -> 'Infrastructure and utility damage'."""
    text = str(label).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def task_title(task: str) -> str:
    return TASK_TITLES.get(task, pretty(task))
