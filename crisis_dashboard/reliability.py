"""How far an analyst can trust a model's answers: one verdict per run, measured on its held-out
test posts (metrics.json, written by train.py), shown beside every answer the model gives.

    untested   fewer than MIN_TEST_POSTS test posts (or no test scores at all): too few to know
    weak       the test macro F1 is less than WEAK_MARGIN above what guessing gets (1 / classes)
    reliable   otherwise

Macro F1 is the mean over the categories of how well each one is found, so a model that always
gives the commonest answer scores low however common that answer is. Guessing at random among K
categories gets about 1 / K.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import streamlit as st

from crisis_dashboard.loaders import read_json
from crisis_model.errors import DataError
from crisis_model.run_folder import METRICS_FILE, TaskRun

MIN_TEST_POSTS = 30  # below this, one post more or less moves the scores by several points
WEAK_MARGIN = 0.15  # macro F1 closer than this to chance is called weak
RELIABILITY_CAPTION = (
    f"Reliability is measured on the test posts the model never saw in training. **Untested**: fewer than "
    f"{MIN_TEST_POSTS} test posts, too few to know. **Weak**: its macro F1 (how well it finds every category, "
    f"0 to 1) is less than {WEAK_MARGIN:.2f} above what guessing gets (1 ÷ the number of categories). "
    "**Reliable**: otherwise. Reliable here means better than guessing on posts like its training data, "
    "not right on every post."
)
Verdict = Literal["reliable", "weak", "untested"]
BADGE_COLORS: dict[str, str] = {"reliable": "green", "weak": "orange", "untested": "gray"}


@dataclass(frozen=True)
class Reliability:
    verdict: Verdict
    test_posts: int
    classes: int
    accuracy: float | None = None
    macro_f1: float | None = None

    @property
    def chance_f1(self) -> float:
        return 1 / max(self.classes, 1)

    @property
    def trusted(self) -> bool:
        return self.verdict == "reliable"

    @property
    def title(self) -> str:
        return {"reliable": "Reliable model", "weak": "Weak model", "untested": "Untested model"}[self.verdict]

    @property
    def reason(self) -> str:
        """The verdict's evidence in one plain sentence."""
        if self.macro_f1 is None:
            return "No test scores in this run: nobody has measured how often it is right."
        right = f"right {self.accuracy:.0%} of the time, " if self.accuracy is not None else ""
        scores = (
            f"on {self.test_posts:,} test posts: {right}macro F1 {self.macro_f1:.2f} (guessing: {self.chance_f1:.2f})"
        )
        if self.verdict == "untested":
            return f"Too few test posts to know, {scores}."
        if self.verdict == "weak":
            return f"Close to guessing {scores}. Check its answers yourself."
        return f"Well above guessing {scores}."


def reliability_from_metrics(metrics: Any, classes: int) -> Reliability:
    """The verdict from metrics.json's test split (`classes`: the model's number of categories)."""
    test = metrics.get("test") if isinstance(metrics, dict) else None
    if not isinstance(test, dict) or not isinstance(test.get("macro_f1"), (int, float)):
        return Reliability("untested", 0, classes)
    posts = int(test.get("posts") or 0)
    accuracy = test.get("accuracy") if isinstance(test.get("accuracy"), (int, float)) else None
    macro_f1 = float(test["macro_f1"])
    if posts < MIN_TEST_POSTS:
        verdict: Verdict = "untested"
    elif macro_f1 < 1 / max(classes, 1) + WEAK_MARGIN:
        verdict = "weak"
    else:
        verdict = "reliable"
    return Reliability(verdict, posts, classes, accuracy, macro_f1)


def reliability_of(run: TaskRun) -> Reliability:
    """The run's verdict; untested when its metrics.json is missing or unreadable."""
    try:
        metrics = read_json(run.file(METRICS_FILE))
    except DataError:
        metrics = None
    return reliability_from_metrics(metrics, len(run.label_names) or 2)


def badge(reliability: Reliability) -> str:
    """The verdict as a coloured Streamlit markdown badge."""
    icon = "" if reliability.trusted else "⚠ "
    return f":{BADGE_COLORS[reliability.verdict]}-badge[{icon}{reliability.title}]"


def reliability_badge(run: TaskRun, *, detail: bool = True) -> Reliability:
    """The run's badge on the page, with why (`detail`) and what the words mean one hover away."""
    reliability = reliability_of(run)
    st.markdown(badge(reliability), help=RELIABILITY_CAPTION)
    if detail:
        st.caption(reliability.reason)
    return reliability
