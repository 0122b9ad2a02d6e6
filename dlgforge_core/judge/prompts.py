"""Prompts for the ``qa_judge`` agent, per turn and per conversation.

The judge sees exactly the chunks an answer was grounded on (the provenance recorded by
the engine), rendered as ``[chunk:<id>] text``, never the responder's own claim of what
it used; with web search enabled, also the turn's web results (``[web:<n>] ...``), in a
section that is absent otherwise (so KB-only prompts, and PROMPT_VERSION, are unchanged).
Bump :data:`PROMPT_VERSION` whenever the wording changes: it is part of the judge's
settings hash, so existing judgements are redone under the new prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PROMPT_VERSION = "judge-prompt-v1"

_SYSTEM = """You are a strict quality judge for a dataset of grounded assistant conversations.
Judge whether each answer is supported by the grounding passages shown, answers the user's
question, and is clear, in the conversation's language.
Score on an integer scale from {score_min} (worst) to {score_max} (best).
Reason labels may only come from this list: {reasons}.
Reply with one JSON object and nothing else:
{{"score": <integer {score_min}-{score_max}>, "reasons": [<labels from the list>],
 "notes": "<one or two sentences>"}}"""


def format_chunks(chunks: Sequence[Mapping[str, Any]]) -> str:
    """Render grounding chunks as ``[chunk:<id>] text`` lines, or a clear 'none' line."""
    if not chunks:
        return "(no grounding passages: the answer was not grounded on the knowledge base)"
    return "\n".join(f"[chunk:{c['chunk_id']}] {c.get('text') or ''}".rstrip() for c in chunks)


def format_web_sources(sources: Sequence[Mapping[str, Any]]) -> str:
    """Web results an answer used, as ``[web:<n>] title <url>: snippet`` lines."""
    return "\n".join(
        f"[web:{n}] {str(s.get('title') or '').strip()} <{s.get('url', '')}>: {str(s.get('snippet') or '').strip()}"
        for n, s in enumerate(sources, start=1)
    )


def _web_block(sources: Sequence[Mapping[str, Any]] | None) -> str:
    """The web results section (empty without results, so KB-only prompts are unchanged)."""
    return f"Web search results (also grounding for the answer):\n{format_web_sources(sources)}\n\n" if sources else ""


def system_message(score_min: int, score_max: int, reasons: Sequence[str]) -> dict[str, str]:
    """The judge's instructions: scale, allowed labels and the reply shape."""
    labels = ", ".join(reasons) if reasons else "(none: always reply with an empty list)"
    content = _SYSTEM.format(score_min=score_min, score_max=score_max, reasons=labels)
    return {"role": "system", "content": content}


def turn_messages(
    *,
    language: str,
    question: str,
    answer: str,
    chunks: Sequence[Mapping[str, Any]],
    score_min: int,
    score_max: int,
    reasons: Sequence[str],
    web_sources: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, str]]:
    """Messages asking the judge to score one question/answer pair.

    ``web_sources`` (``[{url, title, snippet}]``) are the web results the answer was
    grounded on, shown after the passages when there are any.
    """
    user = (
        f"Conversation language: {language}\n\n"
        f"Grounding passages:\n{format_chunks(chunks)}\n\n"
        f"{_web_block(web_sources)}"
        f"User question:\n{question}\n\n"
        f"Assistant answer:\n{answer}\n\n"
        "Judge this answer."
    )
    return [system_message(score_min, score_max, reasons), {"role": "user", "content": user}]


def conversation_messages(
    *,
    language: str,
    turns: Sequence[Mapping[str, Any]],
    chunks_by_turn: Sequence[Sequence[Mapping[str, Any]]],
    score_min: int,
    score_max: int,
    reasons: Sequence[str],
) -> list[dict[str, str]]:
    """Messages asking the judge for one score over a whole conversation.

    Each turn's ``web_sources`` (when its record has them) are shown after its passages.
    """
    parts = [f"Conversation language: {language}"]
    for position, turn in enumerate(turns):
        chunks = chunks_by_turn[position] if position < len(chunks_by_turn) else []
        parts.append(
            f"--- Turn {position + 1} ---\n"
            f"Grounding passages:\n{format_chunks(chunks)}\n\n"
            f"{_web_block(turn.get('web_sources'))}"
            f"User question:\n{turn.get('user_message', '')}\n\n"
            f"Assistant answer:\n{turn.get('assistant_message', '')}"
        )
    parts.append("Judge the conversation as a whole: every answer against its own passages.")
    user = "\n\n".join(parts)
    return [system_message(score_min, score_max, reasons), {"role": "user", "content": user}]
