"""End to end in a real browser: `streamlit run app.py` on 127.0.0.1, Debian's Chromium driven by
Playwright through every page; a post with a photo is analysed; full-page screenshots are saved
(to $CRISISLENS_SCREENSHOTS, default artifacts/screenshots/). Any Streamlit exception box fails.

Needs /usr/bin/chromium (`apt-get install -y chromium`) and the playwright package; it never runs
`playwright install`. Skips with the reason when either is missing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import pytest

from crisis_dashboard.routing import LOADING
from crisis_dashboard.routing import PAGES as PAGE_SPECS
from tests.dashboard_server import REPO, first_paints, record_first_paints, serve_dashboard, wait_idle

SHOTS = Path(os.environ.get("CRISISLENS_SCREENSHOTS", REPO / "artifacts" / "screenshots"))
PAGES = {  # url path -> the page's heading
    "": "CrisisLens overview",
    "browse": "Browse predictions",
    "situation": "The situation over time",
    "analyse": "Analyse a post",
    "attention": "Attention & routing",
    "review": "Review the model's answers",
    "guide": "How to read CrisisLens",
}
TAB_TITLES = {spec.title: spec.heading for spec in PAGE_SPECS}


@pytest.fixture(scope="module")
def server(browser, demo_run):
    if os.environ.get("CRISISLENS_BROWSER_URL"):  # an app already running (to look at it by hand)
        yield os.environ["CRISISLENS_BROWSER_URL"].rstrip("/")
        return
    env = {"CRISISLENS_RUN": str(demo_run), "CRISISLENS_CORRECTIONS": str(SHOTS.parent / "corrections.db")}
    with serve_dashboard(env, SHOTS.parent / "streamlit-browser-test.log", timeout=90) as (url, _):
        yield url


def charts_drawn(page, at_least: int, timeout: float = 60_000) -> int:
    """Waits until at least `at_least` Plotly charts are drawn (Plotly's code loads lazily)."""
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot').length >= {at_least}", timeout=timeout)
    return page.locator(".js-plotly-plot").count()


def no_exception(page, where: str) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, f"{where}: Streamlit exception box: {boxes.first.inner_text()[:2000]}"


def screenshot(page, name: str) -> Path:
    """A full-page screenshot; Streamlit scrolls inside its main container, so the viewport is
    made as tall as the content first."""
    count, stable = -1, 0
    while stable < 3:  # until the number of drawn charts has not changed for a while
        now = page.locator(".js-plotly-plot").count()
        stable = stable + 1 if now == count else 0
        count = now
        page.wait_for_timeout(400)
    height = page.evaluate(
        '() => Math.max(...[...document.querySelectorAll(\'[data-testid="stMain"], '
        '[data-testid="stAppViewContainer"], section.main\')].map(e => e.scrollHeight), 900)'
    )
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 16000)})
    page.wait_for_timeout(800)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    return path


def damaged_street():
    """A drawn photo of collapsed buildings, as the demo data has them."""
    import random

    from crisis_model.data.demo_drawing import draw_image

    image, _damage_boxes = draw_image(
        random.Random(1), "demo_earthquake", "infrastructure_and_utility_damage", "severe_damage"
    )
    return image


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url, wait_until="domcontentloaded")
    wait_idle(page)
    return page


def open_first_row(page) -> None:
    """Clicks the selection box of Browse's first table row and waits for the post's explanation
    (the table is drawn on a canvas: the row marker column is 32 px wide, the header and each row
    35 px high)."""
    table = page.locator('[data-testid="stDataFrame"]').first
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)
    wait_idle(page)
    page.get_by_text("Why the model said this").wait_for(timeout=60_000)


def test_every_page_and_the_analyse_flow(server, browser):
    for path, title in PAGES.items():
        page = open_page(browser, f"{server}/{path}")
        page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
        no_exception(page, f"/{path}")
        errors = page.locator('[data-testid="stAlertContentError"]')
        assert errors.count() == 0, f"/{path}: an error message on the demo default: {errors.first.inner_text()}"
        if path == "":
            assert page.get_by_text("Demo mode").count() >= 1
            assert charts_drawn(page, 4) >= 4
        if path == "browse":
            page.get_by_text("matching posts").first.wait_for()
            open_first_row(page)
            no_exception(page, "/browse post detail")
            assert charts_drawn(page, 4) >= 4
        if path == "attention":
            assert charts_drawn(page, 3) >= 3
        screenshot(page, f"{list(PAGES).index(path) + 1}_{path or 'overview'}")
        if path == "analyse":
            photo = SHOTS.parent / "upload.png"
            damaged_street().save(photo)
            page.get_by_label("Post text").fill("Bridge collapsed after the flood, families need rescue boats")
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(photo))
            page.get_by_text("upload.png").first.wait_for(timeout=30_000)
            page.get_by_role("button", name="Analyse").click()
            page.get_by_text("Why the model said this").first.wait_for(timeout=90_000)
            wait_idle(page)
            no_exception(page, "/analyse after analysing a post")
            assert page.get_by_text("Analysed the text together with the photo").count() == 1
            assert charts_drawn(page, 5) >= 5
            screenshot(page, "3_analyse_result")
        page.close()


def test_a_long_paste_is_kept_and_a_shared_link_reopens_the_task_and_post(server, browser):
    """The walk-through's two browser faults: a paste over 4,000 characters left the box empty, and
    a page opened in a new tab lost the task picked (and the post open)."""
    page = open_page(browser, f"{server}/analyse")
    long_post = ("Bridge collapsed after the flood, families on the roofs need rescue boats. " * 80)[:5000]
    box = page.get_by_label("Post text")
    box.focus()
    page.keyboard.insert_text(long_post)  # as a paste arrives: one input event with the whole text
    page.get_by_role("button", name="Analyse").click()
    page.get_by_text("characters long").first.wait_for(timeout=90_000)
    wait_idle(page)
    assert box.input_value() == long_post
    assert page.get_by_text("The post is empty").count() == 0
    page.close()

    page = open_page(browser, f"{server}/browse")
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="Damage severity").click()
    wait_idle(page)
    page.get_by_text("matching posts").first.wait_for()
    open_first_row(page)
    shared = page.url
    post = parse_qs(urlparse(shared).query)["post"][0]
    assert parse_qs(urlparse(shared).query)["task"] == ["damage"], shared
    page.close()

    tab = open_page(browser, shared)  # a new tab: a new session, only the address in common
    tab.get_by_role("heading", name=f"Post {post}").wait_for(timeout=60_000)
    no_exception(tab, "a shared link to a post")
    intro = tab.locator('[data-testid="stMarkdownContainer"]', has_text="model's answer for every").first.inner_text()
    assert intro.startswith("The Damage severity model's answer"), intro
    tab.close()


def assert_page(page, heading: str, where: str) -> None:
    """The page shows `heading`, its tab is titled after it, and Streamlit said no "Page not found"."""
    page.get_by_role("heading", name=heading).first.wait_for(timeout=30_000)
    no_exception(page, where)
    assert page.get_by_text("Page not found").count() == 0, f"{where}: 'Page not found' shown"
    title = page.title()
    assert title.endswith("· CrisisLens") and TAB_TITLES[title.removesuffix(" · CrisisLens")] == heading, title


def test_every_link_opens_its_page_in_a_new_tab_from_the_first_visit_on(browser, demo_run):
    """A fresh server, whose very first visit is a page's own address (as a bookmark or a shared
    link would be); then every sidebar link, and /overview, loaded by its href in a new tab."""
    env = {"CRISISLENS_RUN": str(demo_run), "CRISISLENS_CORRECTIONS": str(SHOTS.parent / "corrections.db")}
    with serve_dashboard(env, SHOTS.parent / "streamlit-links-test.log", timeout=90) as (url, _):
        first = open_page(browser, f"{url}/analyse")
        assert_page(first, "Analyse a post", "/analyse as the first visit")
        links = first.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]')
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        first.close()
        assert [urlparse(urljoin(url + "/", h)).path.strip("/") for h in hrefs] == list(PAGES), hrefs
        for href, heading in zip(hrefs + [f"{url}/overview"], list(PAGES.values()) + [PAGES[""]]):
            tab = open_page(browser, urljoin(url + "/", href))
            assert_page(tab, heading, href)
            tab.close()


FILE_NAMES = {"app", *(spec.url for spec in PAGE_SPECS)}  # what Streamlit's pages/ convention would list


def test_a_fresh_servers_first_visit_names_the_pages_never_their_files_and_says_it_is_loading(browser, demo_run):
    """The first visit after a server start is the slow one (torch, transformers and plotly are
    imported then): the sidebar names the pages, never their files, and a notice says the page is
    loading until it is drawn."""
    env = {"CRISISLENS_RUN": str(demo_run), "CRISISLENS_CORRECTIONS": str(SHOTS.parent / "corrections.db")}
    with serve_dashboard(env, SHOTS.parent / "streamlit-first-paint-test.log", timeout=90) as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        record_first_paints(page, LOADING)
        page.goto(f"{url}/browse", wait_until="domcontentloaded")
        wait_idle(page)
        assert_page(page, "Browse predictions", "/browse as the first visit")
        names, _, loading_shown = first_paints(page)
        assert not names & FILE_NAMES, f"file names in the sidebar: {sorted(names & FILE_NAMES)}"
        assert names == {spec.title for spec in PAGE_SPECS}, names
        assert loading_shown is not None, "the loading notice was never shown"
        assert page.get_by_text(LOADING).count() == 0, "the loading notice stayed after the page was drawn"
        page.close()


def test_browse_opens_a_scored_collection(browser, demo_run, tmp_path):
    """A collection written by the scoring command, opened by Browse through $CRISISLENS_COLLECTION:
    the page of posts, then one post with its photo, answers and explanation."""
    from crisis_model.scoring import ScoreOptions, score_collection

    run = demo_run
    data = Path(json.loads((run / "informative" / "train_config.json").read_text())["data_root"])
    lines = (data / "crisismmd_datasplit_all" / "task_informative_text_img_dev.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    posts = tmp_path / "posts.jsonl"
    with posts.open("w", encoding="utf-8") as handle:
        for line in lines[1:41]:
            cells = dict(zip(header, line.split("\t")))
            handle.write(
                json.dumps({"post_id": cells["image_id"], "text": cells["tweet_text"], "image_path": cells["image"]})
            )
            handle.write("\n")
        handle.write('{"text": ""}\n')  # nothing to analyse: counted among the errors
    scored = tmp_path / "scored"
    summary = score_collection(run, posts, scored, data, ScoreOptions(chunk_rows=16, progress=False))
    assert summary["scored"] > 16 and summary["errors"] == 1
    env = {"CRISISLENS_RUN": str(run), "CRISISLENS_COLLECTION": str(scored)}
    with serve_dashboard(env, SHOTS.parent / "streamlit-collection-test.log", timeout=90) as (url, _):
        page = open_page(browser, f"{url}/browse")
        page.get_by_text("matching posts").first.wait_for(timeout=60_000)
        no_exception(page, "/browse on a collection")
        screenshot(page, "5_browse_collection")
        assert page.get_by_text(f"{summary['scored']} matching posts").count() == 1
        open_first_row(page)
        no_exception(page, "/browse collection post")
        assert charts_drawn(page, 3) >= 3
        screenshot(page, "6_browse_collection_post")
        page.close()
