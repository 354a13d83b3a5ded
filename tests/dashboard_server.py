"""Run the dashboard as a real server and reach it from headless Chromium.

Used by the browser test, the benchmark and the load test: `streamlit run app.py` on a free
127.0.0.1 port in its own process group, waited for until healthy, stopped with its children.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; `playwright install` needs the internet
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'  # the page's script run is over


def launch_chromium(playwright):
    """Debian's Chromium, headless, from a running `sync_playwright()`."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def wait_idle(page, timeout: float = 120_000) -> None:
    """Until the script run is over and no spinner is left, then a moment for charts to draw."""
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSpinner\"]')", timeout=timeout)
    page.wait_for_timeout(1200)
    page.wait_for_selector(IDLE, timeout=timeout)


# Installed before the page's own scripts: every link name the sidebar ever shows (the app's page
# links, or Streamlit's automatic list of the pages/ files, which must never appear), and
# when (ms after the navigation started) the names and a given text in the main area first appeared.
_RECORD_FIRST_PAINTS = """
const paints = window.crisislensPaints = {names: new Set(), namesAt: null, textAt: null};
new MutationObserver(() => {
  for (const link of document.querySelectorAll('[data-testid="stSidebar"] a')) {
    const lines = link.innerText.split("\\n").map(line => line.trim()).filter(Boolean);
    if (lines.length) paints.names.add(lines[lines.length - 1]);  // the last line: after the icon's name
    paints.namesAt ??= performance.now();
  }
  const main = document.querySelector('[data-testid="stMain"]');
  if (paints.textAt === null && main && main.innerText.includes(TEXT)) paints.textAt = performance.now();
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def record_first_paints(page, text: str) -> None:
    """From the next page load on, records what `first_paints` returns: install before `page.goto`."""
    page.add_init_script(f"const TEXT = {json.dumps(text)};" + _RECORD_FIRST_PAINTS)


def first_paints(page) -> tuple[set[str], float | None, float | None]:
    """(every page name the sidebar showed, seconds from the navigation's start to the first names,
    to the first time the text given to record_first_paints was in the main area; None: never)."""
    paints = page.evaluate(
        "({names: [...window.crisislensPaints.names], namesAt: window.crisislensPaints.namesAt,"
        " textAt: window.crisislensPaints.textAt})"
    )
    seconds = [None if paints[key] is None else paints[key] / 1000 for key in ("namesAt", "textAt")]
    return set(paints["names"]), *seconds


def browser_missing() -> str | None:
    """Why a headless-Chromium check cannot run here, or None when it can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_dashboard(
    env: dict[str, str], log: Path, timeout: float = 120, cwd: Path = REPO, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Starts the dashboard as `make app` does (two malloc arenas unless the environment says
    otherwise) from `cwd` (a checkout), with these extra environment variables (e.g. CRISISLENS_RUN), and yields (url,
    process) once it answers its health check; stops it on exit. Its output goes to `log`, whose
    tail is in the error when it does not start. `port`: a port chosen before (a sign-in's redirect
    address names it), else a free one."""
    port = port or free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=cwd,
            env={"MALLOC_ARENA_MAX": "2", **os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the process group started above
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False
