"""Distributed generation through `dlgforge run`: a language's shards as tasks on a local Ray
runtime, sharing one output folder (DESIGN §6).

Real Ray (a local runtime the command starts), real KB, the real openai client over real HTTP;
the loopback fake server is the only fake. Assertions read the files the command wrote.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.generate_project import (
    assert_consistent_outputs, cli_command, cli_env, dlgforge, jsonl, kill_9_after, write_config,
)
from tests.fake_llm.server import FakeLLMServer
from tests.support.project import write_kb

pytestmark = pytest.mark.slow

DISTRIBUTED = {"enabled": True, "shards_per_language": 2, "num_workers": 2}


@pytest.fixture(scope="module")
def shared_kb(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dist_kb")
    return {"knowledge_dir": write_kb(root / "knowledge"), "index_dir": root / "knowledge_index"}


def _state(output: Path, name: str) -> dict:
    return json.loads((output / "run_state" / name).read_text(encoding="utf-8"))


def test_two_shards_per_language_reach_the_target_exactly(shared_kb, tmp_path: Path) -> None:
    with FakeLLMServer(latency=0.02) as srv:
        config = write_config(tmp_path, srv.base_url, shared_kb, {
            "run": {"target_languages": ["en", "fr"], "total_samples": 5, "batch_size": 4,
                    "distributed": DISTRIBUTED},
            "ray": {"num_cpus": 2}})
        done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    output = tmp_path / "output"
    records = assert_consistent_outputs(output, 10)
    for language in ("en", "fr"):
        indices = sorted(r["conversation_index"] for r in records if r["language"] == language)
        assert len(indices) == 5
        shards = [_state(output, f"main-{language}.shard-{s}-of-2.json") for s in (0, 1)]
        # shard s owns the indices s, s+2, ...: 3 + 2 of the 5, each checkpointed on its own
        assert [(s["shard"], s["shards"], s["target"], s["accepted"], s["status"]) for s in shards] == [
            (0, 2, 3, 3, "complete"), (1, 2, 2, 2, "complete")]
        assert sum(1 for i in indices if i % 2 == 0) == 3
        assert not (output / "run_state" / f"main-{language}.json").exists()
    index = _state(output, "main.json")["languages"]
    assert index["en"]["accepted"] == 5 and index["en"]["target"] == 5 and index["en"]["shards"] == 2
    assert index["en"]["status"] == "complete" and len(index["en"]["files"]) == 2
    log = (output.parent / "logs" / "run.log").read_text(encoding="utf-8")
    assert "[en shard 1/2] run main: 0/3 accepted at start, batch_size 2" in log
    assert "[fr shard 2/2] run main: 0/2 accepted at start, batch_size 2" in log
    assert "[en] run main: 5/5 accepted" in done.stdout and "[fr] run main: 5/5 accepted" in done.stdout
    assert len(jsonl(output / "conversations_sharegpt.jsonl")) == 10


def test_dedup_is_exact_across_shards(shared_kb, tmp_path: Path) -> None:
    with FakeLLMServer(script="same_question", latency=0.02) as srv:
        config = write_config(tmp_path, srv.base_url, shared_kb, {
            "run": {"total_samples": 4, "n_turns": 1, "batch_size": 2, "distributed": DISTRIBUTED},
            "coverage": {"question_dedup_retries": 2},
            "quality": {"max_drop_rate": 1.0},
            "ray": {"num_cpus": 2}})
        done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    output = tmp_path / "output"
    assert_consistent_outputs(output, 1)  # one question, once, whichever shard asked it first
    reasons = set()
    for s in (0, 1):
        state = _state(output, f"main-en.shard-{s}-of-2.json")
        reasons |= {d["reason"] for d in state["dropped"]}
    assert reasons and reasons <= {"dedup_exhausted", "duplicate_elsewhere"}
    assert re.search(r"\[en\] run main: 1/4 accepted", done.stdout)


def test_resume_with_another_shard_count_is_refused(shared_kb, tmp_path: Path) -> None:
    with FakeLLMServer(latency=0.005) as srv:
        config = write_config(tmp_path, srv.base_url, shared_kb, {
            "run": {"total_samples": 2, "n_turns": 1, "batch_size": 2, "distributed": DISTRIBUTED},
            "ray": {"num_cpus": 2}})
        assert dlgforge("run", str(config), cwd=tmp_path).returncode == 0
        write_config(tmp_path, srv.base_url, shared_kb, {
            "run": {"total_samples": 4, "n_turns": 1, "batch_size": 2, "resume_run_id": "main"}})
        done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "run.distributed.shards_per_language" in lines[-1]
    assert "checkpointed with 2 shard(s), not 1" in lines[-1]
    assert "Traceback" not in done.stderr
    # the same check before Ray starts, for a distributed resume with another shard count
    write_config(tmp_path, "http://127.0.0.1:9/v1", shared_kb, {
        "run": {"total_samples": 4, "n_turns": 1, "batch_size": 3, "resume_run_id": "main",
                "distributed": {**DISTRIBUTED, "shards_per_language": 3}}})
    done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(
        "run 'main' language en was checkpointed with 2 shard(s), not 3; resume it with the same setting "
        "(1 when run.distributed is off) or start a new run.run_id")


def test_kill_9_of_the_driver_then_resume(shared_kb, tmp_path: Path) -> None:
    """The shards' workers die with the driver; the resume finishes every shard exactly."""
    with FakeLLMServer(latency=0.15, jitter=0.05) as srv:
        extra = {"run": {"total_samples": 12, "batch_size": 2, "n_turns": 2, "distributed": DISTRIBUTED},
                 "ray": {"num_cpus": 2}}
        config = write_config(tmp_path, srv.base_url, shared_kb, extra)
        output = tmp_path / "output"
        victim = subprocess.Popen(cli_command("run", str(config)), cwd=tmp_path, env=cli_env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            kill_9_after(victim, output, 3)
            time.sleep(1.0)
            accepted_before = {r["conversation_id"] for r in jsonl(output / "synthetic_qa.jsonl")}
            time.sleep(1.5)
            # nothing is committed once the driver is gone: its shards' workers exited with it
            assert {r["conversation_id"] for r in jsonl(output / "synthetic_qa.jsonl")} == accepted_before
        finally:
            try:
                os.killpg(victim.pid, signal.SIGKILL)  # Ray's agents left by the kill
            except ProcessLookupError:
                pass
        assert 3 <= len(accepted_before) < 12
        seen_before = len(srv.requests)
        write_config(tmp_path, srv.base_url, shared_kb, {**extra, "run": {**extra["run"], "resume_run_id": "main"}})
        done = dlgforge("run", str(config), cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        generator_after = {r.conversation_id for r in srv.requests[seen_before:] if r.agent == "qa_generator"}
    records = assert_consistent_outputs(output, 12)
    assert accepted_before <= {r["conversation_id"] for r in records}
    assert generator_after and not (generator_after & accepted_before)
    states = [_state(output, f"main-en.shard-{s}-of-2.json") for s in (0, 1)]
    assert [(s["accepted"], s["status"]) for s in states] == [(6, "complete"), (6, "complete")]
