"""Serper (Google results): ``POST {base_url}/search`` with ``{q, num}``, key in ``X-API-KEY``.

dlgforge's only web search provider; its ``tools.web_search.serper_num_results`` and
``serper_timeout`` map onto ``retrieval.web_search.max_results`` and ``timeout``, and the key
comes from ``SERPER_API_KEY`` (or ``retrieval.web_search.api_key``).
"""

from __future__ import annotations

from dlgforge_core.generation.web_search.base import HTTPWebSearchProvider, WebResult, WebSearchError, parse_results


class SerperProvider(HTTPWebSearchProvider):
    """The Serper search API; ``organic[].link/title/snippet``."""

    name = "serper"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["X-API-KEY"] = self._api_key
        return headers

    async def search(self, query: str, k: int) -> list[WebResult]:
        body = await self._request("POST", "/search", json={"q": query, "num": k})
        if not isinstance(body, dict):
            raise WebSearchError("invalid response (not an object)")
        organic = body.get("organic")
        if not isinstance(organic, list):
            raise WebSearchError("invalid response (no organic results list)")
        items = [{**item, "url": item.get("link")} for item in organic if isinstance(item, dict)]
        return parse_results(items, "snippet", k)
