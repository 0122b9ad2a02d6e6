"""Issue 16 in Dagster: the blocking `no_secrets` check stops the export of conversations
that carry a key (redaction on request lets it through), and the judge self-check shows in
the metadata and as a warning check naming a constant judge."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from tests.dagster.conftest import graph_for, write_project

EXPORT = ["judged_conversations", "sharegpt_export", "dataset_stats", "dataset_export"]
KEY = "AKIAIOSFODNN7EXAMPLE"


def leaky_answer(req) -> dict:
    return {"action": "answer", "query": None, "cited_chunk_ids": [],
            "answer": f"Sign in with the service account key {KEY} and restart the agent."}


def test_secrets_block_the_export_and_self_check_names_a_constant_judge(tmp_path: Path, fake_llm):
    fake_llm.set_handler("kb_responder", leaky_answer)
    judge = {"enabled": True, "mode": "online", "granularity": "turn", "self_check": {"probes": 3}}
    config = write_project(tmp_path, fake_llm.base_url, run={"target_languages": ["en"]}, judge=judge)
    output = tmp_path / "output"
    assets, resources = graph_for(config)
    with dg.instance_for_test() as instance:
        def materialize(selection, partition=None):
            return dg.materialize(assets, selection=selection, partition_key=partition, instance=instance,
                                  resources=resources, raise_on_error=False)

        assert materialize(["kb_index"]).success
        generated = materialize(["conversations"], "en")
        assert generated.success
        meta = generated.asset_materializations_for_node("conversations")[0].metadata
        assert meta["judge_self_check_verdict"].value == "constant judge"  # the fake judge always says 4
        assert meta["judge_self_check_accuracy"].value == 0.5
        assert len([r for r in fake_llm.calls("qa_judge") if r.conversation_id == "self-check"]) == 6

        blocked = materialize(EXPORT)
        assert not blocked.success
        checks = {e.check_name: e for e in blocked.get_asset_check_evaluations()}
        assert not checks["no_secrets"].passed
        assert checks["no_secrets"].severity == dg.AssetCheckSeverity.ERROR
        assert "AWS Access Key" in json.dumps(checks["no_secrets"].metadata["offending"].value)
        assert KEY not in json.dumps(checks["no_secrets"].metadata["offending"].value)
        assert not checks["judge_self_check"].passed
        assert checks["judge_self_check"].severity == dg.AssetCheckSeverity.WARN
        assert "constant judge" in checks["judge_self_check"].description
        materialized = {e.asset_key.to_user_string() for e in blocked.get_asset_materialization_events()}
        assert materialized == {"judged_conversations"}
        judged = blocked.asset_materializations_for_node("judged_conversations")[0].metadata
        assert judged["judge_self_check_verdict"].value == "constant judge"
        gates = json.loads((output / "run_state" / "quality_gates.json").read_text())
        assert gates["no_secrets"]["passed"] is False
        assert gates["judge_self_check"]["passed"] is True  # a warning: it does not block the push
        self_check_calls = len(fake_llm.calls("qa_judge"))

        write_project(tmp_path, fake_llm.base_url, run={"target_languages": ["en"]}, judge=judge,
                      saving={"output_dir": "output", "hf_push": {"redact_secrets": True}})
        assets, resources = graph_for(config)
        exported = materialize(EXPORT)
        assert exported.success
        texts = [p.read_text(encoding="utf-8") for p in (output / "export").rglob("*.jsonl")]
        assert texts and not any(KEY in t for t in texts) and any("[API_KEY]" in t for t in texts)
        card = (output / "export" / "README.md").read_text(encoding="utf-8")
        assert "judge self-check accuracy" in card and "constant judge" in card
        assert len(fake_llm.calls("qa_judge")) == self_check_calls  # no re-probing
