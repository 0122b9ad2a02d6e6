"""The training columns of the ShareGPT exports built from the turns' search rounds.

- ``messages_with_tools``: per turn, the user message, one assistant message carrying the
  ``tool_calls`` of each search round (OpenAI format), one ``tool`` message per call with
  what the search returned, then the final answer.
- ``user_reasoning``: per turn, why the user asked what they asked (question mode, intent,
  difficulty, the conversation's seed, the chunks the question was drawn from).
- ``assistant_reasoning``: per turn, how the answer was found (the searches, the evidence
  cited with chunk ids, the model's own reasoning text when the endpoint returned one).

Every row has the same keys with the same types: text that is absent is ``""``, a list
that is absent is ``[]``; only the message fields that do not apply to a role
(``tool_calls``, ``tool_call_id``, ``name``) are null. So ``datasets`` infers one schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

CALL_ID = "call_{turn}_{round}"


def messages_with_tools(turns: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as OpenAI chat messages with the responder's tool calls and results.

    Tool call ids are ``call_<turn>_<round>``: unique within the conversation, and each
    ``tool`` message answers the call just before it.
    """
    messages: list[dict[str, Any]] = []
    for turn in turns:
        messages.append(_message("user", turn.get("user_message") or ""))
        t = int(turn.get("turn_index") or 0)
        for call in _calls(turn):
            call_id = CALL_ID.format(turn=t, round=call["round"])
            messages.append(_message("assistant", "", tool_calls=[{
                "id": call_id, "type": "function",
                "function": {"name": call["tool"],
                             "arguments": json.dumps({"query": call["query"]}, ensure_ascii=False)},
            }]))
            messages.append(_message("tool", _tool_content(call), tool_call_id=call_id, name=call["tool"]))
        messages.append(_message("assistant", turn.get("assistant_message") or ""))
    return messages


def user_reasoning(turns: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per turn: ``{turn_index, mode, intent, difficulty, seed_topic, seed_question,
    grounding_chunk_ids, grounding_sources, reasoning}``."""
    rows = []
    for turn in turns:
        seed = turn.get("seed") or {}
        rows.append({
            "turn_index": int(turn.get("turn_index") or 0),
            "mode": str(turn.get("mode") or ""),
            "intent": str(turn.get("intent") or ""),
            "difficulty": str(turn.get("difficulty") or ""),
            "seed_topic": str(seed.get("topic") or ""),
            "seed_question": str(seed.get("question") or ""),
            "grounding_chunk_ids": [str(c) for c in turn.get("question_chunk_ids") or []],
            "grounding_sources": [str(s) for s in turn.get("question_sources") or []],
            "reasoning": str(turn.get("generator_reasoning") or ""),
        })
    return rows


def assistant_reasoning(turns: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per turn: ``{turn_index, searches: [{round, tool, query, chunk_ids}], evidence:
    [{chunk_id, source, text}], cited_chunk_ids, reasoning}``; the evidence is the cited
    chunks, with their text as the search returned it."""
    rows = []
    for turn in turns:
        calls = _calls(turn)
        texts = {r["id"]: r for call in calls for r in call["results"]}
        sources = {str(c.get("chunk_id")): str(c.get("source") or "")
                   for c in (turn.get("grounding") or {}).get("chunks") or []}
        cited = [str(c) for c in turn.get("cited_chunk_ids") or []]
        rows.append({
            "turn_index": int(turn.get("turn_index") or 0),
            "searches": [{"round": c["round"], "tool": c["tool"], "query": c["query"],
                          "chunk_ids": list(c["chunk_ids"])} for c in calls],
            "evidence": [{"chunk_id": cid,
                          "source": sources.get(cid) or str((texts.get(cid) or {}).get("source") or ""),
                          "text": str((texts.get(cid) or {}).get("text") or "")} for cid in cited],
            "cited_chunk_ids": cited,
            "reasoning": str(turn.get("responder_reasoning") or ""),
        })
    return rows


def _calls(turn: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The turn's recorded search rounds, normalized (records from before rounds were
    recorded have none)."""
    calls = []
    for call in turn.get("tool_calls") or []:
        results = [{"id": str(r.get("id") or ""), "source": str(r.get("source") or ""),
                    "text": str(r.get("text") or "")} for r in call.get("results") or []]
        calls.append({"round": int(call.get("round") or 0), "tool": str(call.get("tool") or "kb_search"),
                      "query": str(call.get("query") or ""),
                      "chunk_ids": [str(c) for c in call.get("chunk_ids") or [r["id"] for r in results]],
                      "results": results, "error": call.get("error")})
    return calls


def _tool_content(call: Mapping[str, Any]) -> str:
    """What the search returned, as the JSON text of the tool message: chunk ids and texts
    (knowledge base) or ids, URLs and texts (web), or the failure note."""
    if call["tool"] == "web_search":
        results = [{"id": r["id"], "url": r["source"], "text": r["text"]} for r in call["results"]]
    else:
        results = [{"chunk_id": r["id"], "text": r["text"]} for r in call["results"]]
    body: dict[str, Any] = {"query": call["query"], "results": results}
    if call.get("error"):
        body["error"] = str(call["error"])
    return json.dumps(body, ensure_ascii=False)


def _message(role: str, content: str, *, tool_calls: list[dict] | None = None,
             tool_call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    return {"role": role, "content": content, "tool_calls": tool_calls,
            "tool_call_id": tool_call_id, "name": name}
