"""The dashboard shared by a team on one server (issue 20), under AppTest on the session's demo run:
a folder typed outside the configured roots creates and reveals nothing, admins pick runs under the
roots, the database is the operator's, a viewer cannot record, a server open to the network without
sign-in says so on every page, undo and skip outlive the session (a restart), and a review someone
else made after the page was drawn is shown to choose on."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from crisis_dashboard import access, literal
from crisis_dashboard.access import Visitor
from crisis_dashboard.routing import PAGES, page_file
from crisis_model.corrections import CorrectionStore, Review
from crisis_model.run_folder import discover_run
from tests.dashboard_support import assert_clean
from tests.test_review_page import REVIEW, shown_post


def files_under(folder) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*"))


def signed_in(monkeypatch, email: str, role: str) -> None:
    """A visitor signed in with `role` (what access.current_visitor returns after st.login)."""
    monkeypatch.setattr(access, "current_visitor", lambda config: Visitor(email, role, True, team=True))


def test_a_folder_typed_outside_the_roots_creates_and_reveals_nothing(app, db, tmp_path, monkeypatch):
    roots = tmp_path / "served"
    for task in ("informative", "damage"):  # what the listing looks for: a checkpoint's config
        (roots / "runs" / "harvey" / task / "checkpoint").mkdir(parents=True)
        (roots / "runs" / "harvey" / task / "checkpoint" / "config.json").write_text("{}")
    monkeypatch.setenv("CRISISLENS_ROOTS", str(roots))
    outside = tmp_path / "elsewhere"
    (outside / "exists").mkdir(parents=True)
    before = files_under(tmp_path)
    at = app()
    assert_clean(at)
    messages = []
    for typed in (str(outside / "exists"), str(outside / "new" / "folder"), str(roots / ".." / "elsewhere")):
        at.sidebar.text_input(key="_w_run_root").input(typed).run()
        at.sidebar.text_input(key="_w_collection_root").input(typed + "/c").run()
        assert not at.exception
        messages.append([e.value.replace(literal.inline(typed), "TYPED") for e in at.error])
        assert len(messages[-1]) == 2
        assert all("not under the folders this server serves from" in m for m in messages[-1])
    assert messages[0] == messages[1] == messages[2]  # the same words whether the folder exists or not
    assert files_under(tmp_path) == before  # nothing created
    at.sidebar.text_input(key="_w_run_root").input("").run()
    at.sidebar.text_input(key="_w_collection_root").input("").run()
    choices = at.sidebar.selectbox(key="_w_run_choice").options
    harvey = roots / "runs" / "harvey"
    listed = [str(harvey), str(harvey / "damage"), str(harvey / "informative")]
    assert choices == ["(as the server is configured)", *listed]


def test_a_team_server_opens_only_the_operators_database(app, db, tmp_path, monkeypatch):
    signed_in(monkeypatch, "lead@relief.example", "admin")
    at = app(REVIEW, corrections_db=str(tmp_path / "typed" / "c.db"))
    assert_clean(at)
    assert not [t for t in at.sidebar.text_input if t.key == "_w_corrections_db"]
    at.button(key="rv-accept-informative").click().run()
    assert not (tmp_path / "typed").exists()
    assert CorrectionStore(db).history()["reviewer"].tolist() == ["lead@relief.example"]


def test_a_viewer_reads_the_queue_and_cannot_record_or_choose_folders(app, db, monkeypatch):
    signed_in(monkeypatch, "guest@partner.example", "viewer")
    at = app(REVIEW)
    assert_clean(at)
    assert at.button(key="rv-accept-informative").disabled
    assert any("reviewer role" in i.value for i in at.info)
    assert not [t for t in at.sidebar.text_input if t.key in ("_w_run_root", "_w_data_root", "_w_collection_root")]


def test_served_to_the_network_without_sign_in_every_page_says_so(app, db, monkeypatch, capsys):
    monkeypatch.setattr(access, "server_address", lambda: "0.0.0.0")
    monkeypatch.setattr(access, "_warned", [])
    at = app()
    for spec in PAGES:
        at.switch_page(page_file(spec.url)).run()
        assert not at.exception
        assert any("has no sign-in" in e.value and "anyone who reaches it" in e.value for e in at.error), spec.url
    assert "WARNING: This CrisisLens server has no sign-in" in capsys.readouterr().err
    assert not [t for t in at.sidebar.text_input if t.key == "_w_run_root"]  # the paths stay the operator's


def test_undo_and_skip_outlive_the_session(app, db):
    at = app(REVIEW, reviewer="ana")
    first = shown_post(at)
    at.button(key="rv-accept-informative").click().run()
    at.button(key="rv-next").click().run()
    skipped = shown_post(at)
    at.button(key="rv-skip").click().run()
    at = app(REVIEW, reviewer="ana")  # a restart: a new session, nothing in the browser
    assert_clean(at)
    assert shown_post(at) not in (first, skipped)
    assert not at.button(key="rv-undo-button").disabled
    at.button(key="rv-undo-button").click().run()
    assert_clean(at)
    assert shown_post(at) == first
    assert CorrectionStore(db).latest().empty
    at.button(key="rv-unskip").click().run()
    at = app(REVIEW, reviewer="ana")
    assert shown_post(at) == first


def test_two_reviewers_get_different_posts_and_a_later_review_is_shown_to_choose_on(app, db):
    ana = app(REVIEW, reviewer="ana")
    ben = app(REVIEW, reviewer="ben")
    post = shown_post(ana)
    assert shown_post(ben) != post
    store = CorrectionStore(db)
    other = Review(post, "informative", "informative", "not_informative", "run", "cy")
    store.record([other], "correct")  # Cy reviewed Ana's post meanwhile (her claim had expired, say)
    ana.button(key="rv-accept-informative").click().run()
    assert not ana.exception
    assert any("cy labelled this *Not informative*" in w.value for w in ana.warning), [w.value for w in ana.warning]
    assert len(store.history()) == 1
    ana.button(key="rv-conflict-mine").click().run()
    assert_clean(ana)
    assert store.history()["reviewer"].tolist() == ["cy", "ana"]


def test_a_retrain_started_from_the_page_outlives_a_reload_and_can_be_served(app, db, demo_run, tmp_path, monkeypatch):
    from crisis_dashboard import retrain_job

    jobs = tmp_path / "jobs"
    monkeypatch.setenv("CRISISLENS_JOBS", str(jobs))
    at = app(REVIEW, reviewer="ana")
    next(b for b in at.button if b.key.startswith("rv-fix-informative-")).click().run()
    at.button(key="rv-retrain").click().run()
    assert_clean(at)
    assert retrain_job.status(jobs).started_by == "the laptop's user"
    assert at.button(key="rv-retrain").disabled  # one at a time per server
    with pytest.raises(retrain_job.JobRunning, match="one runs at a time"):
        retrain_job.start(jobs, discover_run(demo_run), db, "another admin")
    at = app(REVIEW, reviewer="ben")  # a reload, another admin: the same job
    assert_clean(at)
    deadline = time.monotonic() + 600
    while (job := retrain_job.status(jobs)).state == "running" and time.monotonic() < deadline:
        time.sleep(2)
    assert job.state == "done", retrain_job.log_tail(jobs, 40)
    at = app(REVIEW, reviewer="ana")
    assert any("retrained run is ready" in s.value for s in at.success)
    at.button(key="rv-serve").click().run()
    assert retrain_job.served(jobs, demo_run) == Path(job.out)  # instead of $CRISISLENS_RUN
    assert retrain_job.served(jobs, tmp_path / "another") is None  # the operator's next run takes over again
    at = app()  # a new visitor: the retrained run is the one served, and its Overview compares
    assert_clean(at)
    assert at.session_state["task"] == "informative"
    assert any("Trained with reviewers' corrections" in h.value for h in at.subheader)
    report = json.loads((Path(job.out) / "informative" / "corrections.json").read_text())
    assert report["source"] == str(db) and sum(report["applied"].values()) == 1  # Ana's correction


def test_a_reviewers_name_is_shown_as_written_never_as_a_link(app, db):
    """The name under an answer reviewed already is what someone typed (no sign-in): a Markdown link
    in it was drawn as a link on every other reviewer's page."""
    ana = app(REVIEW, reviewer="ana")
    post = shown_post(ana)
    name = "[Open the new guidelines](http://evil.example)"
    CorrectionStore(db).record([Review(post, "informative", "informative", "informative", "run", name)], "accept")
    ana.run()
    assert_clean(ana)
    said = [m.value for m in ana.markdown if "Reviewed:" in m.value]
    assert said and all(literal.inline(name) in value and "](http" not in value for value in said), said


def test_an_email_the_provider_says_is_unverified_gives_no_role(monkeypatch):
    """Roles are given by e-mail address; an identity provider that lets anyone sign up with any
    address marks it email_verified = false until proven, and such an address took its role."""
    from types import SimpleNamespace

    from crisis_dashboard import sign_in
    from crisis_dashboard.server_config import ServerConfig

    config = ServerConfig(roles={"admin": ("lead@relief.example",), "reviewer": (), "viewer": ()})
    monkeypatch.setattr(sign_in, "auth_configured", lambda: True)
    for claims, role in (({"email_verified": False}, None), ({"email_verified": True}, "admin"), ({}, "admin")):
        user = {"email": "lead@relief.example", **claims}
        monkeypatch.setattr(access, "st", SimpleNamespace(user=user))
        assert access.current_visitor(config).role == role, claims


def test_a_folder_typed_that_cannot_be_resolved_is_refused_not_raised(tmp_path):
    """A NUL in the typed text, or a loop of links under a root, raised out of resolve_state on
    every run of the admin's pages (before the sidebar where the text could be cleared)."""
    from crisis_dashboard.server_config import ServerConfig

    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    config = ServerConfig(roots=(tmp_path,))
    for typed in (f"{tmp_path}/a\x00b", f"{tmp_path}/loop/run"):
        path, why = config.under_roots(typed, restricted=True)
        assert path is None and "not under the folders this server serves from" in why


def test_an_answer_reviewers_disagreed_on_shows_the_label_an_admin_settled(app, db):
    """The card under an answer said the last reviewer's label where an admin had settled another,
    the one training takes."""
    ana = app(REVIEW, reviewer="ana")
    post = shown_post(ana)
    store = CorrectionStore(db)
    store.record([Review(post, "informative", "informative", "not_informative", "run", "ben")], "correct")
    store.record([Review(post, "informative", "informative", "informative", "run", "cy")], "accept")
    store.settle("informative", post, "not_informative", "lead")
    ana.run()
    assert_clean(ana)
    said = [m.value for m in ana.markdown if "Reviewed:" in m.value]
    assert said == [":green[**Reviewed:** settled as Not informative by lead (reviewers disagreed)]"], said


def test_an_undo_already_made_in_another_tab_says_so(app, db):
    """Two tabs of one reviewer: the second tab's Undo found the click taken back already, recorded
    nothing, and still said "Undone"."""
    first = app(REVIEW, reviewer="ana")
    first.button(key="rv-accept-informative").click().run()
    second = app(REVIEW, reviewer="ana")
    first.button(key="rv-undo-button").click().run()
    second.button(key="rv-undo-button").click().run()
    assert_clean(second)
    assert any(m.value.startswith("Already undone:") for m in second.markdown), [m.value for m in second.markdown]
    assert CorrectionStore(db).history()["action"].tolist() == ["accept", "undo"]
