"""The demo run the dashboard tests use, built once per test session and shared by test_app.py and
test_browser.py through a module-level cache (a fixture in each module would build its own).

`demo_run_dir()` trains it with the real first-start code, `crisis_model.training.train_demo`, made
small (150 demo tweets, two rounds, features kept in memory: about 35 s on 2 CPU cores) into a
temporary folder; or it reuses the run folder named by $CRISISLENS_TEST_RUN. Two rounds leave every
model answering one label for every post: a check that must be able to fail (scoring, bf16,
concurrency) uses `trained_run_dir()` instead, the informative task trained with the demo's full
settings (30 epochs: about 35 s), whose answers differ from post to post.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_CACHE: dict[str, Path] = {}


def _temporary(prefix: str) -> Path:
    base = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    return base


def demo_run_dir() -> Path:
    """The session's demo run folder (<root>/{informative,humanitarian,damage}/), built on first call."""
    if "run" not in _CACHE:
        given = os.environ.get("CRISISLENS_TEST_RUN")
        if given:
            _CACHE["run"] = Path(given)
        else:
            from crisis_model.training import train_demo

            base = _temporary("crisislens-test-run-")
            _CACHE["run"] = train_demo(
                base / "demo", data_dir=base / "demo-data", n_tweets=150, epochs=2, cache_dir=None
            )
    return _CACHE["run"]


def trained_run_dir() -> Path:
    """The session's trained informative run (<root>/informative/; its data in <root>/data), built on first call."""
    if "trained" not in _CACHE:
        from crisis_model.training import train_demo

        base = _temporary("crisislens-trained-run-")
        _CACHE["trained"] = (
            train_demo(base / "runs", data_dir=base / "data", n_tweets=150, tasks=("informative",), cache_dir=None)
            / "informative"
        )
    return _CACHE["trained"]


def trained_data_dir() -> Path:
    """The demo data `trained_run_dir()` was trained on (images in data_image/)."""
    return trained_run_dir().parents[1] / "data"
