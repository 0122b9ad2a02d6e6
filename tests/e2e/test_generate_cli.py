"""Generation through the real `dlgforge run` command in a subprocess (issue 2, tests 1-4).

Real KB (MiniLM + LanceDB; the index is built once for the module and reused), real
openai client over real HTTP, the loopback fake server as the only fake. Assertions read
the files the command wrote, its exit code and the requests the server received.
"""

from __future__ import annotations

import json
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


@pytest.fixture(scope="module")
def shared_kb(tmp_path_factory) -> dict[str, Path]:
    """KB and index folders shared by the module (the first run builds the index)."""
    root = tmp_path_factory.mktemp("gen_kb")
    return {"knowledge_dir": write_kb(root / "knowledge"), "index_dir": root / "knowledge_index"}


def test_two_languages_with_turn_judge(shared_kb, tmp_path: Path) -> None:
    with FakeLLMServer() as srv:
        config = write_config(tmp_path, srv.base_url, shared_kb, {
            "run": {"target_languages": ["en", "fr"]},
            "judge": {"enabled": True, "mode": "online", "granularity": "turn"}})
        done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    output = tmp_path / "output"
    records = assert_consistent_outputs(output, 10)
    assert sorted(r["language"] for r in records) == ["en"] * 5 + ["fr"] * 5
    assert all(2 <= r["n_turns"] <= 3 for r in records)
    for export in ("conversations_sharegpt.jsonl", "conversations_sharegpt_judged.jsonl"):
        rows = jsonl(output / export)
        assert len(rows) == 10
        for row in rows:
            assert [m["role"] for m in row["messages"]] == ["user", "assistant"] * row["metadata"]["n_turns"]
    for record in records:
        assert all(t["qa_judge"]["score"] == 4 and t["qa_judge"]["reasons"] for t in record["turns"])
    judged = jsonl(output / "conversations_sharegpt_judged.jsonl")
    assert all(len(row["judge"]["per_turn"]) == row["metadata"]["n_turns"] for row in judged)
    assert all(row["judge_score"] == 4 for row in jsonl(output / "turns.jsonl"))
    logs = output.parent / "logs"  # beside the config (saving.logs_dir)
    assert "progress 5/5" in (logs / "run.log").read_text()
    assert (logs / "llm.log").read_text().count("\n") >= 10 * 2 * 3
    assert (logs / "judge.log").read_text().count("[judge-online]") == sum(r["n_turns"] for r in records)
    for language in ("en", "fr"):
        state = json.loads((output / "run_state" / f"main-{language}.json").read_text())
        assert state["status"] == "complete" and state["accepted"] == 5
    assert "[en] run main: 5/5 accepted" in done.stdout and "[fr] run main: 5/5 accepted" in done.stdout


def test_same_question_server_ends_cleanly_with_dedup_drops(shared_kb, tmp_path: Path) -> None:
    with FakeLLMServer(script="same_question") as srv:
        config = write_config(tmp_path, srv.base_url, shared_kb, {
            "run": {"target_languages": ["en", "fr"], "total_samples": 3, "n_turns": 1, "batch_size": 2},
            "coverage": {"question_dedup_retries": 2},
            # this test is about dedup, not the drop-rate gate (which would block the export);
            # the one English question must collide in French too, not be dropped as wrong_language
            "quality": {"max_drop_rate": 1.0, "guards": {"wrong_language": {"enabled": False}}}})
        done = dlgforge("run", str(config), cwd=tmp_path)
    # Every retry was a duplicate: the languages finish short of their target, which the run
    # reports as a warning and in the summary; it is not a failure of the run.
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "warning: fr: 0/3 accepted; stopped on attempts_exhausted" in done.stdout
    output = tmp_path / "output"
    assert_consistent_outputs(output, 1)  # the one question, once, in the first language only
    assert "dropped: dedup_exhausted=" in done.stdout and "[fr] run main: 0/3 accepted" in done.stdout
    for language, accepted in (("en", 1), ("fr", 0)):
        state = json.loads((output / "run_state" / f"main-{language}.json").read_text())
        assert state["accepted"] == accepted and state["status"] == "attempts_exhausted"
        assert state["dropped"] and {d["reason"] for d in state["dropped"]} == {"dedup_exhausted"}


def _start_fake_server_process(tmp_path: Path, request_log: Path) -> tuple[subprocess.Popen, str]:
    import sys

    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_llm", "--port", "0", "--latency-ms", "150", "--jitter-ms", "50",
         "--request-log", str(request_log)],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    assert line.startswith("READY "), line
    return server, line.split()[1]


def test_kill_9_then_resume_regenerates_nothing_accepted(shared_kb, tmp_path: Path) -> None:
    request_log = tmp_path / "requests.jsonl"
    server, base_url = _start_fake_server_process(tmp_path, request_log)
    try:
        extra = {"run": {"total_samples": 12, "batch_size": 3, "n_turns": 2}}
        config = write_config(tmp_path, base_url, shared_kb, extra)
        output = tmp_path / "output"
        victim = subprocess.Popen(cli_command("run", str(config)), cwd=tmp_path, env=cli_env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_9_after(victim, output, 3)
        accepted_before = {r["conversation_id"] for r in jsonl(output / "synthetic_qa.jsonl")}
        assert 3 <= len(accepted_before) < 12
        time.sleep(1.0)  # requests in flight at the kill are logged when the server answers them
        seen_before = len(request_log.read_text().splitlines())

        write_config(tmp_path, base_url, shared_kb, {**extra, "run": {**extra["run"], "resume_run_id": "main"}})
        done = dlgforge("run", str(config), cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        server.terminate()
        server.wait(timeout=30)
    records = assert_consistent_outputs(output, 12)
    assert accepted_before <= {r["conversation_id"] for r in records}
    after = [json.loads(line) for line in request_log.read_text().splitlines()[seen_before:]]
    generator_after = {r["conversation_id"] for r in after if r["agent"] == "qa_generator"}
    assert generator_after and not (generator_after & accepted_before)
    state = json.loads((output / "run_state" / "main-en.json").read_text())
    assert state["status"] == "complete" and state["accepted"] == 12


def test_faults_and_broken_json_still_reach_the_target(shared_kb, tmp_path: Path) -> None:
    faults = {"429": 0.07, "500": 0.07, "timeout": 0.06, "broken_json": 0.05, "timeout_s": 3.0, "seed": 3}
    with FakeLLMServer(faults=faults) as srv:
        config = write_config(tmp_path, srv.base_url, shared_kb, {
            "run": {"total_samples": 6, "batch_size": 4},
            "llm": {"timeout": 1.5, "max_retries": 6},
            "judge": {"enabled": True, "granularity": "turn"}})
        done = dlgforge("run", str(config), cwd=tmp_path)
        injected = {r.fault for r in srv.requests if r.fault}
    assert done.returncode == 0, done.stderr[-3000:]
    assert injected == {"429", "500", "timeout", "broken_json"}
    assert_consistent_outputs(tmp_path / "output", 6)
    log = (tmp_path / "logs" / "llm.log").read_text()
    assert "retry:" in log and "repair" in log
