"""Shared fixtures, and the test tiers they decide.

A test's tier follows from what it needs, never from a mark typed by hand:
    fast     needs no trained model, no subprocess and no browser: `make test-fast`, between edits
    slow     asks (directly or through another fixture) for one of SLOW_FIXTURES: a trained run,
             the feature cache (the readers run), a Python subprocess or a server
    browser  asks for the `browser` fixture (headless Chromium); it is slow too
`make test` runs every tier; CI runs `make test`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from crisis_model import CrisisModel, preset_config
from crisis_model.model.modeling import TEXT_INPUTS

REPO = Path(__file__).resolve().parents[1]
SHARED_CRISISMMD = REPO.parent / "shared" / "crisismmd"

TINY_TEXTS = [
    "flood water rising in the city, families need rescue boats",
    "bridge collapsed after the earthquake, road closed",
    "volunteers collect donations of food and water for victims",
    "what a lovely sunny day at the beach with friends",
    "new phone case arrived today, so happy",
    "three people injured and two missing after the storm",
] * 5


SLOW_FIXTURES = {
    "demo_run",  # trains the dashboard's demo models
    "feature_cache",  # tiny training runs
    "new_feature_cache",
    "python_process",  # train.py, the scoring command, torchrun, a server
    "browser",
    "crisismmd_root",  # reads the real CrisisMMD files beside the checkout
    "smollm2_reader",  # dequantises SmolLM2's 98 MB GGUF on a machine's first run
    "mpnet_reader",  # joins and unpacks MPNet's 404 MB of split wheels on a machine's first run
    "paper_size_tasks",  # builds GPT-2 124M and ResNet50 (three tasks' copies) and runs them
}
BROWSER_FIXTURES = {"browser"}


def pytest_report_header(config: pytest.Config) -> str:
    """The free disk where the tests write: a full disk fails tests far from its cause."""
    folder = tempfile.gettempdir()
    return f"free disk in {folder}: {shutil.disk_usage(folder).free / 2**30:.1f} GiB"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks each test slow or browser by the fixtures it uses (their whole closure)."""
    for item in items:
        needs = set(getattr(item, "fixturenames", ()))
        if needs & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if needs & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A small synthetic CrisisMMD folder (60 tweets, images, all three tasks and splits)."""
    from crisis_model.data.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "data", n_tweets=60, seed=0)


@pytest.fixture(scope="session")
def crisismmd_root() -> Path:
    """The real CrisisMMD v2.0 text and labels beside the checkout (../shared/crisismmd); skips without them."""
    if not (SHARED_CRISISMMD / "crisismmd_datasplit_all").is_dir():
        pytest.skip(f"the real CrisisMMD data is not at {SHARED_CRISISMMD}")
    return SHARED_CRISISMMD


@pytest.fixture(scope="session")
def smollm2_reader() -> CrisisModel:
    """The smollm2 preset's SmolLM2-135M (its first layer) as a text-only model, in eval mode."""
    return CrisisModel.from_config(preset_config("smollm2", fusion="text", text_layers=1), seed=0).eval()


@pytest.fixture(scope="session")
def mpnet_reader() -> CrisisModel:
    """The MPNet reader (all-mpnet-base-v2, joined from its split wheels) as a text-only model."""
    return CrisisModel.from_config(preset_config("offline", fusion="text"), seed=0).eval()


@pytest.fixture(scope="session")
def demo_run() -> Path:
    """The session's trained demo run, one folder per task (tests/dashboard_support.py), trained once."""
    from tests.dashboard_support import demo_run_dir

    return demo_run_dir()


@pytest.fixture(scope="session")
def informative_run(demo_run) -> Path:
    """The demo run's informative model: its answers differ from post to post, so a check on them can fail."""
    return demo_run / "informative"


@pytest.fixture(scope="session")
def demo_data(demo_run) -> Path:
    """The demo data the session's run was trained on (photos under data_image/)."""
    from tests.dashboard_support import demo_data_dir

    return demo_data_dir()


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory) -> Path:
    """One feature cache for every tiny training run of the session: the readers read each post once."""
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="session")
def new_feature_cache(tmp_path_factory) -> Callable[[], Path]:
    """`new_feature_cache()`: an empty feature cache of its own, for a test that counts or damages
    what the readers computed (the session's cache holds other tests' entries too)."""
    return lambda: tmp_path_factory.mktemp("own-feature-cache")


@pytest.fixture
def train_config(tmp_path, demo_root, feature_cache):
    """A tiny model's training on the 60-tweet demo (2 epochs, the session's feature cache) into tmp_path/run."""
    from crisis_model.training import TrainConfig

    return TrainConfig(
        out=str(tmp_path / "run"),
        data_root=str(demo_root),
        preset="tiny",
        epochs=2,
        workers=0,
        cache_dir=str(feature_cache),
    )


@pytest.fixture(scope="session")
def python_process() -> Callable[..., subprocess.Popen]:
    """`python_process(*args, env=...)`: this Python on `args` in the repository, importing its code
    (PYTHONPATH), with pipes for stdout and stderr; the caller waits for it."""

    def start(*args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
        options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
        environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        return subprocess.Popen([sys.executable, *args], cwd=REPO, env=environment, **options)

    return start


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Headless Debian Chromium through Playwright, shared by the session's browser tests."""
    from tests.dashboard_server import browser_missing, launch_chromium

    if reason := browser_missing():
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def demo_data_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home") / "demo-data"


@pytest.fixture
def app(demo_run, demo_data_home, monkeypatch):
    """An AppTest of app.py on the session's demo run; `app(page)` runs that page, `app(query=...)`
    opens the address with that query (?task=...), as a new tab on a shared link does. Where the app
    would generate the demo dataset (a run without its training data), it does so in a temporary
    folder, not in the checkout's runs/."""
    from streamlit.testing.v1 import AppTest

    from crisis_dashboard import state as app_state
    from tests.dashboard_support import TIMEOUT

    monkeypatch.setenv("CRISISLENS_RUN", str(demo_run))
    monkeypatch.delenv("CRISISMMD_ROOT", raising=False)
    monkeypatch.setattr(app_state, "demo_data_dir", lambda: demo_data_home)

    def run(page: str | None = None, query: dict[str, str] | None = None, **state) -> AppTest:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
        at.query_params.update(query or {})
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        if page:
            at.switch_page(page).run()
        return at

    return run


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    """A corrections database the dashboard under test uses ($CRISISLENS_CORRECTIONS), not made yet."""
    path = tmp_path / "workspace" / "corrections.db"
    monkeypatch.setenv("CRISISLENS_CORRECTIONS", str(path))
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run folder holding an untrained tiny model's checkpoint (every fusion branch, answers of no
    meaning): what in-process scoring and checkpoint tests load in a fraction of a second."""
    run = tmp_path_factory.mktemp("tiny-run")
    torch.manual_seed(0)
    tiny_model("full").save_pretrained(run / "checkpoint")
    return run


@pytest.fixture(scope="session")
def paper_size_tasks() -> dict[str, CrisisModel]:
    """The paper architecture (GPT-2 124M + ResNet50, random weights) for the three CrisisMMD tasks,
    each with its own head and its own copy of the readers (equal weights): bench/shared_reading.py."""
    from bench.models import FALLBACK_TEXTS
    from bench.shared_reading import paper_size_tasks as build

    return build(FALLBACK_TEXTS * 4)


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


def tiny_model(fusion: str = "full", **overrides) -> CrisisModel:
    config = preset_config("tiny", fusion=fusion, **overrides)
    return CrisisModel.from_config(config, train_texts=TINY_TEXTS)


def text_inputs(model: CrisisModel, texts: list[str]) -> dict:
    """What the model's forward (and its text reader's) takes of `model.tokenize(texts)`."""
    encoded = model.tokenize(texts)
    return {key: encoded[key] for key in TEXT_INPUTS}
