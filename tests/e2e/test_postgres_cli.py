"""`dlgforge run` on the PostgreSQL store (`store.backend: postgres`), through the CLI.

Real PostgreSQL (a throwaway server), real KB, real Ray for the sharded runs, the real openai
client over HTTP to the loopback fake server. Assertions read the database and the files.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.e2e.generate_project import (
    assert_consistent_outputs, cli_command, cli_env, dlgforge, jsonl, normalized_questions, write_config,
)
from tests.fake_llm.server import FakeLLMServer
from tests.support.project import write_kb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_kb(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pg_kb")
    return {"knowledge_dir": write_kb(root / "knowledge"), "index_dir": root / "knowledge_index"}


def _accepted(dsn: str) -> list[tuple[str, int, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select language, conversation_index, conversation_id from dlg_conversations "
                            "order by language, conversation_index").fetchall()


def _pg(dsn: str, **extra) -> dict:
    return {"backend": "postgres", "postgres": {"dsn": dsn, "min_pool_size": 1, "max_pool_size": 4, **extra}}


def test_a_run_on_postgres_writes_the_output_folder_from_the_store(shared_kb, tmp_path: Path, postgres_url) -> None:
    with FakeLLMServer(latency=0.01) as srv:
        config = write_config(tmp_path, srv.base_url, shared_kb, {
            "run": {"target_languages": ["en", "fr"], "total_samples": 4, "batch_size": 3},
            "store": _pg(postgres_url)})
        done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    output = tmp_path / "output"
    records = assert_consistent_outputs(output, 8)
    assert sorted(r["conversation_id"] for r in records) == sorted(cid for *_, cid in _accepted(postgres_url))
    assert len(set(normalized_questions(records))) == len(normalized_questions(records))
    assert (output / "run_state" / "main-en.json").exists() and (output / "run_state" / "main.json").exists()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("select language, status from dlg_checkpoints order by language").fetchall() == [
            ("en", "complete"), ("fr", "complete")]
        assert conn.execute("select sum(tokens) from dlg_budget where run_id = 'main'").fetchone()[0] > 0


def test_a_near_dup_run_on_postgres_stores_a_signature_per_accepted_question(shared_kb, tmp_path: Path,
                                                                              postgres_url) -> None:
    with FakeLLMServer(latency=0.01) as srv:  # the fake's questions are alike: some are dropped as near-dups
        config = write_config(tmp_path, srv.base_url, shared_kb, {
            "run": {"target_languages": ["en", "fr"], "total_samples": 3, "batch_size": 3},
            "coverage": {"near_dup": {"enabled": True, "num_perm": 64}}, "quality": {"max_drop_rate": 1.0},
            "store": _pg(postgres_url)})
        done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    records = jsonl(tmp_path / "output" / "synthetic_qa.jsonl")
    assert records and sorted(r["conversation_id"] for r in records) == sorted(
        cid for *_, cid in _accepted(postgres_url))
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("select conversation_id, length(near_dup_signature) from dlg_questions").fetchall()
    assert sorted(cid for cid, _ in rows) == sorted(
        r["conversation_id"] for r in records for _ in set(normalized_questions([r])))
    assert {size for _, size in rows} == {64 * 8}


@pytest.mark.parametrize("dsn, expected", [
    ("postgresql://postgres@127.0.0.1:9/postgres", "cannot connect to PostgreSQL at postgres@127.0.0.1:9/postgres"),
    ("host=127.0.0.1 port=5432 dbname", "not a valid PostgreSQL connection string"),
])
def test_an_unusable_dsn_is_one_line_before_any_llm_call(shared_kb, tmp_path: Path, dsn: str, expected: str) -> None:
    with FakeLLMServer() as srv:  # the DSN comes from the environment
        config = write_config(tmp_path, srv.base_url, shared_kb, {"store": {"backend": "postgres"}})
        done = subprocess.run(cli_command("run", str(config)), cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, env={**cli_env(), "DLGFORGE_POSTGRES_DSN": dsn})
        requests = len(srv.requests)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: store.postgres.dsn: ") and expected in lines[0]
    assert requests == 0 and "Traceback" not in done.stderr
    assert not (tmp_path / "output").exists()


def test_the_server_stopped_mid_run_is_one_line_and_the_same_command_resumes(shared_kb, tmp_path: Path,
                                                                              own_pg_cluster) -> None:
    dsn = own_pg_cluster.url(own_pg_cluster.create_database())
    with FakeLLMServer(latency=0.1, jitter=0.03) as srv:
        config = write_config(tmp_path, srv.base_url, shared_kb, {
            "run": {"total_samples": 12, "batch_size": 2, "n_turns": 2}, "store": _pg(dsn)})
        victim = subprocess.Popen(cli_command("run", str(config)), cwd=tmp_path, env=cli_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while True:
            assert victim.poll() is None, victim.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "nothing was accepted in time"
            try:
                if len(_accepted(dsn)) >= 3:
                    break
            except psycopg.Error:
                pass  # the schema is not there yet
            time.sleep(0.1)
        own_pg_cluster.stop()
        _, stderr = victim.communicate(timeout=300)
        assert victim.returncode != 0
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: store.postgres: lost the PostgreSQL server at "), stderr
        assert "re-run the same command to resume" in lines[0]
        own_pg_cluster.start()
        before = {cid for *_, cid in _accepted(dsn)}
        assert 3 <= len(before) < 12
        seen = len(srv.requests)
        done = dlgforge("run", str(config), cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        again = {r.conversation_id for r in srv.requests[seen:] if r.agent == "qa_generator"}
    records = assert_consistent_outputs(tmp_path / "output", 12)
    assert before <= {r["conversation_id"] for r in records}
    assert again and not (again & before)  # nothing accepted was generated again
    assert sorted(i for _, i, _ in _accepted(dsn)) == sorted(r["conversation_index"] for r in records)
