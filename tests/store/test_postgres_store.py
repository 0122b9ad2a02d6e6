"""The PostgreSQL store on a real server: schema versions, the commit point, the dedup index,
checkpoints, the shared budget counter, and one-line errors."""

from __future__ import annotations

import multiprocessing
from types import SimpleNamespace

import psycopg
import pytest

from dlgforge_core.errors import StoreError
from dlgforge_core.store.base import Store
from dlgforge_core.store.postgres import PostgresStore
from dlgforge_core.store.postgres.schema import SCHEMA_VERSION
from dlgforge_core.store.run_state import DroppedConversation, LanguageState


def settings(dsn: str, **over) -> SimpleNamespace:
    return SimpleNamespace(**{"dsn": dsn, "min_pool_size": 1, "max_pool_size": 4, "statement_timeout_ms": 5000,
                              **over})


def record(index: int, question: str, language: str = "en", run_id: str = "main") -> dict:
    return {"conversation_id": f"{run_id}-{language}-{index:06d}", "run_id": run_id, "language": language,
            "conversation_index": index, "turns": [{"turn_index": 0, "user_message": question,
                                                     "assistant_message": "an answer"}]}


@pytest.fixture
def store(postgres_url):
    opened = PostgresStore(settings(postgres_url))
    opened.prepare()
    yield opened
    opened.close()


def test_schema_is_created_once_with_its_version_and_a_newer_one_is_refused(postgres_url) -> None:
    first = PostgresStore(settings(postgres_url))
    first.prepare()
    first.close()
    again = PostgresStore(settings(postgres_url))
    again.prepare()  # migrating an up-to-date database changes nothing
    again.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("select version from dlg_schema order by version").fetchall() == [
            (v,) for v in range(1, SCHEMA_VERSION + 1)]
        conn.execute("insert into dlg_schema (version) values (%s)", (SCHEMA_VERSION + 1,))
    newer = PostgresStore(settings(postgres_url))
    with pytest.raises(StoreError) as err:
        newer.prepare()
    message = str(err.value)
    assert "\n" not in message and f"schema version {SCHEMA_VERSION + 1}, newer than this dlgforge knows" in message
    newer.close()


def test_the_store_satisfies_the_protocol(store) -> None:
    assert isinstance(store, Store) and store.kind == "postgres"


def test_a_commit_group_leaves_out_taken_indices_and_questions_and_commits_the_rest(store) -> None:
    assert [r["conversation_index"] for r in store.commit_group([record(0, "Q one?"), record(1, "Q two?")])] == [0, 1]
    group = [record(2, "q   ONE?"), record(1, "Another?"), record(3, "Q three?"), record(0, "Q one?", language="fr")]
    committed = store.commit_group(group)
    # index 2 asked a question of the run again (normalized), index 1 is taken; fr 0 asks it too
    assert [(r["language"], r["conversation_index"]) for r in committed] == [("en", 3)]
    assert [(r["language"], r["conversation_index"]) for r in store.accepted_records(run_id="main")] == [
        ("en", 0), ("en", 1), ("en", 3)]
    # the question may be asked again in another run
    assert store.commit_group([record(0, "Q one?", run_id="other")])


def test_foreign_commits_are_handed_to_admit(postgres_url) -> None:
    a, b = PostgresStore(settings(postgres_url)), PostgresStore(settings(postgres_url))
    try:
        list(a.memory_records("main")), list(b.memory_records("main"))
        b.commit_group([record(1, "from b?")])
        seen: list = []

        def admit(foreign, records):
            seen.extend(r["conversation_id"] for r in foreign)
            return records

        a.commit_group([record(0, "from a?")], admit)
        assert seen == ["main-en-000001"]
        seen.clear()
        a.commit_group([record(2, "again a?")], admit)
        assert seen == []  # its own commits are never foreign
    finally:
        a.close(), b.close()


def _claim(dsn: str, question: str, owner: str, barrier, results) -> None:
    store = PostgresStore(settings(dsn))
    store.prepare()
    barrier.wait()
    results[owner] = store.claim_question("main", question, owner)
    store.close()


def _commit(dsn: str, index: int, question: str, barrier, results) -> None:
    store = PostgresStore(settings(dsn))
    store.prepare()
    barrier.wait()
    results[index] = len(store.commit_group([record(index, question)]))
    store.close()


def test_two_processes_claiming_one_normalized_question_at_once_exactly_one_wins(postgres_url) -> None:
    PostgresStore(settings(postgres_url)).prepare()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        for round_ in range(5):
            results, barrier = manager.dict(), manager.Barrier(2)
            procs = [ctx.Process(target=_claim, args=(postgres_url, text, owner, barrier, results)) for text, owner in
                     ((f"What is plan {round_}?", f"a{round_}"), (f"  what IS plan {round_}? ", f"b{round_}"))]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join(60)
            assert sorted(results.values()) == [False, True], dict(results)
        results, barrier = manager.dict(), manager.Barrier(2)
        procs = [ctx.Process(target=_commit, args=(postgres_url, index, text, barrier, results))
                 for index, text in ((10, "Same question?"), (11, "same   question?"))]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert sorted(results.values()) == [0, 1], dict(results)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("select count(*) from dlg_conversations where conversation_index in (10, 11)"
                            ).fetchone()[0] == 1


def test_checkpoints_drops_and_usage(store, postgres_url) -> None:
    state = LanguageState(run_id="main", language="en", target=4, shard=1, shards=2, accepted=1, next_index=5,
                          dropped=[DroppedConversation(conversation_id="main-en-000003", conversation_index=3,
                                                       reason="dedup_exhausted", turn_index=1)],
                          usage={"qa_generator": {"prompt_tokens": 10, "completion_tokens": 5}})
    store.save_checkpoint(state)
    state.accepted = 2
    store.save_checkpoint(state)
    assert store.has_run("main") and not store.has_run("other")
    [loaded] = store.of_language("main", "en")
    assert (loaded.shard, loaded.shards, loaded.accepted, loaded.dropped_by_reason()) == (1, 2, 2, {"dedup_exhausted": 1})
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("select conversation_index, reason, turn_index from dlg_drops").fetchall() == [
            (3, "dedup_exhausted", 1)]
        assert conn.execute("select agent, prompt_tokens, completion_tokens from dlg_usage").fetchall() == [
            ("qa_generator", 10, 5)]


def test_the_budget_counter_is_one_per_run_and_atomic(store) -> None:
    assert store.add_usage("main", {}) == {}
    assert store.add_usage("main", {"qa_generator": 10, "kb_responder": 0}) == {"qa_generator": 10}
    assert store.add_usage("main", {"qa_generator": 5, "kb_responder": 7}) == {"qa_generator": 15, "kb_responder": 7}
    assert store.add_usage("other", {"qa_judge": 1}) == {"qa_judge": 1}


@pytest.mark.parametrize("dsn, expected", [
    ("postgresql://postgres@127.0.0.1:9/postgres", "cannot connect to PostgreSQL at postgres@127.0.0.1:9/postgres"),
    ("host=127.0.0.1 port=5432 dbname", "not a valid PostgreSQL connection string"),
])
def test_an_unreachable_server_or_a_bad_dsn_is_one_line(dsn: str, expected: str) -> None:
    with pytest.raises(StoreError) as err:
        PostgresStore(settings(dsn)).prepare()
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_wrong_password_is_one_line_without_the_password(pg_cluster) -> None:
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as conn:
        conn.execute("drop database if exists t_password with (force)")
        conn.execute("drop role if exists dlg_pw")
        conn.execute("create role dlg_pw login password 'right-secret'")
        conn.execute("create database t_password owner dlg_pw")
    dsn = pg_cluster.url("t_password").replace("postgres@", "dlg_pw:wrong-secret@", 1)
    if pg_cluster.throwaway:  # the session's server checks passwords of that role (pg_hba)
        with pytest.raises(StoreError) as err:
            PostgresStore(settings(dsn)).prepare()
        message = str(err.value)
        assert "password authentication failed" in message and "wrong-secret" not in message and "\n" not in message
    good = PostgresStore(settings(dsn.replace("wrong-secret", "right-secret")))
    good.prepare()
    good.close()
