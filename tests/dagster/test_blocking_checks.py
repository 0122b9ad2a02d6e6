"""Test 3: a failing blocking check stops the export and the push, and is recorded for the push."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from tests.dagster.conftest import BLOCKING, graph_for, write_project

EXPORT_SIDE = ["judged_conversations", "sharegpt_export", "dataset_stats", "dataset_export", "hf_dataset"]


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_failed_check_blocks_export_and_push(tmp_path: Path, fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_never_used")
    judge = {"enabled": True, "mode": "online", "granularity": "turn", "min_mean_score": 4.5}
    config = write_project(tmp_path, fake_llm.base_url, run={"target_languages": ["en"]}, judge=judge,
                           saving={"output_dir": "output", "hf_push": {"repo_id": "acme/dlg-test"}})
    output = tmp_path / "output"
    assets, resources = graph_for(config)
    with dg.instance_for_test() as instance:
        def materialize(selection, partition=None):
            return dg.materialize(assets, selection=selection, partition_key=partition, instance=instance,
                                  resources=resources, raise_on_error=False)

        assert materialize(["kb_index"]).success
        assert materialize(["conversations"], "en").success

        # The fake judge scores every turn 4 < judge.min_mean_score 4.5.
        blocked = materialize(EXPORT_SIDE)
        assert not blocked.success
        outcomes = {e.check_name: e.passed for e in blocked.get_asset_check_evaluations()
                    if e.check_name in BLOCKING}
        assert outcomes == {"schema_valid": True, "unique_questions": True, "turn_counts_in_bounds": True,
                            "judge_score_threshold": False, "drop_rate": True}
        assert _materialized(blocked) == {"judged_conversations"}
        assert not (output / "export").exists()

        gates = json.loads((output / "run_state" / "quality_gates.json").read_text())
        assert gates["judge_score_threshold"]["passed"] is False
        assert "4.000 < judge.min_mean_score=4.5" in gates["judge_score_threshold"]["description"]
        assert all(gates[name]["passed"] for name in outcomes if name != "judge_score_threshold")

        # With the threshold met the same graph exports (the push is left out: no Hub here).
        write_project(tmp_path, fake_llm.base_url, run={"target_languages": ["en"]},
                      judge={**judge, "min_mean_score": 3.5},
                      saving={"output_dir": "output", "hf_push": {"repo_id": "acme/dlg-test"}})
        exported = materialize(EXPORT_SIDE[:-1])
        assert exported.success
        assert _materialized(exported) == set(EXPORT_SIDE[:-1])
        assert (output / "export" / "README.md").exists()
        stats = exported.asset_materializations_for_node("dataset_stats")[0].metadata
        assert stats["by_language"].value.records[0].data["conversations"] == 2
        assert "data:image/svg+xml;base64," in stats["plots"].value
        assert json.loads((output / "run_state" / "quality_gates.json").read_text())[
            "judge_score_threshold"]["passed"] is True


def test_push_refuses_while_a_recorded_gate_failed(tmp_path: Path, fake_llm, monkeypatch) -> None:
    from dlgforge_core.export.checks import GateOutcome
    from dlgforge_core.config import load_config
    from dlgforge_core.store.gates import record_gate

    monkeypatch.setenv("HF_TOKEN", "hf_test_token_never_used")
    config = write_project(tmp_path, fake_llm.base_url, run={"target_languages": ["en"]},
                           saving={"output_dir": "output", "hf_push": {"repo_id": "acme/dlg-test"}})
    assets, resources = graph_for(config)
    with dg.instance_for_test() as instance:
        assert dg.materialize(assets, selection=["kb_index"], instance=instance, resources=resources).success
        assert dg.materialize(assets, selection=["conversations"], partition_key="en", instance=instance,
                              resources=resources).success
        exported = dg.materialize(assets, selection=EXPORT_SIDE[:-1], instance=instance, resources=resources)
        assert exported.success
        # A gate recorded as failed elsewhere (e.g. a check on a previous run) blocks the push.
        record_gate(load_config(config), GateOutcome("no_pii", False, "1 record contains an email", ["main-en-000000"]))
        push = dg.materialize(assets, selection=["hf_dataset"], instance=instance, resources=resources,
                              raise_on_error=False)
    assert not push.success
    error = push.get_step_failure_events()[0].step_failure_data.error
    assert "GateError" in (error.cause or error).message
    assert "quality gate no_pii failed" in (error.cause or error).message


def test_dlgforge_run_stops_with_the_failed_gate_named(tmp_path: Path, fake_llm, dagster_home) -> None:
    from click.testing import CliRunner

    from dlgforge_assets.cli import main

    judge = {"enabled": True, "mode": "online", "granularity": "turn", "min_mean_score": 4.5}
    config = write_project(tmp_path, fake_llm.base_url, run={"target_languages": ["en"]}, judge=judge)
    result = CliRunner().invoke(main, ["run", str(config)])
    assert result.exit_code == 2, result.output
    assert "dlgforge run summary" in result.output  # outputs are written and summarized first
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: quality checks failed (judge_score_threshold)")
    assert len((tmp_path / "output" / "synthetic_qa.jsonl").read_text().splitlines()) == 2
    assert not (tmp_path / "output" / "export").exists()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert instance.get_materialized_partitions(dg.AssetKey("conversations")) == {"en"}
        assert instance.get_latest_materialization_event(dg.AssetKey("dataset_export")) is None
