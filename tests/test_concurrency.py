"""One cached model serves every dashboard session: predict must be safe under concurrent calls.

Checked on the session's trained run (tests/dashboard_support.py), whose labels and probabilities
differ from post to post: on a model that answers one label for everything, mixed-up answers
between threads would go unseen."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from crisis_model import load_model, predict
from crisis_model.data import load_crisismmd


def test_concurrent_predict_matches_sequential(informative_run, demo_data) -> None:
    model = load_model(informative_run / "checkpoint", device="cpu")
    table = load_crisismmd(demo_data, "informative", "agreed").head(50)
    posts = [
        {"text": text, "image": image if i % 4 else None}
        for i, (text, image) in enumerate(zip(table["text"], table["image_path"]))
    ]
    sequential = [predict(model, [post])[0] for post in posts]
    labels = {p.label for p in sequential}
    confidences = [p.confidence for p in sequential]
    assert len(labels) == 2, f"the model answers {labels} for every post: this test could not fail"
    assert max(confidences) - min(confidences) > 0.1

    def worker(_: int) -> list:
        return [predict(model, [post])[0] for post in posts]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(worker, range(8)))

    for run in results:
        for got, want in zip(run, sequential):
            assert got.label == want.label
            assert got.explanation.tokens == want.explanation.tokens
            np.testing.assert_allclose(list(got.probabilities.values()), list(want.probabilities.values()), atol=1e-5)
            np.testing.assert_allclose(
                got.explanation.routing_coefficients, want.explanation.routing_coefficients, atol=1e-5
            )
