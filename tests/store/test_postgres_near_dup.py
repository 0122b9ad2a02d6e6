"""Near-duplicate signatures in the PostgreSQL store (``coverage.near_dup``): stored with the
commit group, seen by every worker of the run, and kept across a restart."""

from __future__ import annotations

import multiprocessing
from types import SimpleNamespace

import psycopg

from dlgforge_core.generation.near_dup import NearDupFilter
from dlgforge_core.store.postgres import PostgresStore

THRESHOLD, NUM_PERM = 0.7, 128
VARIANTS = [("How do I reset my password?", "How do I reset my password ?!"),
            ("Where can I download the monthly invoice?", "Where can I download the monthly invoices?"),
            ("Which ports does the gateway listen on?", "Which ports does the gateway listen on??")]


def settings(dsn: str) -> SimpleNamespace:
    return SimpleNamespace(dsn=dsn, min_pool_size=1, max_pool_size=2, statement_timeout_ms=5000)


def record(index: int, question: str) -> dict:
    return {"conversation_id": f"main-en-{index:06d}", "run_id": "main", "language": "en",
            "conversation_index": index, "turns": [{"turn_index": 0, "user_message": question,
                                                     "assistant_message": "an answer"}]}


def worker(dsn: str) -> tuple[PostgresStore, NearDupFilter]:
    """A shard's start: its store and its near-dup memory primed from the stored signatures."""
    store = PostgresStore(settings(dsn))
    store.prepare()
    near_dup = NearDupFilter(THRESHOLD, NUM_PERM)
    store.near_dup_memory("main", near_dup)
    return store, near_dup


def generate(near_dup: NearDupFilter, index: int, question: str) -> dict:
    """What the conversation does with its question: checked locally, then reserved."""
    assert not near_dup.is_near_duplicate(question)
    near_dup.reserve(question, f"main-en-{index:06d}")
    return record(index, question)


def test_two_workers_never_both_accept_near_duplicates_and_signatures_survive_a_restart(postgres_url) -> None:
    a_store, a_near = worker(postgres_url)
    b_store, b_near = worker(postgres_url)
    try:
        for n, (first, second) in enumerate(VARIANTS):
            assert not a_near.is_near_duplicate(second)  # neither worker has seen the pair yet
            ours = generate(a_near, 2 * n, first)
            theirs = generate(b_near, 2 * n + 1, second)  # b started before a committed: it passes locally
            assert len(a_store.commit_group([ours], near_dup=a_near)) == 1
            assert b_store.commit_group([theirs], near_dup=b_near) == []
            b_near.release(theirs["conversation_id"])
            assert b_near.is_near_duplicate(second)  # b has absorbed a's signature
        # a question near none is accepted by b, and a sees b's signature at its next commit group
        assert len(b_store.commit_group([generate(b_near, 100, "What colour is the status light?")], near_dup=b_near)) == 1
        assert a_store.commit_group([generate(a_near, 101, "What colour is the status light ?")], near_dup=a_near) == []
        assert len(a_store.commit_group([generate(a_near, 102, "How long is the warranty period?")], near_dup=a_near)) == 1
    finally:
        a_store.close(), b_store.close()
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("select conversation_id, length(near_dup_signature) from dlg_questions "
                            "order by conversation_id").fetchall()
    assert rows == [("main-en-000000", NUM_PERM * 8), ("main-en-000002", NUM_PERM * 8),
                    ("main-en-000004", NUM_PERM * 8), ("main-en-000100", NUM_PERM * 8),
                    ("main-en-000102", NUM_PERM * 8)]

    # restart: a new store and an empty filter, primed from the stored signatures alone (no records read)
    c_store, c_near = worker(postgres_url)
    try:
        for first, second in VARIANTS:
            assert c_near.is_near_duplicate(first) and c_near.is_near_duplicate(second)
        assert c_near.is_near_duplicate("what colour is the status light?!")
        assert not c_near.is_near_duplicate("Can I pay by bank transfer?")
        late = generate(c_near, 200, "Can I pay by bank transfer?")
        assert len(c_store.commit_group([late], near_dup=c_near)) == 1
    finally:
        c_store.close()


def _race(dsn: str, index: int, question: str, barrier, results) -> None:
    store, near_dup = worker(dsn)
    try:
        mine = generate(near_dup, index, question)
        barrier.wait()
        results[index] = len(store.commit_group([mine], near_dup=near_dup))
    finally:
        store.close()


def test_two_processes_committing_near_duplicates_at_once_exactly_one_wins(postgres_url) -> None:
    PostgresStore(settings(postgres_url)).prepare()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        for n, (first, second) in enumerate(VARIANTS):
            results, barrier = manager.dict(), manager.Barrier(2)
            procs = [ctx.Process(target=_race, args=(postgres_url, index, text, barrier, results))
                     for index, text in ((2 * n, first), (2 * n + 1, second))]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join(90)
            assert sorted(results.values()) == [0, 1], dict(results)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("select count(*) from dlg_conversations").fetchone()[0] == len(VARIANTS)
        assert conn.execute("select count(*) from dlg_questions where near_dup_signature is not null"
                            ).fetchone()[0] == len(VARIANTS)
