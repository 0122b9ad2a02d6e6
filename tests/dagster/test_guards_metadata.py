"""The reply guards' drop reasons and counts in the `conversations` asset's metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from tests.dagster.conftest import graph_for, write_project
from tests.fake_llm.server import FakeLLMServer


def test_conversations_metadata_counts_guard_drops_and_attempts(tmp_path: Path) -> None:
    def english_in_french(req):
        # every other conversation's question stays English: dropped as wrong_language
        odd = int((req.conversation_id or "0")[-1]) % 2
        text = "How often does the desktop agent sync the files of my account?" if odd else \
            f"À quelle fréquence l'agent synchronise-t-il mes fichiers, cas {req.seq} ?"
        return {"question": text}

    with FakeLLMServer(handlers={"qa_generator": english_in_french}) as srv:
        config = write_project(tmp_path, srv.base_url, run={"total_samples": 2, "batch_size": 1},
                               quality={"max_drop_rate": 1.0})
        assets, resources = graph_for(config)
        with dg.instance_for_test() as instance:
            assert dg.materialize(assets, selection=["kb_index"], instance=instance, resources=resources).success
            result = dg.materialize(assets, selection=["conversations"], partition_key="fr", instance=instance,
                                    resources=resources)
            metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["accepted"].value == 2
    assert metadata["dropped_by_reason"].value == {"wrong_language": 1}  # conversation 1 of 0, 1, 2
    guards = metadata["guards"].value
    assert guards["rejected"] == {"wrong_language": 4}  # its 4 attempts (question_dedup_retries 3 + 1)
    assert guards["questions"] == 2 and guards["question_attempts"] == 6
