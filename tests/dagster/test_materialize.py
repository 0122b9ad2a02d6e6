"""Test 2: materializing the graph for two language partitions; resume after a killed server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import dagster as dg

from tests.dagster.conftest import BLOCKING, free_port, graph_for, logged_requests, start_fake_llm_process, write_project

CONVERSATIONS = dg.AssetKey("conversations")


def _accepted(output: Path, language: str) -> list[dict]:
    path = output / "synthetic_qa.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if row["language"] == language]


def _wait_for(predicate, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def test_partitions_materialize_resume_and_noop(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "requests.jsonl"
    server, base_url = start_fake_llm_process(port, log, latency_ms=150)
    # The outage drops many attempts (llm_error); the drop-rate gate is test 3's subject, not this one's.
    config = write_project(tmp_path, base_url, run={"total_samples": 3, "batch_size": 1},
                           quality={"max_drop_rate": 1.0})
    output = tmp_path / "output"
    assets, resources = graph_for(config)
    try:
        with dg.instance_for_test() as instance:
            def materialize(selection, partition=None, raise_on_error=True):
                return dg.materialize(assets, selection=selection, partition_key=partition, instance=instance,
                                      resources=resources, raise_on_error=raise_on_error)

            assert materialize(["kb_index"]).success
            en = materialize(["conversations"], "en")
            assert len(_accepted(output, "en")) == 3
            metadata = en.get_asset_materialization_events()[0].materialization.metadata
            assert metadata["accepted"].value == 3 and metadata["complete"].value is True
            assert set(metadata["tokens_by_agent"].value) == {"qa_generator", "kb_responder"}
            assert "**User:**" in metadata["preview"].value

            # fr: kill the server once one conversation is accepted; the partition fails.
            outcome: dict = {}
            worker = threading.Thread(target=lambda: outcome.update(
                result=materialize(["conversations"], "fr", raise_on_error=False)))
            worker.start()
            _wait_for(lambda: len(_accepted(output, "fr")) >= 1)
            server.kill()
            server.wait()
            worker.join(timeout=300)
            assert not outcome["result"].success
            accepted_before = {row["conversation_id"] for row in _accepted(output, "fr")}
            assert 1 <= len(accepted_before) < 3
            assert instance.get_materialized_partitions(CONVERSATIONS) == {"en"}

            # Restart the server on the same port: the re-run resumes and ends at exactly 3.
            server, _ = start_fake_llm_process(port, log)
            requests_before_resume = len(logged_requests(log))
            assert materialize(["conversations"], "fr").success
            fr = _accepted(output, "fr")
            assert len(fr) == 3 and len({row["conversation_id"] for row in fr}) == 3
            assert accepted_before <= {row["conversation_id"] for row in fr}
            resumed = logged_requests(log)[requests_before_resume:]
            assert not {r["conversation_id"] for r in resumed} & accepted_before
            assert instance.get_materialized_partitions(CONVERSATIONS) == {"en", "fr"}

            # A complete partition re-materializes with no LLM call at all.
            calls = len(logged_requests(log))
            again = materialize(["conversations"], "en")
            assert len(logged_requests(log)) == calls
            assert again.get_asset_materialization_events()[0].materialization.metadata["llm_calls"].value == 0
            assert len(_accepted(output, "en")) == 3

            # The export side of the graph runs on the two partitions' outputs.
            judged = materialize(["judged_conversations", "sharegpt_export"])
            outcomes = {e.check_name: e.passed for e in judged.get_asset_check_evaluations()}
            assert len(outcomes) == 9
            assert all(outcomes[name] for name in BLOCKING)
            sharegpt = (output / "conversations_sharegpt.jsonl").read_text().splitlines()
            assert len(sharegpt) == 6
    finally:
        server.kill()
        server.wait()
