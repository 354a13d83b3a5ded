"""Property-based: whatever text a post holds, the model answers or raises CrisisLensError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crisis_model import CrisisLensError, predict
from crisis_model.model.modeling import MAX_TEXT_CHARS, clean_text
from tests.conftest import tiny_model

MODEL = tiny_model("text").eval()


@given(st.text(max_size=2000))
def test_clean_text_is_printable_bounded_and_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    assert len(cleaned) <= MAX_TEXT_CHARS
    assert "\x00" not in cleaned
    assert clean_text(cleaned) == cleaned


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=600))
def test_any_text_gets_a_prediction_or_a_clear_error(text: str) -> None:
    try:
        [prediction] = predict(MODEL, [{"text": text}])
    except CrisisLensError as err:
        assert not clean_text(text)  # only a post with nothing in it is refused
        assert "post 0" in str(err)
        return
    assert prediction.label in MODEL.config.label_names
    assert 0 < len(prediction.explanation.tokens) <= MODEL.config.max_text_tokens
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
