"""Concurrent KB searches share one embedding call per batch, with the same results."""

import asyncio

import numpy as np
import pytest

from dlgforge_core.kb.query_batcher import QueryBatcher


def test_concurrent_queries_are_encoded_in_batches_with_the_model(built_kb):
    calls: list[int] = []
    model_encode = built_kb.embedder.encode

    def counting_encode(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return model_encode(texts)

    queries = [f"how do refunds work for plan number {i}" for i in range(12)]

    async def embed_all() -> list[np.ndarray]:
        batcher = QueryBatcher(counting_encode)
        return await asyncio.gather(*(batcher.embed(q) for q in queries))

    vectors = asyncio.run(embed_all())
    assert sum(calls) == len(queries) and len(calls) < len(queries)
    for query, vector in zip(queries, vectors):
        np.testing.assert_allclose(vector, model_encode([query])[0], atol=1e-5)


def test_an_encode_failure_reaches_every_waiter():
    def failing_encode(texts: list[str]) -> np.ndarray:
        raise RuntimeError("model crashed")

    async def embed_two():
        batcher = QueryBatcher(failing_encode)
        return await asyncio.gather(batcher.embed("a"), batcher.embed("b"), return_exceptions=True)

    results = asyncio.run(embed_two())
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]


def test_concurrent_asearch_equals_sequential_search(built_kb):
    queries = ["refund monthly plan", "share link expiry", "password reset email", "export data"]

    async def search_all():
        return await asyncio.gather(*(built_kb.asearch(q, k=3) for q in queries))

    together = asyncio.run(search_all())
    for query, hits in zip(queries, together):
        alone = built_kb.search(query, k=3)
        assert [h.chunk_id for h in hits] == [h.chunk_id for h in alone]
        assert [h.score for h in hits] == pytest.approx([h.score for h in alone], abs=1e-4)
