"""The core quality-gate functions and the recorded gate file the push reads."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from dlgforge_core.errors import GateError
from dlgforge_core.export import checks
from dlgforge_core.store import gates


def _record(cid: str, questions: list[str], scores: list[int | None] | None = None, **extra) -> dict:
    scores = scores or [None] * len(questions)
    turns = [
        {"turn_index": i, "user_message": q, "assistant_message": f"answer {i}",
         "qa_judge": None if s is None else {"score": s, "reasons": [], "notes": ""}}
        for i, (q, s) in enumerate(zip(questions, scores))
    ]
    return {"conversation_id": cid, "run_id": "main", "language": "en", "n_turns": len(turns),
            "turns": turns, **extra}


def test_schema_valid_names_the_bad_record() -> None:
    good = _record("main-en-000000", ["How do refunds work?"])
    broken = _record("main-en-000001", ["Where is the invoice?"])
    broken["n_turns"] = 3
    blank = _record("main-en-000002", ["   "])
    assert checks.schema_valid([good]).passed
    outcome = checks.schema_valid([good, broken, blank, {"language": "en"}])
    assert not outcome.passed
    assert outcome.offending[0].startswith("main-en-000001")
    assert outcome.offending[1].startswith("main-en-000002")
    assert outcome.offending[2].startswith("<record 3>")
    assert "3 of 4" in outcome.description


def test_unique_questions_uses_the_normalized_form() -> None:
    a = _record("main-en-000000", ["How do  refunds work?"])
    b = _record("main-fr-000000", ["how do refunds WORK?"])
    c = _record("main-en-000001", ["What does the Team plan cost?"])
    assert checks.unique_questions([a, c]).passed
    outcome = checks.unique_questions([a, c, b])
    assert not outcome.passed
    assert outcome.offending == ["main-fr-000000 turn 0 repeats main-en-000000"]


def test_turn_counts_in_bounds() -> None:
    records = [_record("a", ["q1"]), _record("b", ["q2", "q3"]), _record("c", ["q4", "q5", "q6", "q7"])]
    assert checks.turn_counts_in_bounds(records[:2], 1, 3).passed
    outcome = checks.turn_counts_in_bounds(records, 1, 3)
    assert outcome.offending == ["c: 4 turns"]


def test_judge_score_threshold() -> None:
    records = [_record("a", ["q1", "q2"], [4, 2]), _record("b", ["q3"], [3], conversation_judge={"score": 5})]
    assert checks.judge_score_threshold(records, None).passed
    assert checks.judge_score_threshold(records, 3.5).passed  # mean of 4, 2, 3, 5
    failed = checks.judge_score_threshold(records, 3.6)
    assert not failed.passed and "3.500" in failed.description
    unjudged = checks.judge_score_threshold([_record("c", ["q"])], 3.0)
    assert not unjudged.passed and "no judge scores" in unjudged.description


def test_drop_rate() -> None:
    assert checks.drop_rate(8, {"dedup_exhausted": 2}, 0.2).passed
    outcome = checks.drop_rate(6, {"llm_error": 3, "dedup_exhausted": 1}, 0.2)
    assert not outcome.passed
    assert outcome.offending == ["llm_error: 3", "dedup_exhausted: 1"]
    assert checks.drop_rate(0, {}, 0.0).passed


def test_offending_lists_are_capped() -> None:
    records = [_record(f"c{i}", ["same question"]) for i in range(300)]
    outcome = checks.unique_questions(records)
    assert len(outcome.offending) == checks.MAX_OFFENDING
    assert "299 duplicate" in outcome.description


def test_record_gate_keeps_the_latest_outcome_per_gate(tmp_path: Path) -> None:
    cfg = SimpleNamespace(output_dir=tmp_path / "out")
    gates.record_gate(cfg, checks.drop_rate(1, {"llm_error": 9}, 0.5))
    gates.record_gate(cfg, checks.unique_questions([_record("a", ["q"])]), partition="en")
    assert set(gates.failed_gates(cfg)) == {"drop_rate"}
    stored = json.loads((tmp_path / "out" / "run_state" / "quality_gates.json").read_text())
    assert stored["unique_questions"]["passed"] is True
    assert stored["unique_questions"]["partition"] == "en"
    assert stored["drop_rate"]["offending"] == ["llm_error: 9"]

    gates.record_gate(cfg, checks.drop_rate(9, {"llm_error": 1}, 0.5))
    assert gates.failed_gates(cfg) == {}
    assert set(gates.read_gates(cfg)) == {"drop_rate", "unique_questions"}


def test_unreadable_gate_file_is_a_user_error(tmp_path: Path) -> None:
    cfg = SimpleNamespace(output_dir=tmp_path)
    path = gates.gates_path(cfg)
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(GateError, match="quality_gates.json"):
        gates.read_gates(cfg)
