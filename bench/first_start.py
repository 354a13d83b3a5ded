#!/usr/bin/env python
"""The dashboard's first start on the embedded demo, as a new user meets it.

    python bench/first_start.py

Clones this repository (its committed state) into a temporary folder, so that no demo data, demo
run or feature cache exists, starts `streamlit run app.py` there with this interpreter, opens the
page in headless Chromium and waits until the demo is generated, its three models trained and the
Overview drawn (the script run over, no spinner, a chart drawn). Prints the seconds to the server's
health check, and from the page's request to the page names in the sidebar, to the loading notice and
to the Overview drawn; then the same for a second start, which reuses what the first made.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crisis_dashboard.routing import LOADING  # noqa: E402
from tests.dashboard_server import (  # noqa: E402
    REPO,
    browser_missing,
    first_paints,
    launch_chromium,
    record_first_paints,
    serve_dashboard,
    wait_idle,
)

FIRST_START_LIMIT_MS = 1_800_000  # generation and training on a slow machine


def time_start(checkout: Path, log: Path) -> tuple[float, float | None, float | None, float]:
    """Seconds from launch to the health check; from the page's request to the page names and to the
    loading notice (None: not seen) and to the Overview drawn."""
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    with serve_dashboard({}, log, cwd=checkout) as (url, _), sync_playwright() as p:
        healthy = time.perf_counter() - started
        page = launch_chromium(p).new_page(viewport={"width": 1400, "height": 1000})
        record_first_paints(page, LOADING)
        requested = time.perf_counter()
        page.goto(url)
        page.get_by_role("heading", name="CrisisLens overview").first.wait_for(timeout=FIRST_START_LIMIT_MS)
        page.wait_for_selector(".js-plotly-plot", timeout=FIRST_START_LIMIT_MS)
        wait_idle(page, timeout=FIRST_START_LIMIT_MS)
        drawn = time.perf_counter() - requested
        _, names, notice = first_paints(page)
        return healthy, names, notice, drawn


def main() -> None:
    if reason := browser_missing():
        sys.exit(f"cannot measure: {reason}")
    with tempfile.TemporaryDirectory(prefix="crisislens-first-start-") as tmp:
        checkout = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(checkout)], check=True)
        print("| start | server healthy (s) | page names (s) | loading notice (s) | Overview drawn (s) |")
        print("|---|---|---|---|---|")
        for name in ("first (demo generated and trained)", "second (reused)"):
            healthy, names, notice, drawn = time_start(checkout, Path(tmp) / "streamlit.log")
            seconds = " | ".join("not seen" if value is None else f"{value:.1f}" for value in (names, notice))
            print(f"| {name} | {healthy:.1f} | {seconds} | {drawn:.1f} |", flush=True)


if __name__ == "__main__":
    main()
