"""The Review page in a real browser: a reviewer reviews three posts, corrects one of them, reloads
the page, and finds the correction kept (in the reviewed set and in the progress); two reviewers in
browser contexts of their own, at once, each see the other's reviews. Screenshots go
where test_browser.py puts them."""

from __future__ import annotations

from crisis_model.corrections import CorrectionStore
from tests.dashboard_server import serve_dashboard, wait_idle
from tests.test_browser import SHOTS, no_exception, open_page, screenshot


def click(page, key: str) -> None:
    """Clicks the button Streamlit rendered for widget `key` and waits for the rerun."""
    page.locator(f".st-key-{key} button").first.click()
    wait_idle(page)


def shown_post(page) -> str:
    heading = page.locator('h3:has-text("Post ")').first
    heading.wait_for(timeout=60_000)
    return heading.inner_text().strip().removeprefix("Post ").strip()


def test_three_posts_reviewed_one_corrected_and_the_correction_kept_after_a_reload(browser, demo_run, tmp_path):
    db = tmp_path / "corrections.db"
    env = {"CRISISLENS_RUN": str(demo_run), "CRISISLENS_CORRECTIONS": str(db)}
    with serve_dashboard(env, SHOTS.parent / "streamlit-review-test.log", timeout=90) as (url, _):
        page = open_page(browser, f"{url}/review")
        name = page.get_by_role("textbox", name="Your name (reviewer)")
        name.fill("Ana")
        name.press("Enter")
        wait_idle(page)
        reviewed = []
        for turn in range(3):
            post = shown_post(page)
            page.locator(".st-key-rv-accept-informative button").wait_for(timeout=60_000)
            if turn == 1:
                fix = page.locator("[class*='st-key-rv-fix-informative-'] button").first
                fix.click()
                wait_idle(page)
                corrected = post
            else:
                click(page, "rv-accept-informative")
            no_exception(page, f"/review after reviewing post {post}")
            reviewed.append(post)
            if turn == 1:
                screenshot(page, "7_review")
            click(page, "rv-next")
        assert len(set(reviewed)) == 3

        page.reload(wait_until="domcontentloaded")
        wait_idle(page)
        no_exception(page, "/review after a reload")
        page.get_by_text("3 reviewed /").first.wait_for(timeout=60_000)
        table = page.locator('[data-testid="stTable"]').first.inner_text()
        assert corrected in table and "corrected" in table and table.count("accepted") == 2
        assert shown_post(page) not in reviewed  # the queue moved on to a post nobody reviewed
        page.close()
    latest = CorrectionStore(db).latest("informative").set_index("post_id")
    assert set(reviewed) <= set(latest.index)
    # any other post reviewed is a near-duplicate of a reviewed one, reviewed with it (the default)
    copies = latest.drop(index=reviewed)
    assert copies["duplicate_group"].notna().all(), copies
    assert set(copies["duplicate_group"]) <= set(latest.loc[reviewed, "duplicate_group"].dropna())
    assert latest.loc[corrected, "action"] == "correct" and latest.loc[corrected, "reviewer"] == "Ana"


def reviewer_tab(browser, url: str, name: str):
    """A browser context of its own (its own cookies and Streamlit session), on /review as `name`."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{url}/review", wait_until="domcontentloaded")
    wait_idle(page)
    box = page.get_by_role("textbox", name="Your name (reviewer)")
    box.fill(name)
    box.press("Enter")
    wait_idle(page)
    page.locator(".st-key-rv-accept-informative button").wait_for(timeout=60_000)
    return page


def reviewed_set(page) -> str:
    return page.locator('[data-testid="stTable"]').first.inner_text()


def test_two_reviewers_at_once_each_see_the_others_reviews(browser, demo_run, tmp_path):
    """Two analysts, two browser contexts open together on one server and one database: what one
    records, the other's page shows at its next rerun, and neither's work hides the other's."""
    db = tmp_path / "corrections.db"
    env = {"CRISISLENS_RUN": str(demo_run), "CRISISLENS_CORRECTIONS": str(db)}
    with serve_dashboard(env, SHOTS.parent / "streamlit-two-reviewers-test.log", timeout=90) as (url, _):
        ana, ben = reviewer_tab(browser, url, "Ana"), reviewer_tab(browser, url, "Ben")
        anas = shown_post(ana)
        click(ana, "rv-accept-informative")
        click(ben, "rv-next")  # any rerun of Ben's page reads the database again
        no_exception(ben, "/review, Ben's page after Ana's review")
        assert anas in reviewed_set(ben) and "Ana" in reviewed_set(ben)
        bens = shown_post(ben)
        assert bens != anas  # Ben's queue moved on to a post nobody has reviewed
        ben.locator("[class*='st-key-rv-fix-informative-'] button").first.click()
        wait_idle(ben)
        click(ana, "rv-next")
        no_exception(ana, "/review, Ana's page after Ben's correction")
        table = reviewed_set(ana)
        assert bens in table and "Ben" in table and "corrected" in table and anas in table
        for page in (ana, ben):
            page.context.close()
    latest = CorrectionStore(db).latest("informative").set_index("post_id")
    assert latest.loc[anas, "reviewer"] == "Ana" and latest.loc[bens, "reviewer"] == "Ben"
