"""SearxNG: ``GET {base_url}/search?q=...&format=json`` (the instance must allow the JSON format)."""

from __future__ import annotations

from dlgforge_core.generation.web_search.base import HTTPWebSearchProvider, WebResult, WebSearchError, parse_results


class SearxngProvider(HTTPWebSearchProvider):
    """A SearxNG instance; ``results[].url/title/content``. The key, if any, goes as a Bearer
    token (for an instance behind an authenticating proxy)."""

    name = "searxng"

    async def search(self, query: str, k: int) -> list[WebResult]:
        body = await self._request("GET", "/search", params={"q": query, "format": "json"})
        if not isinstance(body, dict):
            raise WebSearchError("invalid response (not an object)")
        return parse_results(body.get("results"), "content", k)
