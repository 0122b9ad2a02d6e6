"""Exact and near-duplicate question memory."""

from __future__ import annotations

from dlgforge_core.generation.dedup import QuestionIndex, normalize_question
from dlgforge_core.generation.memory import load_memory
from dlgforge_core.generation.near_dup import NearDupFilter
from dlgforge_core.store.outputs import OutputStore
from tests.engine.records import make_record


def test_normalization_lowercases_and_collapses_whitespace() -> None:
    assert normalize_question("  How DO\tI   reset\nmy password? ") == "how do i reset my password?"


def test_reserve_release_confirm() -> None:
    index = QuestionIndex()
    assert index.reserve("What is X?", "c1")
    assert not index.reserve("what  is x?", "c2")  # same normalized question, other owner
    index.release("c1")
    assert index.reserve("WHAT is x?", "c2")
    index.confirm("c2")
    index.release("c2")  # already confirmed: stays
    assert index.seen("what is x?")
    assert not index.reserve("what is x?", "c3")


def test_memory_loads_every_language_and_run_of_the_folder(make_config) -> None:
    cfg = make_config()
    store = OutputStore(cfg)
    store.commit_many([
        make_record(0, "en", "main", ["Shared question?"]),
        make_record(0, "fr", "main", ["Question française ?"]),
        make_record(5, "en", "older-run", ["From an older run?"]),
        make_record(3, "en", "main", ["Another?"]),
    ])
    memory = load_memory(store, cfg, "main", "en")
    assert memory.accepted_indices == {0, 3}
    for question in ("shared question?", "question   française ?", "FROM an older run?"):
        assert memory.dedup.seen(question)
    assert memory.near_dup is None


def test_near_dup_filter_flags_rewordings_and_releases() -> None:
    near = NearDupFilter(threshold=0.7, num_perm=128)
    near.load_records([make_record(0, questions=["How long do refunds take to reach my card?"])])
    assert near.is_near_duplicate("how long do refunds take to reach my card ?")
    assert not near.is_near_duplicate("Which countries do you ship to?")
    near.reserve("Can I enable two-factor authentication with a key?", "c1")
    assert near.is_near_duplicate("Can I enable two-factor authentication with a key")
    near.release("c1")
    assert not near.is_near_duplicate("Can I enable two-factor authentication with a key")
