"""Endpoints through the real `dlgforge run` command: pre-flight health checks, a dead endpoint
among healthy ones, none healthy, a mistyped openai URL, and vllm_managed replicas on Ray.

Real KB, real openai client over real HTTP, real local Ray (GPUs faked with `ray.num_gpus`);
the loopback fake server is the only fake (also as the managed "vLLM" process).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.generate_project import (
    assert_consistent_outputs, cli_command, cli_env, dlgforge, jsonl, kill_9_after, write_config,
)
from tests.fake_llm.server import FakeLLMServer
from tests.support.project import write_kb
from tests.support.replicas import alive, replica_pids

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_kb(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("endpoints_kb")
    return {"knowledge_dir": write_kb(root / "knowledge"), "index_dir": root / "knowledge_index"}


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _attach(endpoints: list[dict]) -> dict:
    return {"llm": {"backend": "vllm_attach", "routing": {"endpoints": endpoints}}}


def _no_conversation_attempted(output: Path) -> None:
    assert jsonl(output / "synthetic_qa.jsonl") == []
    llm_log = output.parent / "logs" / "llm.log"
    assert not llm_log.exists() or llm_log.read_text().strip() == ""
    states = list((output / "run_state").glob("*.json")) if (output / "run_state").exists() else []
    assert all(json.loads(p.read_text()).get("accepted", 0) == 0 for p in states)


def test_dead_endpoint_is_reported_and_the_run_completes_on_the_keyed_one(shared_kb, tmp_path):
    dead = _closed_port_url()
    with FakeLLMServer(api_key="only-this-key") as keyed:
        config = write_config(tmp_path, keyed.base_url, shared_kb, _attach([
            {"base_url": dead}, {"base_url": keyed.base_url, "api_key": "only-this-key"}]))
        done = dlgforge("run", str(config), cwd=tmp_path)
        served = len(keyed.requests)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_consistent_outputs(tmp_path / "output", 5)
    assert served > 0
    reported = [line for line in (done.stdout + done.stderr).splitlines() if dead in line]
    assert reported and reported[0].startswith("warning: llm.routing.endpoints[0].base_url: ")
    assert "unreachable (connection refused" in reported[0]
    assert f"{dead} is unreachable" in (tmp_path / "logs" / "run.log").read_text()


def test_no_healthy_endpoint_fails_fast_with_each_named(shared_kb, tmp_path):
    dead = _closed_port_url()
    with FakeLLMServer(api_key="right") as keyed:
        config = write_config(tmp_path, keyed.base_url, shared_kb, _attach([
            {"base_url": dead}, {"base_url": keyed.base_url, "api_key": "wrong"}]))
        done = dlgforge("run", str(config), cwd=tmp_path)
        assert keyed.requests == []
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert errors[0].startswith("error: llm.routing.endpoints: no healthy endpoint (2 checked)")
    assert dead in errors[0] and "connection refused" in errors[0]
    assert keyed.base_url in errors[0] and "rejected the API key (HTTP 401" in errors[0]
    assert "wrong" not in done.stderr + done.stdout
    _no_conversation_attempted(tmp_path / "output")


def test_openai_backend_on_a_closed_port_ends_before_the_first_conversation(shared_kb, tmp_path):
    url = _closed_port_url()
    config = write_config(tmp_path, url, shared_kb, {})
    done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: llm.base_url: {url} is unreachable (connection refused: ConnectError)"]
    assert "drop_rate" not in done.stdout + done.stderr
    _no_conversation_attempted(tmp_path / "output")


def _managed(tmp_path: Path, port: int, server_args: str = "") -> dict:
    launch = ("{python} -m tests.fake_llm --port {port} --name r{replica} --model {served_model_name} "
              f"--request-log {tmp_path}/req-{{replica}}.jsonl {server_args}").strip()
    return {"llm": {"backend": "vllm_managed", "base_url": None,
                    "vllm": {"model": "fake-model", "replicas": 2, "port_start": port,
                             "health_timeout_s": 120, "launch_command": launch}},
            "ray": {"num_gpus": 2, "num_cpus": 2}}


def test_vllm_managed_replicas_serve_the_run_and_are_stopped(shared_kb, tmp_path):
    config = write_config(tmp_path, "http://unused.invalid/v1", shared_kb, _managed(tmp_path, 18521))
    done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    output = tmp_path / "output"
    assert_consistent_outputs(output, 5)
    for replica in (0, 1):
        statuses = [json.loads(line)["status"] for line in (tmp_path / f"req-{replica}.jsonl").read_text().splitlines()]
        assert statuses and set(statuses) == {200}, replica
        assert (output.parent / "logs" / "vllm" / f"replica-{replica}.log").exists()
    pids = replica_pids(output.parent / "logs")
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)
    assert "vllm_managed: 2 replica(s) healthy" in done.stdout


def test_vllm_managed_replicas_are_stopped_when_the_run_fails(shared_kb, tmp_path):
    config = write_config(tmp_path, "http://unused.invalid/v1", shared_kb,
                          _managed(tmp_path, 18531, server_args="--fault-500 1.0"))
    done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode != 0
    assert (tmp_path / "req-0.jsonl").exists() and (tmp_path / "req-1.jsonl").exists()
    pids = replica_pids(tmp_path / "logs")
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)


def test_vllm_managed_replicas_do_not_outlive_a_killed_run(shared_kb, tmp_path):
    extra = _managed(tmp_path, 18541, server_args="--latency-ms 300")
    extra["run"] = {"total_samples": 100}
    config = write_config(tmp_path, "http://unused.invalid/v1", shared_kb, extra)
    victim = subprocess.Popen(cli_command("run", str(config)), cwd=tmp_path, env=cli_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    output = tmp_path / "output"
    kill_9_after(victim, output, accepted=1)
    pids = replica_pids(output.parent / "logs")
    assert len(pids) == 2
    deadline = time.monotonic() + 60  # Ray ends the dead driver's actors; their servers follow
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in pids)


def test_vllm_managed_serves_the_shards_of_a_distributed_run(shared_kb, tmp_path):
    extra = _managed(tmp_path, 18561)
    extra["run"] = {"total_samples": 4, "batch_size": 4, "target_languages": ["en", "fr"],
                    "distributed": {"enabled": True, "shards_per_language": 2, "num_workers": 2}}
    config = write_config(tmp_path, "http://unused.invalid/v1", shared_kb, extra)
    done = dlgforge("run", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    output = tmp_path / "output"
    records = assert_consistent_outputs(output, 8)  # the servers outlived the first language's job
    assert sorted(r["language"] for r in records) == ["en"] * 4 + ["fr"] * 4
    for replica in (0, 1):  # the shards, in Ray workers, routed to both replicas
        assert (tmp_path / f"req-{replica}.jsonl").read_text().strip(), replica
    pids = replica_pids(output.parent / "logs")
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)
