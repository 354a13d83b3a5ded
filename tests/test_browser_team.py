"""Sign-in in a real browser (issue 20), against an OpenID Connect provider this test starts itself
(oidc-provider-mock, in-process): a signed-out visitor sees the sign-in alone; a viewer cannot
record; two reviewers signed in in two browser contexts get different posts; a post one of them
reviewed after the other's page was drawn is shown to the other, who chooses; the database records
the signed-in identities. Screenshots go where test_browser.py puts them."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import pytest

from crisis_model.corrections import CorrectionStore
from tests.dashboard_server import free_port, serve_dashboard, wait_idle
from tests.test_browser import SHOTS, no_exception, screenshot
from tests.test_browser_review import click, shown_post

ANA, BEN, GUEST = "ana@relief.example", "ben@relief.example", "guest@partner.example"
CLAIM_MINUTES = 0.5  # long enough to hold a post while the other's page opens, short enough to wait out


@contextlib.contextmanager
def oidc_provider() -> Iterator[str]:
    """oidc-provider-mock served on 127.0.0.1 from a thread; yields its address."""
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # its authorize page refuses plain http otherwise
    from oidc_provider_mock import app
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", free_port(), app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def team_server(browser, demo_run, tmp_path) -> Iterator[tuple[str, object]]:
    port = free_port()
    with oidc_provider() as provider:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            'cookie_secret = "a-test-secret-not-for-production"\n'
            'client_id = "crisislens"\nclient_secret = "any"\n'
            f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
        )
        config = tmp_path / "crisislens.toml"
        config.write_text(
            f'[roles]\nreviewer = ["{ANA}", "{BEN}"]\nviewer = ["@partner.example"]\n'
            f"[review]\nclaim_minutes = {CLAIM_MINUTES}\n"
        )
        db = tmp_path / "corrections.db"
        env = {"CRISISLENS_RUN": str(demo_run), "CRISISLENS_CORRECTIONS": str(db), "CRISISLENS_CONFIG": str(config),
               "STREAMLIT_SECRETS_FILES": str(secrets)}  # fmt: skip
        with serve_dashboard(env, SHOTS.parent / "streamlit-team-test.log", timeout=90, port=port) as (url, _):
            yield url, db


def new_page(browser, url: str):
    """A browser context of its own (its own cookies and sign-in); the provider's CDN stylesheet is
    blocked (offline it would only slow each page)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else route.abort())
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    wait_idle(page)
    return page


def sign_in(browser, url: str, email: str):
    page = new_page(browser, url)
    page.locator(".st-key-sign-in button").first.click()
    page.get_by_placeholder("sub").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{url}/**")
    wait_idle(page)
    page.get_by_text(f"Signed in as {email}").first.wait_for(timeout=60_000)
    return page


def open_review(page, url: str):
    page.goto(f"{url}/review", wait_until="domcontentloaded")
    wait_idle(page)
    no_exception(page, "/review")
    return page


def test_sign_in_roles_claims_and_conflicts(browser, team_server) -> None:
    url, db = team_server
    visitor = new_page(browser, f"{url}/review")  # signed out: the sign-in and nothing else
    assert visitor.locator(".st-key-sign-in button").first.is_visible()
    assert visitor.get_by_text("Browse predictions").count() == 0
    assert visitor.locator('[data-testid="stSidebar"]').count() == 0 or not visitor.get_by_text("Review").count()
    screenshot(visitor, "team_1_signed_out")
    visitor.context.close()

    guest = open_review(sign_in(browser, url, GUEST), url)
    assert guest.locator(".st-key-rv-accept-informative button").first.is_disabled()
    assert guest.get_by_text("needs the reviewer role").count() == 1
    guest.context.close()

    ana, ben = sign_in(browser, url, ANA), sign_in(browser, url, BEN)
    anas = shown_post(open_review(ana, url))
    bens = shown_post(open_review(ben, url))
    assert anas != bens  # Ana's post is claimed: Ben's queue passed over it
    screenshot(ben, "team_2_reviewer")

    ben.wait_for_timeout(CLAIM_MINUTES * 60_000 + 1000)  # Ana's claim expires while she reads
    click(ben, "rv-skip")
    assert shown_post(ben) == anas  # free again, and first in the queue
    ben.locator("[class*='st-key-rv-fix-informative-'] button").first.click()
    wait_idle(ben)

    click(ana, "rv-accept-informative")  # her page was drawn before Ben's review
    no_exception(ana, "/review after a conflicting review")
    ana.get_by_text(f"{BEN} labelled this").first.wait_for(timeout=30_000)
    screenshot(ana, "team_3_conflict")
    assert [r for r in CorrectionStore(db).history()["reviewer"]] == [BEN]  # not recorded until she chooses
    click(ana, "rv-conflict-mine")
    history = CorrectionStore(db).history()
    assert history["reviewer"].tolist() == [BEN, ANA]  # both kept, as the signed-in identities
    assert set(history["post_id"]) == {anas}
    for page in (ana, ben):
        page.context.close()
