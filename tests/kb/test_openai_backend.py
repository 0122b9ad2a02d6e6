"""`retrieval.embeddings.backend: openai` against a loopback /v1/embeddings (real model, real HTTP)."""

import json

import pytest

from dlgforge_core.errors import KBError
from dlgforge_core.kb.embeddings import SentenceTransformerEmbedder

from tests.kb.embedding_server import EmbeddingServer


class _Defaults:
    model, device, batch_size, trust_remote_code = None, "cpu", 64, False


@pytest.fixture(scope="module")
def minilm():
    return SentenceTransformerEmbedder(_Defaults(), base_dir=None).model


def test_openai_embeddings_backend_builds_and_searches(small_kb_folder, make_kb, minilm):
    with EmbeddingServer(minilm, api_key="test-key") as server:
        kb = make_kb(small_kb_folder, embeddings={
            "backend": "openai", "model": "minilm-http", "base_url": server.base_url,
            "api_key": "test-key", "batch_size": 8})
        report = kb.build()
        assert report.documents_embedded == 3 and report.chunks_embedded > 8
        assert max(len(batch) for batch in server.requests) <= 8
        embedded = sum(len(batch) for batch in server.requests)
        assert embedded >= report.chunks_embedded
        hits = kb.search("What does error E4012 mean?", k=2, mode="vector")
        assert hits[0].source == "guide.md" and "E4012" in hits[0].text
        assert server.requests[-1] == ["What does error E4012 mean?"]
    manifest = json.loads((kb.index_dir / "manifest.json").read_text())
    assert manifest["embedding"] == {"backend": "openai", "model": "minilm-http",
                                     "dimension": 384}


def test_unreachable_embeddings_endpoint_is_a_one_line_error(small_kb_folder, make_kb, minilm):
    with EmbeddingServer(minilm) as server:
        url = server.base_url
    kb = make_kb(small_kb_folder, embeddings={"backend": "openai", "model": "m",
                                              "base_url": url, "api_key": "k"})
    with pytest.raises(KBError) as err:
        kb.build()
    assert url in str(err.value) and "\n" not in str(err.value)
