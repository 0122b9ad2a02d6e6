"""Shards on a two-node Ray cluster with no shared output folder, on the PostgreSQL store.

The cluster's nodes see the driver's output folders read-only (their own mount namespace):
the shards get the config and the KB index through Ray and write only to PostgreSQL; the
driver writes the output folder. Real Ray nodes (`ray start`), real PostgreSQL, real KB,
two loopback OpenAI-compatible endpoints over real HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.e2e.generate_project import assert_consistent_outputs, cli_command, write_config
from tests.fake_llm.server import FakeLLMServer
from tests.support.project import write_kb
from tests.support.ray_nodes import node_env, start_two_nodes

pytestmark = pytest.mark.slow
SHARDS = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    outputs = tmp_path_factory.mktemp("driver_outputs")
    nodes = start_two_nodes(outputs, head_cpus=1, worker_cpus=2)
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="module")
def shared_kb(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cluster_kb")
    return {"knowledge_dir": write_kb(root / "knowledge"), "index_dir": root / "knowledge_index"}


def _settings(cluster, output: Path, dsn: str, total: int, batch: int, turns: int, languages: list[str]) -> dict:
    return {
        "run": {"total_samples": total, "batch_size": batch, "n_turns": turns, "target_languages": languages,
                "distributed": {"enabled": True, "shards_per_language": SHARDS, "num_workers": SHARDS}},
        "ray": {"address": cluster.address},
        "saving": {"output_dir": str(output)},
        "store": {"backend": "postgres", "postgres": {"dsn": dsn}},
    }


def _run(config: Path) -> subprocess.Popen:
    return subprocess.Popen(cli_command("run", str(config)), cwd=config.parent, env=node_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _checkpoints(dsn: str) -> list[dict]:
    try:
        with psycopg.connect(dsn) as conn:
            return [json.loads(s) for (s,) in conn.execute("select state from dlg_checkpoints order by language, shard")]
    except psycopg.Error:
        return []  # no schema yet


def _accepted_ids(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {cid for (cid,) in conn.execute("select conversation_id from dlg_conversations")}


def test_three_shards_on_two_nodes_two_weighted_endpoints(cluster, shared_kb, tmp_path: Path, postgres_url) -> None:
    output = cluster.outputs / "weighted"
    with FakeLLMServer(latency=0.4, name="light") as light, FakeLLMServer(latency=0.4, name="heavy") as heavy:
        config = write_config(tmp_path, light.base_url, shared_kb, {
            **_settings(cluster, output, postgres_url, total=24, batch=24, turns=2, languages=["en", "fr"]),
            "llm": {"backend": "vllm_attach", "routing": {"endpoints": [
                {"base_url": light.base_url, "weight": 1}, {"base_url": heavy.base_url, "weight": 3}]}}})
        driver = _run(config)
        stdout, stderr = driver.communicate(timeout=900)
        calls = Counter({"light": len(light.requests), "heavy": len(heavy.requests)})
    assert driver.returncode == 0, stderr[-3000:]
    # the shards' nodes could not have written the output folder: a write there fails on both
    assert cluster.probe()["probes"] == ["EROFS", "EROFS"]
    records = assert_consistent_outputs(output, 48)  # written by the driver, from the store
    assert Counter(r["language"] for r in records) == {"en": 24, "fr": 24}
    assert {r["conversation_id"] for r in records} == _accepted_ids(postgres_url)
    states = _checkpoints(postgres_url)
    assert [(s["language"], s["shard"], s["status"]) for s in states] == [
        (lang, shard, "complete") for lang in ("en", "fr") for shard in range(SHARDS)]
    assert all(s["accepted"] == 8 for s in states)  # every shard did its share of the work
    workers = {s["worker"] for s in states}
    assert all(int(w.rsplit(":", 1)[1]) != driver.pid for w in workers)  # shards ran in Ray's workers
    assert (output / "run_state" / "main.json").exists() and (output / "conversations_sharegpt.jsonl").exists()
    # each endpoint's share of the requests within 15% of its weight's (1:3)
    total = sum(calls.values())
    assert abs(calls["light"] / total - 0.25) <= 0.15 * 0.25 and abs(calls["heavy"] / total - 0.75) <= 0.15 * 0.75, calls


def test_a_shard_worker_killed_mid_run_is_run_again_and_repeats_nothing(cluster, shared_kb, tmp_path: Path,
                                                                        postgres_url) -> None:
    output = cluster.outputs / "killed"
    with FakeLLMServer(latency=0.4, jitter=0.1) as srv:
        config = write_config(tmp_path, srv.base_url, shared_kb,
                              _settings(cluster, output, postgres_url, total=18, batch=6, turns=2, languages=["en"]))
        driver = _run(config)
        deadline = time.monotonic() + 300
        while True:
            assert driver.poll() is None, driver.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "shard 1 accepted nothing in time"
            victim = next((s for s in _checkpoints(postgres_url) if s["shard"] == 1 and s["accepted"] >= 2
                           and s["status"] == "running"), None)
            if victim is not None:
                break
            time.sleep(0.1)
        before = _accepted_ids(postgres_url)
        killed_pid = int(victim["worker"].rsplit(":", 1)[1])
        os.kill(killed_pid, signal.SIGKILL)
        seen = len(srv.requests)
        _, stderr = driver.communicate(timeout=900)
        after_kill = {r.conversation_id for r in srv.requests[seen:] if r.agent == "qa_generator"}
    assert driver.returncode == 0, stderr[-3000:]
    records = assert_consistent_outputs(output, 18)
    final = {r["conversation_id"] for r in records}
    assert before <= final == _accepted_ids(postgres_url)  # nothing accepted was lost
    assert not (after_kill & before)  # nor generated again
    states = _checkpoints(postgres_url)
    assert [(s["shard"], s["accepted"], s["status"]) for s in states] == [(0, 6, "complete"), (1, 6, "complete"),
                                                                          (2, 6, "complete")]
    rerun = next(s for s in states if s["shard"] == 1)
    assert int(rerun["worker"].rsplit(":", 1)[1]) != killed_pid  # shard 1 finished in another worker
