"""The `conversations` asset runs a distributed language on the Ray that dagster-ray's `ray`
resource connected (real local Ray, real PostgreSQL store, loopback LLM over HTTP)."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from resources import ray_resource_for
from tests.dagster.conftest import graph_for, write_project

DISTRIBUTED = {"target_languages": ["en"], "batch_size": 4, "total_samples": 4,
               "distributed": {"enabled": True, "shards_per_language": 2, "num_workers": 2}}


@pytest.fixture
def project(tmp_path, fake_llm, postgres_url):
    config = write_project(tmp_path, fake_llm.base_url, run=DISTRIBUTED, ray={"num_cpus": 2},
                           store={"backend": "postgres", "postgres": {"dsn": postgres_url}})
    return config, tmp_path / "output"


def test_the_shards_run_on_the_resource_s_ray_and_the_asset_writes_the_folder(project, postgres_url, fake_llm) -> None:
    import ray

    config, output = project
    assets, resources = graph_for(config)
    assert resources["ray"].lifecycle.connect is True
    try:
        with dg.instance_for_test() as instance:
            assert dg.materialize(assets, selection=["kb_index"], instance=instance, resources=resources).success
            result = dg.materialize(assets, selection=["conversations"], partition_key="en", instance=instance,
                                    resources=resources)
    finally:
        ray.shutdown()
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["accepted"].value == 4 and metadata["complete"].value is True
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("select shard, status from dlg_checkpoints order by shard").fetchall() == [
            (0, "complete"), (1, "complete")]
    assert len((output / "synthetic_qa.jsonl").read_text().splitlines()) == 4


def test_without_the_resource_s_connection_no_shard_starts(project, fake_llm) -> None:
    config, _ = project
    assets, resources = graph_for(config)
    resources = {**resources, "ray": ray_resource_for(None, 2, connect=False)}
    with dg.instance_for_test() as instance:
        assert dg.materialize(assets, selection=["kb_index"], instance=instance, resources=resources).success
        result = dg.materialize(assets, selection=["conversations"], partition_key="en", instance=instance,
                                resources=resources, raise_on_error=False)
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert "needs the Dagster `ray` resource connected" in (error.cause or error).message
    assert fake_llm.requests == []
