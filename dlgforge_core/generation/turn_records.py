"""The shapes a conversation records: KB hits and snippets as dicts, answer candidates and
their rows, persona records, and the token tally of one conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dlgforge_core.generation.replies import ResponderReply
from dlgforge_core.generation.web_search import WebFindings


@dataclass
class Tally:
    """Tokens each agent spent on one conversation (cached replies cost nothing)."""

    usage: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, agent: str, result: Any) -> None:
        slot = self.usage.setdefault(agent, {"prompt_tokens": 0, "completion_tokens": 0})
        usage = getattr(result, "usage", None)
        if usage is not None and not getattr(result, "cached", False):
            slot["prompt_tokens"] += int(getattr(usage, "prompt_tokens", 0) or 0)
            slot["completion_tokens"] += int(getattr(usage, "completion_tokens", 0) or 0)


def hit_dict(hit: Any) -> dict[str, Any]:
    """A search hit as the turn records it (and the prompts show it)."""
    return {
        "chunk_id": hit.chunk_id,
        "text": hit.text,
        "source": hit.source,
        "position": getattr(hit, "position", 0),
        "score": float(getattr(hit, "score", 0.0) or 0.0),
    }


def answer_candidate(
    reply: ResponderReply, shown: dict[str, dict], web: WebFindings | None, rounds: int
) -> dict[str, Any]:
    """One answer candidate: the answer, its valid citations, what it was shown, its rounds."""
    cited = [cid for cid in dict.fromkeys(reply.cited_chunk_ids) if cid in shown]
    candidate: dict[str, Any] = {
        "answer": reply.answer.strip(),
        "cited_chunk_ids": cited,
        "shown": list(shown.values()),
        "tool_rounds": rounds,
    }
    if web is not None:
        candidate["web_sources"] = web.sources()
    return candidate


def candidate_row(candidate: dict[str, Any]) -> dict[str, Any]:
    """A candidate as recorded in ``turns[].candidates`` (its web sources when web search is on)."""
    row = {
        "answer": candidate["answer"],
        "cited_chunk_ids": candidate["cited_chunk_ids"],
        "grounding_chunk_ids": [s["chunk_id"] for s in candidate["shown"]],
        "qa_judge": candidate.get("qa_judge"),
    }
    if "web_sources" in candidate:
        row["web_sources"] = candidate["web_sources"]
    return row


def persona_record(persona: Any) -> dict[str, str] | None:
    """A persona as records keep it (None when personas are off)."""
    return persona.as_record() if persona is not None else None


def chunk_dict(chunk: Any) -> dict[str, Any]:
    """A KB snippet the question writer is shown."""
    return {
        "chunk_id": chunk.chunk_id,
        "text": chunk.text,
        "source": chunk.source,
        "position": getattr(chunk, "position", 0),
        "heading": getattr(chunk, "heading", None),
    }


def source_stem(source: str) -> str:
    """``docs/billing.md`` -> ``billing``: a topic name when a chunk has no heading."""
    name = source.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name
