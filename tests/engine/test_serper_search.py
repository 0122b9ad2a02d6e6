"""The Serper provider (dlgforge's web search) over real HTTP against the loopback stub, and
dlgforge's ``tools.web_search.*`` keys building it with ``SERPER_API_KEY``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlgforge_core.config import load_config
from dlgforge_core.generation.web_search import SerperProvider, WebResult, make_web_search
from tests.engine.test_web_search import failure_reason, search
from tests.support.web_search_stub import DEFAULT_RESULTS, WebSearchStub

KEY = "serper-unit-test-key-0002"


def test_serper_post_with_api_key_header_and_num() -> None:
    with WebSearchStub() as stub:
        results = search(SerperProvider(stub.base_url, api_key=KEY), "invoice address", 2)
    [request] = stub.requests
    assert (request.method, request.path) == ("POST", "/search")
    assert request.body == {"q": "invoice address", "num": 2}
    assert request.headers["x-api-key"] == KEY and "authorization" not in request.headers
    assert results == [WebResult(url=r["url"], title=r["title"], snippet=r["content"]) for r in DEFAULT_RESULTS[:2]]
    assert KEY not in repr(SerperProvider(stub.base_url, api_key=KEY))


def test_serper_failures_are_named() -> None:
    with WebSearchStub() as stub:
        stub.fail_next(503)
        assert failure_reason(SerperProvider(stub.base_url, api_key=KEY)) == "HTTP 503"


@pytest.fixture
def restored_env() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.pop("SERPER_API_KEY", None)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_dlgforge_tools_web_search_builds_serper(tmp_path: Path, restored_env: None) -> None:
    (tmp_path / "knowledge").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text("llm: {model: m}\n"
                      "tools: {web_search: {enabled: true, serper_num_results: 4, serper_timeout: 7}}\n")
    from dlgforge_core.errors import ConfigError

    with pytest.raises(ConfigError, match="retrieval.web_search.api_key: provider serper needs an API key"):
        load_config(config)
    os.environ["SERPER_API_KEY"] = KEY
    cfg = load_config(config)
    provider = make_web_search(cfg)
    assert isinstance(provider, SerperProvider) and provider.base_url == "https://google.serper.dev"
    assert (provider.timeout, cfg.retrieval.web_search.max_results, provider._api_key) == (7.0, 4, KEY)
