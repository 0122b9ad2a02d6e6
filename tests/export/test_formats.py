"""Issue 6, test 7: the SFT, RAFT and DPO exports validate against their documented schemas.

RAFT reads chunk texts from a real LanceDB index built with the real MiniLM model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from dlgforge_core.errors import ExportError
from dlgforge_core.export import prepare_export
from dlgforge_core.export.formats import RAFT_DISTRACTORS, json_schema
from dlgforge_core.kb import KnowledgeBase
from tests.export.conftest import DE_QA, EN_QA, make_record, write_outputs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "export.md"


def _documented_schema(name: str) -> dict:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"<!-- schema:{name} -->\s*```json\n(.*?)```", text, re.S)
    assert match, f"docs/export.md documents no schema for {name}"
    return json.loads(match.group(1))


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_sft_raft_and_dpo_exports_validate_against_their_documented_schemas(project):
    cfg = project(formats={"sft": True, "raft": True, "dpo": True}, generate_stats=False,
                  extra={"run": {"candidates_per_turn": 3}, "judge": {"enabled": True}})
    kb = KnowledgeBase(cfg)
    kb.build()
    chunks = {source: kb.chunks_for_source(source) for source in kb.sources()}
    records = []
    for i, (source, qa) in enumerate([("billing.md", [EN_QA[0], EN_QA[2]]), ("account.md", [EN_QA[3]]),
                                      ("shipping.md", [DE_QA[0]])]):
        record = make_record(f"main-en-{i:06d}", "en" if i < 2 else "de", qa, index=i, scores=[4] * len(qa),
                             candidates=[[(f"answer {n} to turn {t}", score) for n, score in enumerate((2, 5, 3))]
                                         for t in range(len(qa))])
        for turn in record["turns"]:
            chunk = chunks[source][0]
            turn["grounding"]["chunks"] = [{"chunk_id": chunk.chunk_id, "source": source, "score": 0.9}]
            turn["cited_chunk_ids"] = [chunk.chunk_id]
        records.append(record)
    records[1]["turns"][0]["candidates"] = [{"answer": "tie a", "qa_judge": {"score": 3}},
                                            {"answer": "tie b", "qa_judge": {"score": 3}}]
    write_outputs(cfg.output_dir, records)
    result = prepare_export(cfg)

    for name in ("sft", "raft", "dpo"):
        schema = json.loads((result.export_dir / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
        assert schema == json_schema(name) == _documented_schema(name)
        rows = _rows(result.export_dir / name / "train.jsonl")
        assert rows
        for row in rows:
            jsonschema.validate(row, schema)

    sft = _rows(result.export_dir / "sft" / "train.jsonl")
    assert len(sft) == 3
    assert sft[0]["messages"][:2] == [{"role": "user", "content": EN_QA[0][0]},
                                      {"role": "assistant", "content": EN_QA[0][1]}]

    raft = _rows(result.export_dir / "raft" / "train.jsonl")
    assert [r["id"] for r in raft] == ["main-en-000000-t0", "main-en-000000-t1", "main-en-000001-t0",
                                       "main-en-000002-t0"]
    first_billing = chunks["billing.md"][0]
    assert raft[0]["oracle_chunks"] == [{"chunk_id": first_billing.chunk_id, "source": "billing.md",
                                         "text": first_billing.text}]
    all_ids = {c.chunk_id for cs in chunks.values() for c in cs}
    for row in raft:
        distractors = {c["chunk_id"] for c in row["distractor_chunks"]}
        assert len(distractors) == min(RAFT_DISTRACTORS, len(all_ids) - 1)
        assert distractors <= all_ids and not distractors & {c["chunk_id"] for c in row["oracle_chunks"]}

    dpo = _rows(result.export_dir / "dpo" / "train.jsonl")
    assert len(dpo) == 3                                    # the tied turn gives no pair
    assert dpo[0]["chosen"] == [{"role": "assistant", "content": "answer 1 to turn 0"}]
    assert dpo[0]["rejected"] == [{"role": "assistant", "content": "answer 0 to turn 0"}]
    assert (dpo[0]["chosen_score"], dpo[0]["rejected_score"]) == (5.0, 2.0)
    assert dpo[1]["prompt"] == [{"role": "user", "content": EN_QA[0][0]},
                                {"role": "assistant", "content": EN_QA[0][1]},
                                {"role": "user", "content": EN_QA[2][0]}]


def test_dpo_without_candidates_is_a_config_error(project):
    cfg = project(formats={"dpo": True}, generate_stats=False)
    write_outputs(cfg.output_dir, [make_record("main-en-000000", "en", [EN_QA[0]], scores=[4])])
    with pytest.raises(ExportError, match=r"saving.hf_push.formats.dpo: needs run.candidates_per_turn > 1"):
        prepare_export(cfg)
