"""Answers of one post that cannot both be right: the models of the three tasks answer separately,
so a post can come out "Not informative" yet "Infrastructure and utility damage". The dashboard
says so beside the answers instead of showing both as if they agreed. No Streamlit here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crisis_dashboard.names import pretty, task_title


@dataclass(frozen=True)
class Contradiction:
    tasks: tuple[str, str]  # the two tasks whose answers clash
    note: str  # what clashes, in words


def contradictions(answers: Mapping[str, str | None]) -> list[Contradiction]:
    """The clashes among one post's answers (task -> label; None where a model gave no answer)."""
    info, category, damage = (answers.get(task) for task in ("informative", "humanitarian", "damage"))
    found = []
    if info == "not_informative" and category not in (None, "not_humanitarian"):
        found.append(_clash("informative", info, "humanitarian", category))
    if info == "informative" and category == "not_humanitarian":
        found.append(_clash("informative", info, "humanitarian", category))
    if info == "not_informative" and damage == "severe_damage":
        found.append(_clash("informative", info, "damage", damage))
    return found


def _clash(task_a: str, label_a: str, task_b: str, label_b: str) -> Contradiction:
    note = (
        f"**{task_title(task_a)}** says *{pretty(label_a)}*, yet **{task_title(task_b)}** says "
        f"*{pretty(label_b)}*: both cannot be right. Each task has its own model; read the post before "
        "relying on either answer."
    )
    return Contradiction((task_a, task_b), note)


def clashing_with(clashes: list[Contradiction], task: str) -> list[str]:
    """The titles, in lower case, of the tasks whose answers clash with `task`'s (for its card)."""
    return [task_title(other).lower() for c in clashes if task in c.tasks for other in c.tasks if other != task]
