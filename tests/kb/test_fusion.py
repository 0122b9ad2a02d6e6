"""kb.fusion: min-max convex fusion at document and chunk level, and weighted RRF."""

from __future__ import annotations

import pytest

from dlgforge_core.kb.fusion import Fusion, fuse


def _rows(*pairs: tuple[str, str, float]) -> list[tuple[dict, float]]:
    return [({"chunk_id": cid, "source": source}, score) for cid, source, score in pairs]


VECTOR = _rows(("a1", "a.md", 0.9), ("b2", "b.md", 0.7), ("c1", "c.md", 0.5))
FULLTEXT = _rows(("b1", "b.md", 12.0), ("c1", "c.md", 4.0), ("d1", "d.md", 2.0))


def test_document_level_convex_counts_a_document_found_by_both_halves_through_other_chunks():
    fused = fuse([(VECTOR, 0.5), (FULLTEXT, 0.5)], Fusion())
    # normalised: vector a 1, b 0.5, c 0; full-text b 1, c 0.2, d 0
    # documents: b 0.5*0.5 + 0.5*1 = 0.75, a 0.5, c 0.1, d 0
    assert [row["chunk_id"] for row, _ in fused] == ["b1", "b2", "a1", "c1", "d1"]
    assert [round(score, 6) for _, score in fused] == [0.75, 0.75, 0.5, 0.1, 0.0]


def test_chunk_level_convex_fuses_chunks_on_their_own():
    fused = fuse([(VECTOR, 0.5), (FULLTEXT, 0.5)], Fusion(level="chunk"))
    # a1 0.5, b1 0.5, b2 0.25, c1 0.1, d1 0: ties broken by chunk id
    assert [row["chunk_id"] for row, _ in fused] == ["a1", "b1", "b2", "c1", "d1"]
    assert [round(score, 6) for _, score in fused] == [0.5, 0.5, 0.25, 0.1, 0.0]


def test_vector_weight_moves_the_balance():
    fused = fuse([(VECTOR, 0.9), (FULLTEXT, 0.1)], Fusion())
    # documents: a 0.9, b 0.45 + 0.1 = 0.55
    assert [row["source"] for row, _ in fused][:2] == ["a.md", "b.md"]
    assert fused[0][1] == pytest.approx(0.9)


def test_rrf_at_chunk_level_scales_rank_one_to_one():
    fused = fuse([(VECTOR, 0.5), (FULLTEXT, 0.5)], Fusion(method="rrf", level="chunk", rrf_k=60))
    scores = {row["chunk_id"]: score for row, score in fused}
    # c1 is rank 3 in vector and 2 in full-text: 0.5 * 61/63 + 0.5 * 61/62
    assert scores["c1"] == pytest.approx(0.5 * 61 / 63 + 0.5 * 61 / 62)
    assert scores["a1"] == pytest.approx(0.5) and fused[0][0]["chunk_id"] == "c1"


def test_single_candidate_and_empty_lists():
    fused = fuse([(_rows(("x", "x.md", 3.0)), 1.0), ([], 1.0)], Fusion())
    assert [(row["chunk_id"], score) for row, score in fused] == [("x", 0.5)]
    assert fuse([([], 0.5), ([], 0.5)], Fusion()) == []


def test_one_chunk_text_in_two_documents_counts_once_per_document():
    # chunk ids are content hashes: boilerplate shared by two documents is one id, two rows
    vector = _rows(("same", "a.md", 0.9), ("same", "b.md", 0.9), ("c1", "c.md", 0.5))
    fulltext = _rows(("c1", "c.md", 9.0), ("same", "a.md", 1.0), ("same", "b.md", 1.0))
    fused = fuse([(vector, 0.5), (fulltext, 0.5)], Fusion(method="rrf", level="chunk"))
    scores = {(row["chunk_id"], row["source"]): score for row, score in fused}
    assert len(fused) == 3
    # each row once per list, never summed over its copies: a.md ranks 1st and 2nd
    assert scores[("same", "a.md")] == pytest.approx(0.5 + 0.5 * 61 / 62)
    assert scores[("same", "b.md")] == pytest.approx(0.5 * 61 / 62 + 0.5 * 61 / 63)
    fulltext = _rows(("c1", "c.md", 9.0), ("same", "a.md", 5.0), ("same", "b.md", 5.0),
                     ("d1", "d.md", 1.0))
    documents = fuse([(vector, 0.5), (fulltext, 0.5)], Fusion())
    # vector: a 1, b 1, c 0; full-text: c 1, a 0.5, b 0.5, d 0
    assert [(row["source"], score) for row, score in documents] == [
        ("a.md", 0.75), ("b.md", 0.75), ("c.md", 0.5), ("d.md", 0.0)]


def test_the_search_default_is_the_config_default():
    from dlgforge_core.config.retrieval_fusion import FusionConfig

    assert Fusion() == Fusion.from_config(FusionConfig()) == Fusion.from_config(None)
