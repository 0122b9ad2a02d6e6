"""Tavily: ``POST {base_url}/search`` with ``{query, max_results}``, key as a Bearer token."""

from __future__ import annotations

from dlgforge_core.generation.web_search.base import HTTPWebSearchProvider, WebResult, WebSearchError, parse_results


class TavilyProvider(HTTPWebSearchProvider):
    """The Tavily search API; ``results[].url/title/content``."""

    name = "tavily"

    async def search(self, query: str, k: int) -> list[WebResult]:
        body = await self._request("POST", "/search", json={"query": query, "max_results": k})
        if not isinstance(body, dict):
            raise WebSearchError("invalid response (not an object)")
        return parse_results(body.get("results"), "content", k)
