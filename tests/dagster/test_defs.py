"""Test 1: the Definitions load with the expected assets, checks, jobs, schedule and sensor."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dlgforge_assets.build import build_definitions
from resources import RayNotUsed
from tests.dagster.conftest import BLOCKING, graph_for, write_project

ASSETS = {"kb_documents", "kb_index", "conversations", "judged_conversations", "sharegpt_export",
          "dataset_stats", "dataset_export", "hf_dataset"}
TRUST = {"no_secrets", "judge_self_check"}  # blocking specs; judge_self_check reports WARN unless configured
CHECKS = BLOCKING | TRUST | {"no_pii", "target_language"}


def _asset_keys(defs: dg.Definitions) -> set[str]:
    return {key.to_user_string() for key in defs.resolve_all_asset_keys()}


def test_definitions_expose_the_graph(tmp_path: Path) -> None:
    config = write_project(tmp_path, "http://127.0.0.1:9/v1", run={"target_languages": ["en", "fr", "de"]},
                           automation={"schedule_cron": "15 4 * * 1"})
    defs = build_definitions(config)

    assert _asset_keys(defs) == ASSETS
    check_keys = defs.resolve_asset_graph().asset_check_keys
    assert {key.name for key in check_keys} == CHECKS
    assert {key.asset_key for key in check_keys} == {dg.AssetKey("judged_conversations")}
    blocking = {key.name for key in check_keys if defs.resolve_asset_graph().get_check_spec(key).blocking}
    assert blocking == BLOCKING | TRUST

    conversations = defs.resolve_assets_def("conversations")
    assert conversations.partitions_def.get_partition_keys() == ["en", "fr", "de"]
    assert conversations.op.pool == "llm"
    assert conversations.specs_by_key[dg.AssetKey("conversations")].group_name == "generation"
    assert "jsonl" in conversations.specs_by_key[dg.AssetKey("conversations")].kinds

    for job in ("kb_job", "conversations_job", "export_job", "publish_job"):
        assert defs.resolve_job_def(job).name == job

    schedule = defs.resolve_schedule_def("regeneration_schedule")
    assert schedule.cron_schedule == "15 4 * * 1"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    sensor = defs.resolve_sensor_def("kb_change_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert {job.name for job in sensor.jobs} == {"kb_job", "conversations_job"}


def test_adding_a_language_adds_a_partition(tmp_path: Path) -> None:
    config = write_project(tmp_path, "http://127.0.0.1:9/v1", run={"target_languages": ["en"]})
    assert build_definitions(config).resolve_assets_def("conversations").partitions_def.get_partition_keys() == ["en"]
    config = write_project(tmp_path, "http://127.0.0.1:9/v1", run={"target_languages": ["en", "it"]})
    assert build_definitions(config).resolve_assets_def("conversations").partitions_def.get_partition_keys() == ["en", "it"]


def test_only_a_distributed_config_makes_the_ray_resource_connect(tmp_path: Path) -> None:
    config = write_project(tmp_path, "http://127.0.0.1:9/v1", run={"target_languages": ["en"]})
    defs = build_definitions(config)
    assert "ray" in defs.resolve_assets_def("conversations").required_resource_keys
    assert isinstance(defs.resources["ray"], RayNotUsed)  # dagster-ray is not even imported
    config = write_project(tmp_path, "http://127.0.0.1:9/v1", run={
        "target_languages": ["en"], "batch_size": 4, "distributed": {"enabled": True, "shards_per_language": 2}})
    defs = build_definitions(config)
    assert defs.resources["ray"].lifecycle.connect is True
    assert defs.resolve_assets_def("conversations").partitions_def.get_partition_keys() == ["en"]


def test_a_single_process_config_loads_neither_dagster_ray_nor_lancedb(tmp_path: Path) -> None:
    """What `dlgforge run` imports before its first job: no Ray integration for a config that
    does not distribute, no LanceDB before the KB is opened."""
    import subprocess
    import sys

    config = write_project(tmp_path, "http://127.0.0.1:9/v1", run={"target_languages": ["en"]})
    script = ("import sys\n"
              "from dlgforge_assets.local_run import run_through_dagster\n"
              "from dlgforge_assets.build import build_definitions\n"
              f"build_definitions({str(config)!r})\n"
              "print(sorted(m for m in ('dagster_ray', 'ray', 'lancedb', 'polars') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_missing_config_still_loads_and_errors_at_materialization(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config.yaml"
    defs = build_definitions(missing)
    assert _asset_keys(defs) == ASSETS
    assert defs.resolve_assets_def("conversations").partitions_def.get_partition_keys() == []

    assets, resources = graph_for(missing)
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, selection=["kb_index"], instance=instance, raise_on_error=False,
                                resources=resources)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert str(missing) in (failure.cause or failure).message


def test_module_root_reads_dlgforge_config(tmp_path: Path, monkeypatch) -> None:
    import importlib

    config = write_project(tmp_path, "http://127.0.0.1:9/v1", run={"target_languages": ["pt"]})
    monkeypatch.setenv("DLGFORGE_CONFIG", str(config))
    import dlgforge_assets.definitions as root

    root = importlib.reload(root)
    assert root.defs.resolve_assets_def("conversations").partitions_def.get_partition_keys() == ["pt"]
