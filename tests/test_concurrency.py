"""One cached model serves every dashboard session: predict must be safe under concurrent calls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from crisis_model import predict
from tests.conftest import TINY_TEXTS, tiny_model


def test_concurrent_predict_matches_sequential(tmp_path) -> None:
    model = tiny_model("full").eval()
    photos = []
    for i, color in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        path = tmp_path / f"photo{i}.png"
        Image.new("RGB", (240, 180), color).save(path)
        photos.append(str(path))
    posts = [
        {"text": TINY_TEXTS[i % len(TINY_TEXTS)] + f" #{i}", "image": photos[i % 3] if i % 4 else None}
        for i in range(50)
    ]
    sequential = [predict(model, [post])[0] for post in posts]

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
