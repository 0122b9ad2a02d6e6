"""Web search providers (SearxNG, Tavily) over real HTTP against the loopback stub, the tool
that turns their failures into notes, and the factory behind ``retrieval.web_search``."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlgforge_core.config import load_config
from dlgforge_core.generation.web_search import (
    SearxngProvider,
    TavilyProvider,
    WebFindings,
    WebResult,
    WebSearchError,
    WebSearchTool,
    make_web_search,
)
from tests.support.web_search_stub import DEFAULT_RESULTS, WebSearchStub

KEY = "tvly-unit-test-key-0001"


def search(provider, query: str, k: int) -> list[WebResult]:
    """Run one search and close the provider, on a fresh event loop."""

    async def main() -> list[WebResult]:
        try:
            return await provider.search(query, k)
        finally:
            await provider.aclose()

    return asyncio.run(main())


def failure_reason(provider, query: str = "q") -> str:
    with pytest.raises(WebSearchError) as err:
        search(provider, query, 3)
    return err.value.reason


def test_searxng_get_json_results_cut_to_k() -> None:
    with WebSearchStub() as stub:
        results = search(SearxngProvider(stub.base_url + "/"), "refund delay", 2)
    [request] = stub.requests
    assert (request.method, request.path) == ("GET", "/search")
    assert request.query == {"q": "refund delay", "format": "json"}
    assert "authorization" not in request.headers
    assert results == [WebResult(url=r["url"], title=r["title"], snippet=r["content"]) for r in DEFAULT_RESULTS[:2]]


def test_tavily_post_with_bearer_key_and_max_results() -> None:
    with WebSearchStub() as stub:
        results = search(TavilyProvider(stub.base_url, api_key=KEY), "invoice address", 3)
    [request] = stub.requests
    assert (request.method, request.path) == ("POST", "/search")
    assert request.body == {"query": "invoice address", "max_results": 3}
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert [r.url for r in results] == [r["url"] for r in DEFAULT_RESULTS[:3]]
    assert KEY not in repr(TavilyProvider(stub.base_url, api_key=KEY))


def test_results_without_url_are_skipped_and_snippets_collapsed() -> None:
    results = [{"title": "no url", "content": "x"}, {"url": "https://a.test/", "title": " A ", "content": "one\n two"}]
    with WebSearchStub(results=results) as stub:
        assert search(SearxngProvider(stub.base_url), "q", 5) == [
            WebResult(url="https://a.test/", title="A", snippet="one two")]


@pytest.mark.parametrize("make", [
    lambda url: SearxngProvider(url),
    lambda url: TavilyProvider(url, api_key=KEY),
], ids=["searxng", "tavily"])
def test_http_503_is_a_named_failure(make) -> None:
    with WebSearchStub() as stub:
        stub.fail_next(503)
        assert failure_reason(make(stub.base_url)) == "HTTP 503"
        assert search(make(stub.base_url), "q", 1)  # the next request succeeds


@pytest.mark.parametrize("make", [
    lambda url: SearxngProvider(url, timeout=0.3),
    lambda url: TavilyProvider(url, api_key=KEY, timeout=0.3),
], ids=["searxng", "tavily"])
def test_timeout_is_a_named_failure(make) -> None:
    with WebSearchStub(delay=2.0) as stub:
        assert failure_reason(make(stub.base_url)) == "timeout"


def test_unreachable_server_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    assert failure_reason(SearxngProvider(f"http://127.0.0.1:{port}")).startswith("connection error")


def test_tool_turns_failures_into_notes_and_logs_without_the_key() -> None:
    lines: list[str] = []

    async def main() -> tuple:
        tool = WebSearchTool(TavilyProvider(stub.base_url, api_key=KEY), k=2, log=lines.append)
        try:
            failed = await tool.search("first", "main-en-000001")
            found = await tool.search("second", "main-en-000001")
        finally:
            await tool.aclose()
        return tool, failed, found

    with WebSearchStub() as stub:
        stub.fail_next(503)
        tool, failed, found = asyncio.run(main())
    assert failed.results == [] and failed.error == "web search failed: HTTP 503"
    assert found.error is None and len(found.results) == 2
    assert (tool.searches, tool.failures) == (2, 1)
    assert lines == ["web search failed conversation=main-en-000001 provider=tavily reason=HTTP 503"]
    findings = WebFindings()
    findings.add("first", failed)
    findings.add("second", found)
    findings.add("again", found)  # the same URLs are kept once
    assert findings.lines == ["You searched the web for: first", "web search failed: HTTP 503",
                              "You searched the web for: second", "You searched the web for: again"]
    assert findings.sources() == [{"url": r["url"], "title": r["title"], "snippet": r["content"]}
                                  for r in DEFAULT_RESULTS[:2]]


@pytest.fixture
def restored_env() -> Iterator[None]:
    """No TAVILY_API_KEY at the start; os.environ restored after (load_config exports .env)."""
    saved = dict(os.environ)
    os.environ.pop("TAVILY_API_KEY", None)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _config(tmp_path: Path, web: str, env: str = "") -> Path:
    (tmp_path / "knowledge").mkdir(exist_ok=True)
    (tmp_path / ".env").write_text(env)
    path = tmp_path / "config.yaml"
    path.write_text(f"llm: {{model: m}}\nretrieval:\n  web_search: {web}\n")
    return path


def test_factory_builds_the_configured_provider(tmp_path: Path, restored_env: None) -> None:
    assert make_web_search(load_config(_config(tmp_path, "{enabled: false, provider: tavily}"))) is None
    tavily = make_web_search(load_config(_config(tmp_path, "{enabled: true, provider: tavily}",
                                                 env=f"TAVILY_API_KEY={KEY}\n")))
    assert isinstance(tavily, TavilyProvider) and tavily.base_url == "https://api.tavily.com"
    assert tavily.timeout == 15.0 and tavily._api_key == KEY
    searx = make_web_search(load_config(_config(
        tmp_path, "{enabled: true, provider: searxng, base_url: 'http://127.0.0.1:8888', timeout: 4}")))
    assert isinstance(searx, SearxngProvider) and searx.timeout == 4.0
    assert searx._api_key is None  # TAVILY_API_KEY (in the environment now) is never sent to SearxNG
