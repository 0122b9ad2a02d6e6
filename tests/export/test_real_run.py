"""The export of a real `dlgforge run` output (fake LLM server at the HTTP boundary, real KB):
stats, training formats and the manifest agree with the files the run wrote."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jsonschema
import pytest

from dlgforge_core.config import load_config
from dlgforge_core.export import prepare_export
from tests.e2e.generate_project import dlgforge, jsonl, write_config
from tests.fake_llm.handlers import judge_reply
from tests.fake_llm.server import FakeLLMServer
from tests.support.project import write_kb

pytestmark = pytest.mark.slow


def _varied_judge(req):
    """Scores 2..5 from the answer's number, so candidates of one turn differ."""
    reply = judge_reply(req)
    numbers = re.findall(r"Answer (\d+):", req.prompt_text)
    reply["score"] = 2 + int(numbers[-1]) % 4 if numbers else 4
    return reply


def test_export_of_a_real_run_with_candidates(tmp_path: Path):
    shared = {"knowledge_dir": write_kb(tmp_path / "kb" / "knowledge"), "index_dir": tmp_path / "kb" / "index"}
    with FakeLLMServer(handlers={"qa_judge": _varied_judge}) as srv:
        config = write_config(tmp_path / "project", srv.base_url, shared, {
            "run": {"total_samples": 3, "candidates_per_turn": 2},
            "judge": {"enabled": True, "mode": "online", "granularity": "turn"},
            "saving": {"hf_push": {"generate_plots": False, "formats": {"sft": True, "raft": True, "dpo": True}}},
        })
        done = dlgforge("run", str(config), cwd=config.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    cfg = load_config(config)
    result = prepare_export(cfg)
    output = cfg.output_dir
    records = jsonl(output / "synthetic_qa.jsonl")
    assert len(records) == 3

    stats = result.stats
    assert stats["records"] == 3 and stats["languages"] == {"en": 3}
    assert stats["turns"] == sum(len(r["turns"]) for r in records)
    state = json.loads((output / "run_state" / "main-en.json").read_text())
    assert stats["drops"]["dropped"] == len(state["dropped"])
    assert stats["kb_coverage"]["chunks_total"] > 0
    assert stats["kb_coverage"]["documents_total"] == 3
    assert {g.name for g in result.gates if g.passed} >= {"schema_valid", "unique_questions",
                                                          "turn_counts_in_bounds"}

    export = result.export_dir
    assert len(jsonl(export / "data" / "conversations_sharegpt_judged.jsonl")) == 3
    assert len(jsonl(export / "sft" / "train.jsonl")) == 3
    raft = jsonl(export / "raft" / "train.jsonl")
    grounding = {f"{r['conversation_id']}-t{t['turn_index']}": [c["chunk_id"] for c in t["grounding"]["chunks"]]
                 for r in records for t in r["turns"]}
    assert raft and all([c["chunk_id"] for c in row["oracle_chunks"]] == grounding[row["id"]] for row in raft)
    dpo = jsonl(export / "dpo" / "train.jsonl")
    assert dpo and all(row["chosen_score"] > row["rejected_score"] for row in dpo)
    for name, rows in (("raft", raft), ("dpo", dpo)):
        schema = json.loads((export / "schemas" / f"{name}.schema.json").read_text())
        for row in rows:
            jsonschema.validate(row, schema)
    for rel, entry in result.manifest["files"].items():
        assert hashlib.sha256((export / rel).read_bytes()).hexdigest() == entry["sha256"]
    assert prepare_export(cfg).version == result.version


def test_offline_judge_scores_every_answer_candidate_for_dpo(tmp_path: Path):
    """`judge.mode: offline` with candidates: each candidate is judged on the chunks it was
    grounded on, the turn keeps its chosen answer and that answer's judgement, and the DPO
    export gets its pairs."""
    shared = {"knowledge_dir": write_kb(tmp_path / "kb" / "knowledge"), "index_dir": tmp_path / "kb" / "index"}
    with FakeLLMServer(handlers={"qa_judge": _varied_judge}) as srv:
        config = write_config(tmp_path / "project", srv.base_url, shared, {
            "run": {"total_samples": 3, "candidates_per_turn": 2},
            "judge": {"enabled": True, "mode": "offline", "granularity": "turn"},
            "saving": {"hf_push": {"generate_plots": False, "formats": {"dpo": True}}},
        })
        done = dlgforge("run", str(config), cwd=config.parent)
        judge_prompts = [r.prompt_text for r in srv.calls("qa_judge") if r.conversation_id != "self-check"]
    assert done.returncode == 0, done.stderr[-3000:]
    records = jsonl(load_config(config).output_dir / "synthetic_qa.jsonl")
    turns = [t for r in records for t in r["turns"]]
    assert len(records) == 3 and all(len(t["candidates"]) == 2 for t in turns)
    assert len(judge_prompts) == 2 * len(turns)
    for turn in turns:
        for candidate in turn["candidates"]:
            assert candidate["qa_judge"]["score"] in (2, 3, 4, 5)
            ids = candidate["grounding_chunk_ids"]
            assert ids and any(candidate["answer"] in p and all(f"[chunk:{cid}]" in p for cid in ids)
                               for p in judge_prompts)
        [chosen] = [c for c in turn["candidates"] if c["answer"] == turn["assistant_message"]][:1]
        assert turn["qa_judge"] == chosen["qa_judge"]
    dpo = jsonl(load_config(config).output_dir / "export" / "dpo" / "train.jsonl")
    assert dpo and all(row["chosen_score"] > row["rejected_score"] for row in dpo)
