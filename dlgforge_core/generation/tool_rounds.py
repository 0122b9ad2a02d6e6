"""The responder's search rounds as recorded in a turn (``turns[].tool_calls``).

Each entry is one search the answer was built on::

    {"round": r, "tool": "kb_search" | "web_search", "query": str,
     "chunk_ids": [...], "results": [{"id", "source", "text"}]}

Round 0 is the knowledge-base search made with the user's question before the responder's
first reply (its results are in the responder's first prompt); rounds 1.. are the searches
the responder asked for. For a KB search ``chunk_ids``/``results[].id`` are chunk ids and
``source`` the document; for a web search the ids are the ``web:<n>`` labels the responder
was shown, ``source`` the URL. ``results`` holds what the search returned, so the export can
replay the tool messages without the knowledge base. The exports turn these entries into
OpenAI-format tool calls (``export/sharegpt_tools.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

KB_SEARCH = "kb_search"
WEB_SEARCH = "web_search"


def kb_call(round_index: int, query: str, hits: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One knowledge-base search and the chunks it returned (hit dicts of the tool loop)."""
    results = [{"id": str(h["chunk_id"]), "source": str(h.get("source") or ""), "text": str(h.get("text") or "")}
               for h in hits]
    return {"round": round_index, "tool": KB_SEARCH, "query": query,
            "chunk_ids": [r["id"] for r in results], "results": results}


def web_call(round_index: int, query: str, outcome: Any, findings: Any) -> dict[str, Any]:
    """One web search: its results labelled ``web:<n>`` as the responder's prompt numbers
    them (the position among the findings so far), or its failure note as the only text."""
    order = {url: n for n, url in enumerate(findings.results, start=1)}
    results = [{"id": f"web:{order.get(r.url, 0)}", "source": r.url,
                "text": " ".join(part for part in (r.title.strip(), r.snippet.strip()) if part)}
               for r in outcome.results]
    call = {"round": round_index, "tool": WEB_SEARCH, "query": query,
            "chunk_ids": [r["id"] for r in results], "results": results}
    if outcome.error is not None:
        call["error"] = outcome.error
    return call


def joined_reasoning(parts: Iterable[str | None]) -> str | None:
    """The reasoning texts of several replies, in order, or None when there is none."""
    texts = [p.strip() for p in parts if p and p.strip()]
    return "\n\n".join(texts) if texts else None
