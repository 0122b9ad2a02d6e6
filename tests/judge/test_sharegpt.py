"""Conversation record -> ShareGPT row, plain and judged, with renamed columns."""

from __future__ import annotations

from dlgforge_core.config.sections import OutputColumns
from dlgforge_core.export.sharegpt import to_sharegpt


def record(turns: int = 2, **extra) -> dict:
    base = {
        "conversation_id": "main-en-000003", "run_id": "main", "language": "en",
        "conversation_index": 3, "n_turns": 5,
        "user_persona": {"id": "u07", "name": "Ana", "description": "a student"},
        "assistant_persona": {"id": "a12", "name": "Guide", "description": "patient"},
        "topic": "billing", "seeded": False,
        "turns": [
            {"turn_index": i, "user_message": f"q{i}", "assistant_message": f"a{i}",
             "qa_judge": None}
            for i in range(turns)
        ],
        "conversation_judge": None,
    }
    base.update(extra)
    return base


TRAINING = {"messages_with_tools", "user_reasoning", "assistant_reasoning"}


def test_plain_row_alternates_user_and_assistant_and_counts_actual_turns():
    row = to_sharegpt(record(turns=3), OutputColumns(), judged=False)
    assert set(row) == {"messages", "metadata"} | TRAINING
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"] * 3
    assert [m["content"] for m in row["messages"]] == ["q0", "a0", "q1", "a1", "q2", "a2"]
    meta = row["metadata"]
    assert meta["n_turns"] == 3  # the actual count, not the record's planned n_turns
    assert meta == {
        "conversation_id": "main-en-000003", "run_id": "main", "language": "en", "n_turns": 3,
        "user_persona": {"id": "u07", "name": "Ana", "description": "a student"},
        "assistant_persona": {"id": "a12", "name": "Guide", "description": "patient"},
        "topic": "billing",
    }


def test_renamed_columns_from_config_model_or_mapping():
    cols = OutputColumns(messages="conversations", metadata="meta", judge="scores")
    row = to_sharegpt(record(), cols, judged=True)
    assert set(row) == {"conversations", "meta", "scores"} | TRAINING
    row = to_sharegpt(record(), {"messages": "chat", "user_reasoning": "why_asked"}, judged=False)
    assert set(row) == {"chat", "metadata", "why_asked", "messages_with_tools", "assistant_reasoning"}


def test_judged_row_per_turn_scores_and_average():
    rec = record(turns=2)
    rec["turns"][0]["qa_judge"] = {"score": 4, "reasons": ["grounded"], "notes": "ok",
                                   "model": "m", "settings_hash": "h"}
    rec["turns"][1]["qa_judge"] = {"score": 1, "reasons": ["unclear"], "notes": "bad",
                                   "model": "m", "settings_hash": "h"}
    judge = to_sharegpt(rec, OutputColumns(), judged=True)["judge"]
    assert judge["per_turn"] == [
        {"score": 4, "reasons": ["grounded"], "notes": "ok"},
        {"score": 1, "reasons": ["unclear"], "notes": "bad"},
    ]
    assert judge["avg_score"] == 2.5
    assert judge["conversation"] is None


def test_judged_row_with_conversation_granularity():
    rec = record(turns=2, conversation_judge={"score": 3, "reasons": [], "notes": "fine",
                                              "model": "m", "settings_hash": "h"})
    judge = to_sharegpt(rec, OutputColumns(), judged=True)["judge"]
    assert judge == {"per_turn": [], "avg_score": 3.0,
                     "conversation": {"score": 3, "reasons": [], "notes": "fine"}}


def test_partly_judged_turns_keep_alignment_and_unjudged_record():
    rec = record(turns=2)
    assert to_sharegpt(rec, None, judged=True)["judge"] == {
        "per_turn": [], "avg_score": None, "conversation": None}
    rec["turns"][1]["qa_judge"] = {"score": 5, "reasons": [], "notes": ""}
    judge = to_sharegpt(rec, None, judged=True)["judge"]
    assert judge["per_turn"] == [None, {"score": 5, "reasons": [], "notes": ""}]
    assert judge["avg_score"] == 5.0
