"""Conversation record -> ShareGPT row (plain and judged).

A row holds these columns, named by ``saving.output_columns``: the messages
(``{role, content}`` alternating user/assistant), the metadata, the training columns
``messages_with_tools``, ``user_reasoning`` and ``assistant_reasoning``
(``export/tool_columns.py``), and, in the judged file only, the judge column
``{per_turn, avg_score, conversation}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dlgforge_core.export.tool_columns import assistant_reasoning, messages_with_tools, user_reasoning
from dlgforge_core.store.outputs import web_source_urls

_DEFAULT_COLUMNS = {"messages": "messages", "metadata": "metadata", "judge": "judge",
                    "messages_with_tools": "messages_with_tools", "user_reasoning": "user_reasoning",
                    "assistant_reasoning": "assistant_reasoning"}


def to_sharegpt(record: Mapping[str, Any], columns: Any = None, judged: bool = False) -> dict:
    """Build the ShareGPT row of one accepted conversation record.

    ``columns`` is ``cfg.saving.output_columns`` (attributes named like the default
    columns) or a mapping with those keys; ``None`` keeps the default names.
    """
    turns = list(record.get("turns") or [])
    metadata = {
        "conversation_id": record.get("conversation_id"),
        "run_id": record.get("run_id"),
        "language": record.get("language"),
        "n_turns": len(turns),
        "user_persona": record.get("user_persona"),
        "assistant_persona": record.get("assistant_persona"),
        "topic": record.get("topic"),
    }
    if any("web_sources" in turn for turn in turns):  # the run had web search on
        metadata["web_source_urls"] = web_source_urls(turns)
    row = {_column(columns, "messages"): _messages(turns), _column(columns, "metadata"): metadata,
           _column(columns, "messages_with_tools"): messages_with_tools(turns),
           _column(columns, "user_reasoning"): user_reasoning(turns),
           _column(columns, "assistant_reasoning"): assistant_reasoning(turns)}
    if judged:
        row[_column(columns, "judge")] = judge_column(record)
    return row


def judge_column(record: Mapping[str, Any]) -> dict[str, Any]:
    """``{per_turn, avg_score, conversation}`` for one record.

    ``per_turn`` is aligned with the turns (``None`` for a turn never judged, and empty
    when no turn was judged, as with conversation granularity). ``avg_score`` is the
    mean of the per-turn scores, else the conversation score, else ``None``.
    """
    turns = list(record.get("turns") or [])
    per_turn = [_brief(turn.get("qa_judge")) for turn in turns]
    if all(item is None for item in per_turn):
        per_turn = []
    conversation = _brief(record.get("conversation_judge"))
    scores = [item["score"] for item in per_turn if item is not None]
    if scores:
        avg_score: float | None = round(sum(scores) / len(scores), 4)
    elif conversation is not None:
        avg_score = float(conversation["score"])
    else:
        avg_score = None
    return {"per_turn": per_turn, "avg_score": avg_score, "conversation": conversation}


def _messages(turns: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for turn in turns:
        messages.append({"role": "user", "content": turn.get("user_message") or ""})
        messages.append({"role": "assistant", "content": turn.get("assistant_message") or ""})
    return messages


def _brief(judgement: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not judgement or judgement.get("score") is None:
        return None
    return {
        "score": judgement["score"],
        "reasons": list(judgement.get("reasons") or []),
        "notes": judgement.get("notes") or "",
    }


def _column(columns: Any, name: str) -> str:
    if columns is None:
        return _DEFAULT_COLUMNS[name]
    if isinstance(columns, Mapping):
        return str(columns.get(name) or _DEFAULT_COLUMNS[name])
    return str(getattr(columns, name, None) or _DEFAULT_COLUMNS[name])
