"""Shared fixtures: a small generated demo dataset and tiny models, built once per session."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A small synthetic CrisisMMD folder (60 tweets, images, all three tasks and splits)."""
    from crisis_model.data.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "data", n_tweets=60, seed=0)


@pytest.fixture(scope="module")
def demo_run() -> Path:
    from tests.dashboard_support import demo_run_dir

    return demo_run_dir()


@pytest.fixture(scope="module")
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
