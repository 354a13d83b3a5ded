"""A bounded load test of the running dashboard: several analysts at once.

Starts `streamlit run app.py` on 127.0.0.1 with a demo run, opens N headless Chromium pages on
"Analyse a post" (one browser session each, as N analysts), and has every page analyse posts at the
same time, round after round, until --rounds or --seconds is reached. Prints the posts/s held, the
errors (Streamlit exception boxes, error alerts, timeouts: must be 0) and the server's resident
memory after a warm-up round, after the first half and at the end (growth between the last two
points would point to a leak).

    python bench/load_test.py                      # 4 sessions, 6 rounds, at most 240 s
    python bench/load_test.py --sessions 2 --rounds 3 --run runs/demo

Needs Debian's /usr/bin/chromium and the playwright Python package (never `playwright install`).
Not a pytest test: it holds the machine's cores for minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from crisis_model.run_folder import demo_run_complete  # noqa: E402
from tests.dashboard_server import IDLE, REPO, launch_chromium, serve_dashboard, wait_idle  # noqa: E402

SETUP_TIMEOUT = 180_000  # ms: the first page loads the models
TEXTS = [
    "Bridge collapsed after the flood, families need rescue boats",
    "Volunteers collect water and food for the earthquake victims",
    "Three injured and two missing after the storm hit the coast",
    "Lovely sunny afternoon at the beach with friends",
    "Road closed downtown, power lines down after the hurricane",
]


def rss_mib(pid: int) -> float:
    """Resident memory of the process and its children, in MiB."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):  # the process may have ended
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def demo_run(given: str | None) -> Path:
    if given:
        return Path(given)
    if demo_run_complete(REPO / "runs" / "demo"):
        return REPO / "runs" / "demo"
    from crisis_model.training import train_demo

    base = Path(tempfile.mkdtemp(prefix="crisislens-load-"))
    return train_demo(base / "demo", data_dir=base / "data", n_tweets=150, epochs=2, cache_dir=None)


def page_errors(page) -> int:
    return (
        page.locator('[data-testid="stException"]').count()
        + page.locator('[data-testid="stAlertContentError"]').count()
    )


def analyse_round(pages, round_no: int, timeout_ms: float) -> tuple[int, int]:
    """Every page submits one post, then each is waited for: (posts analysed, errors)."""
    for i, page in enumerate(pages):
        text = f"{TEXTS[(round_no + i) % len(TEXTS)]} (analyst {i}, post {round_no})"
        page.get_by_label("Post text").fill(text)
        page.get_by_role("button", name="Analyse").click()
    done = errors = 0
    for i, page in enumerate(pages):
        try:
            # this round's answer is on the page (its text quoted), and the script run is over
            page.locator("blockquote", has_text=f"(analyst {i}, post {round_no})").first.wait_for(timeout=timeout_ms)
            page.get_by_text("Why the model said this").first.wait_for(timeout=timeout_ms)
            page.wait_for_selector(IDLE, timeout=timeout_ms)
            found = page_errors(page)
            errors += found
            done += found == 0
        except Exception as err:  # a timeout counts as an error
            print(f"  session {i}, round {round_no}: {type(err).__name__}: {str(err)[:200]}")
            errors += 1
    return done, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6, help="posts each session analyses (after a warm-up)")
    parser.add_argument("--seconds", type=float, default=240, help="stop starting rounds after this long")
    parser.add_argument("--run", help="run folder to serve (default runs/demo, else a fresh small demo run)")
    parser.add_argument("--photo", action="store_true", help="half the sessions also upload a photo")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    run = demo_run(args.run)
    log = REPO / "artifacts" / "load_test_streamlit.log"
    with serve_dashboard({"CRISISLENS_RUN": str(run)}, log) as (url, server):
        print(f"server pid {server.pid} at {url}, run {run}; RSS at start {rss_mib(server.pid):.0f} MiB")
        with sync_playwright() as p:
            browser = launch_chromium(p)
            pages = []
            for i in range(args.sessions):
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(url, wait_until="domcontentloaded")  # then navigate as an analyst would
                wait_idle(page, SETUP_TIMEOUT)
                page.get_by_role("link", name="Analyse a post").first.click()
                page.get_by_label("Post text").wait_for(timeout=60_000)
                wait_idle(page, SETUP_TIMEOUT)
                if args.photo and i % 2:
                    import random

                    from crisis_model.data.demo_drawing import draw_image

                    photo = Path(tempfile.mkdtemp()) / "street.png"
                    draw_image(
                        random.Random(i), "demo_earthquake", "infrastructure_and_utility_damage", "severe_damage"
                    ).save(photo)
                    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(photo))
                    page.get_by_text("street.png").first.wait_for(timeout=30_000)
                    wait_idle(page, SETUP_TIMEOUT)
                pages.append(page)
            warm_done, warm_errors = analyse_round(pages, -1, 180_000)  # model load, first figures
            rss = [rss_mib(server.pid)]
            print(f"warm-up: {warm_done} posts, {warm_errors} errors; RSS {rss[0]:.0f} MiB")
            total_done, total_errors, rounds = 0, warm_errors, 0
            started = time.perf_counter()
            for r in range(args.rounds):
                if time.perf_counter() - started > args.seconds:
                    break
                t0 = time.perf_counter()
                done, errors = analyse_round(pages, r, 120_000)
                total_done, total_errors, rounds = total_done + done, total_errors + errors, rounds + 1
                print(
                    f"round {r + 1}: {done} posts in {time.perf_counter() - t0:.1f} s, {errors} errors, "
                    f"RSS {rss_mib(server.pid):.0f} MiB"
                )
                if r + 1 == (args.rounds + 1) // 2:
                    rss.append(rss_mib(server.pid))
            elapsed = time.perf_counter() - started
            rss.append(rss_mib(server.pid))
            browser.close()
    print(
        f"\n{args.sessions} concurrent sessions, {rounds} rounds: {total_done} posts in {elapsed:.1f} s = "
        f"{total_done / elapsed:.2f} posts/s held; errors {total_errors}"
    )
    print(
        "server RSS MiB: after warm-up "
        + ", mid-run ".join(f"{v:.0f}" for v in rss[:-1])
        + f", end {rss[-1]:.0f} (growth after warm-up {rss[-1] - rss[0]:+.0f} MiB)"
    )
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
