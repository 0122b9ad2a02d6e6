"""Issue 3, test 3: recall@4 of hybrid search on known answer passages."""

import json
from pathlib import Path

QUESTIONS = json.loads((Path(__file__).parent / "data" / "questions.json").read_text())


def _recall(kb, mode: str) -> tuple[float, list[str]]:
    missed = []
    for item in QUESTIONS:
        hits = kb.search(item["question"], k=4, mode=mode)
        if not any(h.source == item["source"] and item["answer"] in h.text for h in hits):
            missed.append(item["question"])
    return 1 - len(missed) / len(QUESTIONS), missed


def test_hybrid_recall_at_4_is_high_and_not_below_vector(built_kb):
    assert len(QUESTIONS) >= 20
    hybrid, hybrid_missed = _recall(built_kb, "hybrid")
    vector, _ = _recall(built_kb, "vector")
    assert hybrid >= 0.9, hybrid_missed
    assert hybrid >= vector


def test_search_returns_text_source_id_and_score(built_kb):
    hits = built_kb.search("What does error E4012 mean?", k=3)
    assert len(hits) == 3
    top = hits[0]
    assert top.source == "guide.md"
    assert "E4012" in top.text and top.heading.endswith("E4012")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert built_kb.get_chunks([top.chunk_id])[0].text == top.text


def test_sources_filter_limits_every_mode(built_kb):
    for mode in ("hybrid", "vector", "fts"):
        hits = built_kb.search("encryption passphrase security key", k=4,
                               sources=["security.html"], mode=mode)
        assert hits, mode
        assert {h.source for h in hits} == {"security.html"}, mode


def test_default_k_comes_from_config(built_kb):
    assert len(built_kb.search("Orbitra sync")) == built_kb.retrieval.default_k == 4


def test_html_scripts_are_not_indexed(built_kb):
    texts = " ".join(c.text for c in built_kb.chunks_for_source("security.html"))
    assert "Two-factor authentication" in " ".join(
        c.heading for c in built_kb.chunks_for_source("security.html"))
    assert "hardware security key" in texts
    assert "do-not-index-this-script" not in texts and "console.log" not in texts
    assert "font-family" not in texts


def test_pdf_text_is_indexed(built_kb):
    texts = " ".join(c.text for c in built_kb.chunks_for_source("handbook.pdf"))
    assert "extension 4477" in texts and "08:00 to 18:00" in texts
