"""Short texts embedded once per process: repeated queries cost no forward pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlgforge_core.config.sections import EmbeddingsConfig
from dlgforge_core.kb.embeddings import make_embedder


def test_repeated_and_whitespace_variant_queries_reuse_their_vector(monkeypatch):
    embedder = make_embedder(EmbeddingsConfig(), Path("."))
    model = embedder.model
    seen: list[list[str]] = []
    real = type(model).encode

    def counting(self, texts, *args, **kwargs):
        seen.append(list(texts))
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(type(model), "encode", counting)
    first = embedder.encode(["How long do refunds take for plan 77?", "unique question 9131"])
    again = embedder.encode(["  How long   do refunds\ttake for plan 77? ", "How long do refunds take for plan 77?"])
    assert seen == [["How long do refunds take for plan 77?", "unique question 9131"]]
    np.testing.assert_array_equal(again[0], first[0])
    np.testing.assert_array_equal(again[1], first[0])
    # a different text is encoded, and equal texts within one call only once
    mixed = embedder.encode(["another one 5521", "another one 5521", "unique question 9131"])
    assert seen[-1] == ["another one 5521"]
    np.testing.assert_array_equal(mixed[0], mixed[1])
    np.testing.assert_allclose(mixed[0], real(model, ["another one 5521"])[0]
                               / np.linalg.norm(real(model, ["another one 5521"])[0]), atol=1e-6)


def test_long_texts_are_not_kept(monkeypatch):
    embedder = make_embedder(EmbeddingsConfig(), Path("."))
    model = embedder.model
    calls: list[int] = []
    real = type(model).encode
    monkeypatch.setattr(type(model), "encode",
                        lambda self, texts, *a, **k: (calls.append(len(texts)), real(self, texts, *a, **k))[1])
    chunk = "The support desk answers tickets on working days. " * 40
    embedder.encode([chunk])
    embedder.encode([chunk])
    assert calls == [1, 1]


def test_clear_cache_makes_the_next_query_a_forward_pass(monkeypatch):
    # `kb eval` empties the caches before timing each mode: a later mode must pay for its
    # own query embeddings instead of reading the ones an earlier mode computed
    embedder = make_embedder(EmbeddingsConfig(), Path("."))
    model = embedder.model
    calls: list[list[str]] = []
    real = type(model).encode
    monkeypatch.setattr(type(model), "encode",
                        lambda self, texts, *a, **k: (calls.append(list(texts)), real(self, texts, *a, **k))[1])
    embedder.encode(["cleared question 4412"])
    embedder.encode(["cleared question 4412"])
    embedder.clear_cache()
    embedder.encode(["cleared question 4412"])
    assert calls == [["cleared question 4412"], ["cleared question 4412"]]
