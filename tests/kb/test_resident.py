"""The in-memory copy of a small index answers like LanceDB on disk, and follows rebuilds."""

import json
from pathlib import Path

import pytest

from dlgforge_core.config import load_config
from dlgforge_core.kb import KnowledgeBase
from dlgforge_core.kb.resident import ResidentIndex

from tests.kb.conftest import write_config

QUESTIONS = json.loads((Path(__file__).parent / "data" / "questions.json").read_text())


@pytest.fixture(scope="module")
def on_disk(built_kb, tmp_path_factory) -> KnowledgeBase:
    """The same built index, searched through LanceDB (resident copy turned off)."""
    folder = tmp_path_factory.mktemp("on_disk")
    path = write_config(folder, built_kb.knowledge_dir, resident_max_chunks=0,
                        index_dir=str(built_kb.index_dir))
    return KnowledgeBase(load_config(path))


def test_small_index_is_searched_from_memory_unless_turned_off(built_kb, on_disk):
    assert isinstance(built_kb._searchable(), ResidentIndex)
    assert len(built_kb._searchable()) == built_kb.index.count()
    assert not isinstance(on_disk._searchable(), ResidentIndex)


def test_vector_search_matches_lancedb_exactly(built_kb, on_disk):
    for item in QUESTIONS:
        memory = built_kb.search(item["question"], k=6, mode="vector")
        disk = on_disk.search(item["question"], k=6, mode="vector")
        assert [h.chunk_id for h in memory] == [h.chunk_id for h in disk], item["question"]
        assert [h.score for h in memory] == pytest.approx([h.score for h in disk], abs=1e-5)


@pytest.mark.parametrize("mode", ["fts", "hybrid"])
def test_full_text_recall_and_top_hit_agree_with_lancedb(built_kb, on_disk, mode):
    found, same_top = 0, 0
    for item in QUESTIONS:
        memory = built_kb.search(item["question"], k=4, mode=mode)
        disk = on_disk.search(item["question"], k=4, mode=mode)
        found += any(h.source == item["source"] and item["answer"] in h.text for h in memory)
        same_top += bool(memory and disk and memory[0].chunk_id == disk[0].chunk_id)
    assert found == len(QUESTIONS)
    assert same_top >= 0.85 * len(QUESTIONS)  # 26 of 29 in full-text mode: BM25 statistics differ a little


@pytest.mark.parametrize("mode", ["hybrid", "vector", "fts"])
def test_sources_filter_on_disk_too(on_disk, mode):
    hits = on_disk.search("encryption passphrase security key", k=4, sources=["security.html"], mode=mode)
    assert hits and {h.source for h in hits} == {"security.html"}


@pytest.mark.parametrize("query", ["the and of", "???", 'AND OR NOT "quoted" field:value (x'])
def test_odd_queries_do_not_fail(built_kb, query):
    hits = built_kb.search(query, k=3, mode="fts")
    assert all(h.chunk_id for h in hits)


def test_rebuild_replaces_the_copy_in_memory(tmp_path, small_kb_folder):
    kb = KnowledgeBase(load_config(write_config(tmp_path, small_kb_folder)))
    kb.build()
    assert kb.search("zanzibar quokka ledger", k=1, mode="fts") == []
    (small_kb_folder / "new.md").write_text("# Quokka\n\nThe zanzibar quokka ledger is audited yearly.\n")
    kb.build()
    hits = kb.search("zanzibar quokka ledger", k=1, mode="fts")
    assert [h.source for h in hits] == ["new.md"]
    assert kb.search("zanzibar quokka ledger audited", k=1, mode="vector")[0].source == "new.md"
