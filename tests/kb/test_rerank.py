"""Optional cross-encoder rerank (retrieval.rerank), with a real cross-encoder saved locally."""

import pytest
import torch

from dlgforge_core.errors import KBError
from dlgforge_core.kb.embeddings import default_model_path

_TRANSFORMER_FILES = ["config.json", "model.safetensors", "tokenizer.json",
                      "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]


@pytest.fixture
def cross_encoder_dir(tmp_path):
    """MiniLM weights with a seeded one-logit head, saved as a cross-encoder folder."""
    from sentence_transformers import CrossEncoder

    base = tmp_path / "bert"
    base.mkdir()
    for name in _TRANSFORMER_FILES:
        (base / name).symlink_to(default_model_path() / name)
    torch.manual_seed(0)
    out = tmp_path / "cross-encoder"
    CrossEncoder(str(base), num_labels=1, device="cpu").save(str(out))
    return out


def test_rerank_orders_hits_by_cross_encoder_score(small_kb_folder, make_kb, cross_encoder_dir):
    from sentence_transformers import CrossEncoder

    kb = make_kb(small_kb_folder, rerank={"enabled": True, "model": str(cross_encoder_dir)})
    kb.build()
    query = "How do I fix a corrupt local database?"
    hits = kb.search(query, k=4)
    assert len(hits) == 4
    expected = CrossEncoder(str(cross_encoder_dir), device="cpu").predict(
        [(query, h.text) for h in hits])
    assert [h.score for h in hits] == pytest.approx([float(s) for s in expected], abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert kb.reranker.model is kb.reranker.model  # loaded once


def test_rerank_without_model_is_a_config_error(small_kb_folder, make_kb):
    with pytest.raises(KBError, match="retrieval.rerank.model"):
        make_kb(small_kb_folder, rerank={"enabled": True})
