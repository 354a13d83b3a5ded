"""How far an analyst can trust a model's answers: one verdict per run, measured on its held-out
test posts (metrics.json, written by train.py), shown beside every answer the model gives.

    untested   fewer than MIN_TEST_POSTS test posts, or no test scores per category: too few to know
    weak       the accuracy's confidence interval reaches down to what always giving the commonest
               answer scores, or some category is found or named too poorly (CLASS_FLOOR)
    reliable   otherwise

The accuracy's interval is Wilson's score interval at CONFIDENCE: on 37 test posts an accuracy of
0.80 could well be 0.65, and a model is called reliable only when even the low end beats the
commonest answer. A model can be right on most posts and still never find a rare category (every
"Severe damage" called "Little or no damage"): each category's precision (of the posts given that
answer, the share that were right) and recall (of the posts of that category, the share found) must
reach CLASS_FLOOR. Every threshold is named here, and the How-to-read page shows them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import streamlit as st

from crisis_dashboard.loaders import read_json
from crisis_dashboard.names import pretty
from crisis_model.errors import DataError
from crisis_model.run_folder import METRICS_FILE, TaskRun

MIN_TEST_POSTS = 30  # below this, one post more or less moves the scores by several points
CONFIDENCE = 0.95  # of the accuracy's Wilson interval
CLASS_FLOOR = 0.5  # the least precision and recall any category may have in a reliable model
Z = {0.9: 1.645, 0.95: 1.96, 0.99: 2.576}[CONFIDENCE]  # the normal quantile of the interval

THRESHOLDS = (
    f"at least {MIN_TEST_POSTS} test posts; the low end of the {CONFIDENCE:.0%} confidence interval on its "
    "accuracy (Wilson's) above the share of the commonest category (what always giving that answer would "
    f"score); and every category's precision and recall at least {CLASS_FLOOR:.2f}"
)
RELIABILITY_CAPTION = (
    "Reliability is measured on the test posts the model never saw in training. **Reliable** needs all of: "
    f"{THRESHOLDS}. **Untested**: too few test posts to know. **Weak**: otherwise. Reliable here means clearly "
    "better than the commonest answer on posts like its training data, not right on every post."
)
Verdict = Literal["reliable", "weak", "untested"]
BADGE_COLORS: dict[str, str] = {"reliable": "green", "weak": "orange", "untested": "gray"}


def wilson_interval(right: int, posts: int, z: float = Z) -> tuple[float, float]:
    """Wilson's score interval for a share of `right` out of `posts` (0 to 1 when there are none)."""
    if posts <= 0:
        return 0.0, 1.0
    share = right / posts
    centre = (share + z * z / (2 * posts)) / (1 + z * z / posts)
    half = z / (1 + z * z / posts) * math.sqrt(share * (1 - share) / posts + z * z / (4 * posts * posts))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Reliability:
    verdict: Verdict
    test_posts: int
    classes: int
    accuracy: float | None = None
    macro_f1: float | None = None
    interval: tuple[float, float] | None = None  # the accuracy's Wilson interval
    commonest_share: float | None = None  # what always giving the commonest answer scores
    why: str = ""  # the rule the verdict turned on, in words

    @property
    def trusted(self) -> bool:
        return self.verdict == "reliable"

    @property
    def title(self) -> str:
        return {"reliable": "Reliable model", "weak": "Weak model", "untested": "Untested model"}[self.verdict]

    @property
    def reason(self) -> str:
        """The verdict's evidence in plain sentences."""
        if self.accuracy is None:
            return self.why
        low, high = self.interval or (0.0, 1.0)
        scores = (
            f"on {self.test_posts:,} test posts it was right {self.accuracy:.0%} of the time "
            f"({CONFIDENCE:.0%} interval {low:.0%} to {high:.0%})"
        )
        if self.commonest_share is not None:
            scores += f"; always giving the commonest answer would score {self.commonest_share:.0%}"
        return f"{self.why} {scores[0].upper()}{scores[1:]}."


def reliability_from_metrics(metrics: Any, classes: int) -> Reliability:
    """The verdict from metrics.json's test split (`classes`: the model's number of categories)."""
    test = metrics.get("test") if isinstance(metrics, dict) else None
    if not isinstance(test, dict) or not _number(test.get("accuracy")):
        return Reliability("untested", 0, classes, why="No test scores in this run: nobody has measured its answers.")
    posts = int(test.get("posts") or 0)
    accuracy = float(test["accuracy"])
    macro_f1 = float(test["macro_f1"]) if _number(test.get("macro_f1")) else None
    interval = wilson_interval(round(accuracy * posts), posts)
    per_class = test.get("per_class") if isinstance(test.get("per_class"), dict) else {}
    supports = [c.get("support") for c in per_class.values() if isinstance(c, dict) and _number(c.get("support"))]
    commonest = max(supports) / sum(supports) if supports and sum(supports) else None
    found = dict(test_posts=posts, classes=classes, accuracy=accuracy, macro_f1=macro_f1, interval=interval,
                 commonest_share=commonest)  # fmt: skip
    if posts < MIN_TEST_POSTS:
        return Reliability("untested", **found, why=f"Too few test posts to know (fewer than {MIN_TEST_POSTS}).")
    if commonest is None:
        return Reliability("untested", **found, why="The test scores name no categories: its weak spots are unknown.")
    faults = []  # every rule it fails, so the badge's note names them all
    if interval[0] <= commonest:
        faults.append("Not clearly better than always giving the commonest answer.")
    if poor := _poor_categories(per_class):
        faults.append(f"It handles {poor} poorly.")
    if faults:
        return Reliability("weak", **found, why=" ".join(faults))
    return Reliability("reliable", **found, why="Clearly better than the commonest answer, in every category.")


def _poor_categories(per_class: dict[str, Any]) -> str:
    """The categories whose precision or recall is below CLASS_FLOOR, in words ("" when none)."""
    poor = []
    for label, scores in per_class.items():
        if not isinstance(scores, dict):
            continue
        low = [f"{name} {scores[name]:.2f}" for name in ("precision", "recall")
               if _number(scores.get(name)) and scores[name] < CLASS_FLOOR]  # fmt: skip
        if low:
            poor.append(f"{pretty(label)} ({', '.join(low)}, {int(scores.get('support') or 0)} test posts)")
    return "; ".join(poor)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
