"""Descriptions of every column of the exported files, for the card and docs/export.md."""

from __future__ import annotations

import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel

# What each known key of the output files means (ShareGPT rows, records, turns rows).
DESCRIPTIONS: dict[str, str] = {
    "messages": "the conversation: alternating `{role, content}` messages, user first",
    "messages[].role": "`user` or `assistant`",
    "messages[].content": "the message text",
    "metadata": "where the conversation comes from",
    "metadata.conversation_id": "`<run_id>-<language>-<index:06d>`, unique in the dataset",
    "metadata.run_id": "the generation run",
    "metadata.language": "language code of the conversation",
    "metadata.n_turns": "number of user/assistant turns",
    "metadata.user_persona": "persona of the user agent `{id, name, description}`",
    "metadata.assistant_persona": "persona of the assistant `{id, name, description}`",
    "metadata.topic": "seed topic of the conversation (null when none)",
    "metadata.web_source_urls": "URLs of the web results the answers were given (only when web search was on)",
    "messages_with_tools": "the conversation as OpenAI chat messages with the search tool calls: per turn the user "
                           "message, one assistant `tool_calls` message and one `tool` result message per search, "
                           "then the answer",
    "messages_with_tools[].role": "`user`, `assistant` or `tool`",
    "messages_with_tools[].content": "the message text (a tool message: JSON `{query, results}` with chunk ids)",
    "messages_with_tools[].tool_calls": "assistant only: `[{id, type: function, function: {name, arguments}}]`, "
                                        "else null",
    "messages_with_tools[].tool_call_id": "tool messages: the id of the call they answer, else null",
    "messages_with_tools[].name": "tool messages: `kb_search` or `web_search`, else null",
    "user_reasoning": "per turn `{turn_index, mode, intent, difficulty, seed_topic, seed_question, "
                      "grounding_chunk_ids, grounding_sources, reasoning}`: why the user asked it",
    "assistant_reasoning": "per turn `{turn_index, searches, evidence, cited_chunk_ids, reasoning}`: how the "
                           "answer was found (reasoning: the model's own text when the endpoint returned one)",
    "judge": "judge output `{per_turn, avg_score, conversation}`",
    "judge.per_turn": "per turn `{score, reasons, notes}` (null for an unjudged turn; empty with conversation granularity)",
    "judge.avg_score": "mean per-turn score, else the conversation score, else null",
    "judge.conversation": "conversation-level `{score, reasons, notes}` or null",
    "conversation_id": "`<run_id>-<language>-<index:06d>`",
    "run_id": "the generation run", "language": "language code",
    "conversation_index": "index of the conversation within its language",
    "created_at": "UTC time the conversation was accepted",
    "n_turns": "number of turns", "user_persona": "user agent persona",
    "assistant_persona": "assistant persona", "topic": "seed topic", "seeded": "started from a seed question",
    "turns": "the turns with questions, answers, grounding chunks, web sources (web search on), citations, "
             "candidates and judge output",
    "conversation_judge": "conversation-level judge output or null",
    "models": "model used by each agent", "usage": "token usage per agent",
    "config_hash": "hash of the generating config", "kb_index_version": "fingerprint of the KB index used",
    "turn_index": "turn position, from 0", "user_message": "the user question",
    "assistant_message": "the assistant answer", "grounding_chunk_ids": "KB chunks the answer was grounded on",
    "judge_score": "the turn's judge score", "judge_reasons": "the turn's judge reasons",
    "conversation_judge_score": "the conversation's judge score",
    "web_source_urls": "URLs of the web results the answer was given (only when web search was on)",
}


def describe_rows(rows: list[dict], cfg: Any = None) -> list[tuple[str, str, str]]:
    """``(field, type, description)`` for the columns (and ShareGPT sub-fields) in ``rows``.

    Column names configured in ``saving.output_columns`` are mapped back to their meaning.
    """
    alias = _aliases(cfg)
    seen: dict[str, str] = {}
    for row in rows:
        for key, value in row.items():
            _collect(key, value, seen, depth=0)
    result = []
    for name, kind in seen.items():
        head = re.match(r"[^.\[]+", name).group()
        base = alias.get(head, head) + name[len(head):]
        text = DESCRIPTIONS.get(base) or DESCRIPTIONS.get(base.split(".")[-1]) or "see docs/export.md"
        result.append((name, kind, text))
    return result


def describe_model(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str]]:
    """``(field, type, description)`` of a format's row model, nested models flattened."""
    result = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        inner = get_args(annotation)[0] if get_origin(annotation) is list and get_args(annotation) else None
        kind = _type_name(annotation)
        result.append((prefix + name, kind, info.description or ""))
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            result += describe_model(inner, f"{prefix}{name}[].")
    return result


def _collect(name: str, value: Any, seen: dict[str, str], depth: int) -> None:
    if name not in seen or seen[name] == "null":
        seen[name] = _json_type(value)
    if depth >= 1:
        return
    if isinstance(value, dict):
        for key, sub in value.items():
            _collect(f"{name}.{key}", sub, seen, depth + 1)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:  # every item: a field null in the first one may be set in another
            for key, sub in item.items() if isinstance(item, dict) else ():
                _collect(f"{name}[].{key}", sub, seen, depth + 1)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is list:
        (inner,) = get_args(annotation) or (Any,)
        return f"list[{_type_name(inner)}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    if isinstance(annotation, type):
        return {"str": "string", "int": "int", "float": "float", "bool": "bool"}.get(annotation.__name__,
                                                                                      annotation.__name__)
    return "string"


def _aliases(cfg: Any) -> dict[str, str]:
    """Configured ShareGPT column name -> canonical name."""
    if cfg is None:
        return {}
    columns = cfg.saving.output_columns
    names = ("messages", "metadata", "judge", "messages_with_tools", "user_reasoning", "assistant_reasoning")
    return {getattr(columns, name, name): name for name in names}
