"""Test 7: with dagster.yaml on PostgreSQL, materializations and partition status live there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg
import psycopg

from dlgforge_assets.instance import open_instance
from tests.dagster.conftest import PYTHON, REPO, graph_for, python_env, write_project

POSTGRES_STORAGE = """
storage:
  postgres:
    postgres_url:
      env: DAGSTER_PG_URL
"""

READ_BACK = """
import json, dagster as dg
with dg.DagsterInstance.get() as instance:
    event = instance.get_latest_materialization_event(dg.AssetKey("conversations"))
    print(json.dumps({
        "storage": type(instance.event_log_storage).__name__,
        "partitions": sorted(instance.get_materialized_partitions(dg.AssetKey("conversations"))),
        "kb_index": instance.get_latest_materialization_event(dg.AssetKey("kb_index")) is not None,
        "accepted": event.asset_materialization.metadata["accepted"].value,
    }))
"""


def test_materializations_persist_in_postgres(tmp_path: Path, fake_llm, postgres_url, monkeypatch) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    # The repository's dagster.yaml with its documented PostgreSQL block switched on.
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text() + POSTGRES_STORAGE, encoding="utf-8")
    dagster_url = postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_url)
    config = write_project(tmp_path, fake_llm.base_url, run={"target_languages": ["en", "fr"]})
    assets, resources = graph_for(config)

    with open_instance(home) as instance:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert dg.materialize(assets, selection=["kb_index"], instance=instance, resources=resources).success
        assert dg.materialize(assets, selection=["conversations"], partition_key="en", instance=instance,
                              resources=resources).success

    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'"
            " and asset_key like '%conversations%' and partition = 'en'"
        ).fetchone()
    assert rows[0] == 1

    done = subprocess.run([PYTHON, "-c", READ_BACK], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=python_env(DAGSTER_HOME=str(home), DAGSTER_PG_URL=dagster_url))
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"storage": "PostgresEventLogStorage", "partitions": ["en"], "kb_index": True, "accepted": 2}
