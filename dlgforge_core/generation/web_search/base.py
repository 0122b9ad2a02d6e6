"""The web search provider interface: ``WebResult``, ``WebSearchError``, ``WebSearchProvider``.

A provider turns a query into at most ``k`` results. Every failure (HTTP status, timeout,
connection, unreadable reply) is raised as ``WebSearchError`` whose ``reason`` is short and
safe to show to a model or write to a log: it never holds the key or the request URL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from dlgforge_core.llm.sdk_httpx import httpx
from pydantic import BaseModel, ConfigDict

MAX_SNIPPET_CHARS = 1000
"""Snippets are cut to this length, so one result cannot flood the responder's prompt."""


class WebResult(BaseModel):
    """One web search result as shown to the responder and recorded in the turn."""

    model_config = ConfigDict(frozen=True)

    url: str
    title: str = ""
    snippet: str = ""


class WebSearchError(Exception):
    """A web search that returned nothing usable; ``reason`` is e.g. ``HTTP 503``, ``timeout``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebSearchProvider(ABC):
    """A web search backend. ``search`` raises ``WebSearchError``; ``aclose`` frees it."""

    name: str = "web"

    @abstractmethod
    async def search(self, query: str, k: int) -> list[WebResult]:
        """At most ``k`` results for ``query``, best first."""

    async def aclose(self) -> None:
        """Release connections (idempotent)."""


class HTTPWebSearchProvider(WebSearchProvider):
    """A provider behind one HTTP endpoint: a lazily opened ``httpx.AsyncClient``.

    The client is opened on the first search, so it belongs to the event loop that uses it.
    """

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:  # the key stays out of reprs and tracebacks
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request and return its decoded JSON body; failures become WebSearchError."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, headers=self._headers())
        try:
            response = await self._client.request(method, f"{self.base_url}{path}", **kwargs)
        except httpx.TimeoutException:
            raise WebSearchError("timeout") from None
        except httpx.HTTPError as err:
            raise WebSearchError(f"connection error ({type(err).__name__})") from None
        if response.status_code >= 400:
            raise WebSearchError(f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise WebSearchError("invalid response (not JSON)") from None

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def parse_results(items: Any, snippet_key: str, k: int) -> list[WebResult]:
    """The first ``k`` entries of a provider's ``results`` list that carry a URL."""
    if not isinstance(items, list):
        raise WebSearchError("invalid response (no results list)")
    results: list[WebResult] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not item["url"]:
            continue
        snippet = " ".join(str(item.get(snippet_key) or "").split())[:MAX_SNIPPET_CHARS]
        results.append(WebResult(url=item["url"], title=str(item.get("title") or "").strip(), snippet=snippet))
        if len(results) == k:
            break
    return results
