"""The Review page in a real browser: a reviewer reviews three posts, corrects one of them, reloads
the page, and finds the correction kept (in the reviewed set and in the progress). Screenshots go
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
