"""The address under AppTest on the session's demo run: a task or a post the page cannot show is
named on the page, never dropped in silence, and the address keeps saying what is on the screen."""

from __future__ import annotations

import pytest

from crisis_dashboard import literal
from crisis_dashboard.routing import page_file
from tests.dashboard_support import BROWSE, assert_clean

REVIEW = page_file("review")
NOT_IN_RUN = ["999999999", "abc", "-1"]  # a number too large, not a number, a negative one


def refusals(at, value: str) -> list[str]:
    """The page's warnings that name `value` as the address gave it."""
    return [w.value for w in at.warning if "asks for" in w.value and literal.inline(value) in w.value]


def shown_post(at) -> str:
    return next(h.value for h in at.subheader if h.value.startswith("Post ")).removeprefix("Post ")


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("CRISISLENS_CORRECTIONS", str(tmp_path / "corrections.db"))


def test_a_task_the_run_lacks_is_named_and_the_address_shows_the_task_shown(app):
    at = app(query={"task": "nope"})
    assert_clean(at)
    [warning] = refusals(at, "nope")
    assert "task nope, which is not in this run" in warning and "Informative or not" in warning
    assert at.session_state["task"] == "informative" and at.query_params["task"] == "informative"


@pytest.mark.parametrize("post", NOT_IN_RUN)
def test_a_post_not_in_the_run_is_named_on_browse_and_leaves_the_address(app, post):
    at = app(BROWSE, query={"post": post})
    assert_clean(at)
    [warning] = refusals(at, post)
    assert "which is not in this run" in warning
    assert "post" not in at.query_params and at.selectbox(key="br-post").value is None
    at.number_input(key="br-page").set_value(2).run()  # said once: the next click shows no warning
    assert not refusals(at, post)


def test_a_post_of_the_run_opens_from_the_address_on_review_and_stays_there(app, db):
    first = app(REVIEW)
    queued = shown_post(first)
    first.button(key="rv-skip").click().run()
    later = shown_post(first)
    assert later != queued and first.query_params["post"] == later  # the address follows the post shown

    linked = app(REVIEW, query={"post": later})
    assert_clean(linked)
    assert shown_post(linked) == later and not refusals(linked, later)


def test_a_post_not_in_the_queue_is_named_on_review_and_the_address_names_the_post_shown(app, db):
    at = app(REVIEW, query={"post": "-1"})
    assert_clean(at)
    [warning] = refusals(at, "-1")
    assert "which is not in this queue" in warning
    assert at.query_params["post"] == shown_post(at)
