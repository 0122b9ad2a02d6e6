"""The responder's web search tool: a provider behind failure notes, counts and a log line.

A failed search never aborts a conversation: the responder is told ``web search failed:
<reason>`` and its loop goes on. With the request cache on, successful results are kept in
it and replayed for the same provider, endpoint, result count and query (a re-run then
searches nothing and shows the model the same results). ``WebFindings`` is what one answer
candidate has found so far (results deduplicated by URL, plus the lines describing each
search for the prompt).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dlgforge_core.generation.web_search.base import WebResult, WebSearchError, WebSearchProvider
from dlgforge_core.llm.cache import ResponseCache, web_search_key


@dataclass(frozen=True)
class WebSearchOutcome:
    """The results of one search, or ``error`` (the note shown to the model) when it failed."""

    results: list[WebResult]
    error: str | None = None


class WebSearchTool:
    """Runs searches for the responder with ``k`` results each; counts and logs failures.

    ``log`` receives one line per failed search (conversation id, provider, reason; never
    the key or the URL). ``cache`` (the LLM client's request cache) replays earlier results;
    failures are never cached.
    """

    def __init__(self, provider: WebSearchProvider, k: int, log: Callable[[str], None] | None = None,
                 owns_provider: bool = True, cache: ResponseCache | None = None) -> None:
        self.provider = provider
        self.k = k
        self._log = log
        self._owns_provider = owns_provider
        self._cache = cache
        self.searches = 0
        self.failures = 0
        self.replayed = 0

    @classmethod
    def for_run(cls, cfg: Any, provider: WebSearchProvider | None,
                log: Callable[[str], None] | None = None,
                cache: ResponseCache | None = None) -> "WebSearchTool | None":
        """The tool when ``retrieval.web_search`` is enabled, else None: around ``provider``
        when one is given (its owner closes it), else around one built from the config."""
        from dlgforge_core.generation.web_search.factory import make_web_search

        settings = cfg.retrieval.web_search
        if not settings.enabled:
            return None
        owned = provider is None
        return cls(make_web_search(cfg) if owned else provider, settings.max_results, log,
                   owns_provider=owned, cache=cache)

    async def search(self, query: str, conversation_id: str) -> WebSearchOutcome:
        """Search ``query`` (or replay it from the cache); a provider failure becomes an
        outcome with an error note."""
        key = None
        if self._cache is not None:
            key = web_search_key(self.provider.name, str(getattr(self.provider, "base_url", "")),
                                 self.k, query)
            stored = await self._cache.get_web_results(key)
            if stored is not None:
                self.replayed += 1
                return WebSearchOutcome(results=[WebResult(**item) for item in json.loads(stored)])
        self.searches += 1
        try:
            results = await self.provider.search(query, self.k)
        except WebSearchError as err:
            self.failures += 1
            if self._log is not None:
                self._log(f"web search failed conversation={conversation_id} "
                          f"provider={self.provider.name} reason={err.reason}")
            return WebSearchOutcome(results=[], error=f"web search failed: {err.reason}")
        if key is not None:
            text = json.dumps([result.model_dump() for result in results], ensure_ascii=False)
            await self._cache.put_web_results(key, self.provider.name, text)
        return WebSearchOutcome(results=results)

    async def aclose(self) -> None:
        """Close the provider's connections, when this tool built the provider."""
        if self._owns_provider:
            await self.provider.aclose()


@dataclass
class WebFindings:
    """What one answer candidate found on the web: results by URL and the search log lines."""

    results: dict[str, WebResult] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def add(self, query: str, outcome: WebSearchOutcome) -> None:
        """Record one search: its query line, its failure note or result count, its results."""
        self.lines.append(f"You searched the web for: {query}")
        if outcome.error is not None:
            self.lines.append(outcome.error)
        elif not outcome.results:
            self.lines.append("(no web results)")
        for result in outcome.results:
            self.results.setdefault(result.url, result)

    def sources(self) -> list[dict[str, Any]]:
        """The results as turn provenance: ``[{url, title, snippet}]`` in the order found."""
        return [result.model_dump() for result in self.results.values()]
