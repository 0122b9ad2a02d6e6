"""Test 4: the KB/config sensor requests the affected assets only when something changed."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from dlgforge_assets.build import build_definitions
from tests.dagster.conftest import write_project


def _tick(defs: dg.Definitions, cursor: str | None, instance: dg.DagsterInstance):
    sensor = defs.resolve_sensor_def("kb_change_sensor")
    context = dg.build_sensor_context(cursor=cursor, instance=instance, definitions=defs)
    return sensor(context)


def _requests(result) -> list[tuple[str, str | None]]:
    return sorted((request.job_name, request.partition_key) for request in result.run_requests)


def test_sensor_ticks(tmp_path: Path) -> None:
    config = write_project(tmp_path, "http://127.0.0.1:9/v1", run={"target_languages": ["en", "fr"]})
    defs = build_definitions(config)
    everything = [("conversations_job", "en"), ("conversations_job", "fr"), ("kb_job", None)]
    with dg.instance_for_test() as instance:
        first = _tick(defs, None, instance)
        assert _requests(first) == everything
        cursor = first.cursor
        assert json.loads(cursor)["kb"]

        unchanged = _tick(defs, cursor, instance)
        assert isinstance(unchanged, dg.SkipReason)

        (tmp_path / "knowledge" / "setup.md").write_text("# Setup\n\nA new install guide.\n", encoding="utf-8")
        changed = _tick(defs, cursor, instance)
        assert _requests(changed) == everything
        assert changed.cursor != cursor
        assert json.loads(changed.cursor)["config"] == json.loads(cursor)["config"]
        assert isinstance(_tick(defs, changed.cursor, instance), dg.SkipReason)

        # A config change alone regenerates the partitions, not the index.
        write_project(tmp_path, "http://127.0.0.1:9/v1", run={"target_languages": ["en", "fr"], "seed": 7})
        (tmp_path / "knowledge" / "setup.md").write_text("# Setup\n\nA new install guide.\n", encoding="utf-8")
        config_only = _tick(defs, changed.cursor, instance)
        assert _requests(config_only) == everything[:2]
        assert json.loads(config_only.cursor)["kb"] == json.loads(changed.cursor)["kb"]


def test_schedule_requests_every_language(tmp_path: Path) -> None:
    config = write_project(tmp_path, "http://127.0.0.1:9/v1", run={"target_languages": ["en", "de"]})
    defs = build_definitions(config)
    schedule = defs.resolve_schedule_def("regeneration_schedule")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, repository_def=defs.get_repository_def(),
            scheduled_execution_time=datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc))
        requests = schedule.evaluate_tick(context).run_requests
    assert sorted(r.partition_key for r in requests) == ["de", "en"]
    assert {r.job_name for r in requests} <= {None, "conversations_job"}
    assert len({r.run_key for r in requests}) == 2
