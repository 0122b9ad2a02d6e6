"""vllm_managed from Dagster: a `conversations` partition materialized on its own starts the
replicas (Ray actors with faked GPUs, the loopback server as the "vLLM" process), is served by
both, and stops them before the materialization returns."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from tests.dagster.conftest import graph_for, write_project
from tests.support.replicas import alive, replica_pids


@pytest.fixture(autouse=True)
def _ray_shutdown():
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


def test_conversations_asset_runs_its_own_replicas_and_stops_them(tmp_path: Path) -> None:
    launch = ("{python} -m tests.fake_llm --port {port} --name r{replica} --model {served_model_name} "
              f"--request-log {tmp_path}/req-{{replica}}.jsonl")
    config = write_project(
        tmp_path, "http://unused.invalid/v1", run={"total_samples": 4, "batch_size": 4},
        llm={"backend": "vllm_managed", "base_url": None,
             "vllm": {"model": "fake-model", "replicas": 2, "port_start": 18551,
                      "health_timeout_s": 120, "launch_command": launch}},
        ray={"num_gpus": 2, "num_cpus": 2})
    assets, resources = graph_for(config)
    with dg.instance_for_test() as instance:
        assert dg.materialize(assets, selection=["kb_index"], instance=instance, resources=resources).success
        result = dg.materialize(assets, selection=["conversations"], partition_key="en",
                                instance=instance, resources=resources)
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["accepted"].value == 4
    for replica in (0, 1):
        lines = (tmp_path / f"req-{replica}.jsonl").read_text().splitlines()
        assert lines and {json.loads(line)["status"] for line in lines} == {200}
    pids = replica_pids(tmp_path / "logs")
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)
    assert "[vllm] 2 replica(s) stopped" in (tmp_path / "logs" / "run.log").read_text()
