"""Builders of conversation records for store and dedup tests."""

from __future__ import annotations

from typing import Any


def make_record(index: int, language: str = "en", run_id: str = "main", questions: list[str] | None = None,
                judged: bool = False) -> dict[str, Any]:
    """A well-formed accepted record with one turn per question."""
    questions = questions or [f"question {language} {index}?"]
    turns = []
    for t, q in enumerate(questions):
        turns.append({
            "turn_index": t, "mode": "fresh", "user_message": q, "assistant_message": f"answer to {q}",
            "question_chunk_ids": ["c1"], "question_sources": ["billing.md"],
            "grounding": {"index_version": "v1", "chunks": [{"chunk_id": "c1", "source": "billing.md", "score": 0.5}]},
            "cited_chunk_ids": ["c1"], "tool_rounds": 1,
            "qa_judge": {"score": 4, "reasons": [], "notes": "ok", "model": "m", "settings_hash": "h"} if judged else None,
        })
    return {
        "conversation_id": f"{run_id}-{language}-{index:06d}", "run_id": run_id, "language": language,
        "conversation_index": index, "created_at": "2026-11-22T10:00:00Z", "n_turns": len(turns),
        "user_persona": {"id": "u1", "name": "U", "description": "d"},
        "assistant_persona": {"id": "a1", "name": "A", "description": "d"},
        "topic": "billing", "seeded": False, "turns": turns, "conversation_judge": None,
        "models": {}, "usage": {}, "config_hash": "x", "kb_index_version": "v1",
    }
