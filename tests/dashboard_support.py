"""The demo run the dashboard tests use, built once per test session and shared by test_app.py and
test_browser.py through a module-level cache (a fixture in each module would build its own).

`demo_run_dir()` trains it with the real first-start code, `crisis_model.training.train_demo`, made
smaller (300 demo tweets, a feature cache the three tasks share) into a temporary folder;
or it reuses the run folder named by $CRISISLENS_TEST_RUN. It is trained well enough for the
faithfulness tests (tests/test_faithfulness.py) to check what its explanations claim, and its
informative model's answers differ from post to post, so checks that must be able to fail
(scoring a collection, bf16, concurrency) use it too: `informative_run_dir()`, `demo_data_dir()`.
Below them, the helpers of the AppTest tests (test_app.py, test_app_analyst.py).
"""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from PIL import Image

from crisis_dashboard.routing import page_file
from crisis_model.run_folder import TRAIN_CONFIG_FILE

_CACHE: dict[str, Path] = {}


def demo_run_dir() -> Path:
    """The session's demo run folder (<root>/{informative,humanitarian,damage}/), built on first call."""
    if "run" not in _CACHE:
        given = os.environ.get("CRISISLENS_TEST_RUN")
        if given:
            _CACHE["run"] = Path(given)
        else:
            from crisis_model.training import train_demo

            base = Path(tempfile.mkdtemp(prefix="crisislens-test-run-"))
            atexit.register(shutil.rmtree, base, ignore_errors=True)
            _CACHE["run"] = train_demo(
                base / "demo", data_dir=base / "demo-data", n_tweets=300, cache_dir=str(base / "cache")
            )
    return _CACHE["run"]


def informative_run_dir() -> Path:
    """The demo's informative run (one task run folder: <root>/informative/)."""
    return demo_run_dir() / "informative"


def demo_data_dir() -> Path:
    """The demo data the run was trained on (images in data_image/)."""
    config = json.loads((informative_run_dir() / TRAIN_CONFIG_FILE).read_text(encoding="utf-8"))
    return Path(config["data_root"])


# ------------------------------------------------------------------------------ AppTest helpers
# (the `app`, `demo_run` and `demo_data_home` fixtures are in conftest.py)

BROWSE = page_file("browse")
TIMEOUT = 180  # seconds for one AppTest script run (the first loads the models)


def answers(at_markdown) -> list[str]:
    """The answers on the page (AppTest markdown elements): the labels of widgets.answer_card."""
    from crisis_dashboard import widgets

    return [
        m.value.removeprefix("### ")
        for m in at_markdown
        if getattr(getattr(m, "proto", None), "help", None) == widgets.ANSWER_MARK
    ]


def charts(at) -> int:
    return len(at.get("plotly_chart"))


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def photo_bytes(fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (120, 130, 140)).save(buffer, format=fmt)
    return buffer.getvalue()
