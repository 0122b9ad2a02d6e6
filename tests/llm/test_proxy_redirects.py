"""The HTTP backend behind a loopback forward proxy (HTTP_PROXY, NO_PROXY) and redirects."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from dlgforge_core.llm.backends import ChatRequest, RetryableBackendError
from dlgforge_core.llm import fast_http
from dlgforge_core.llm.fast_http import FastHTTPClient, FastHTTPTransport
from dlgforge_core.llm.openai_backend import OpenAIBackend
from dlgforge_core.llm.proxy_env import ProxyRules
from tests.fake_llm import FakeLLMServer
from tests.support.http_proxy import ForwardProxy, Redirector

TRANSPORTS = pytest.mark.parametrize("fast_http", [True, False], ids=["fast", "default"])
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
               "http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch):
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def _request(content: str = "ask") -> ChatRequest:
    return ChatRequest(model="fake-model", messages=[{"role": "user", "content": content}],
                       temperature=0.0, max_tokens=64, top_p=1.0, timeout=5.0,
                       response_format=None, json_schema=None,
                       headers={"X-Dlgforge-Agent": "qa_generator"})


def _complete(base_url: str, fast_http: bool, count: int = 2) -> list[str]:
    async def main():
        backend = OpenAIBackend(base_url, "key", max_inflight=4, fast_http=fast_http)
        try:
            return [(await backend.complete(_request(f"ask {i}"))).text for i in range(count)]
        finally:
            await backend.aclose()
    return asyncio.run(main())


@TRANSPORTS
def test_requests_go_through_http_proxy_with_absolute_target(monkeypatch, fast_http):
    with FakeLLMServer() as srv, ForwardProxy(require_auth="Basic " + base64.b64encode(
            b"user:p@ss").decode()) as proxy:
        host = proxy.url.removeprefix("http://")
        monkeypatch.setenv("HTTP_PROXY", f"http://user:p%40ss@{host}")
        texts = _complete(srv.base_url, fast_http)
        assert len(srv.requests) == 2
    assert texts == ['{"question": "Question 0: what does the guide say about it?"}',
                     '{"question": "Question 1: what does the guide say about it?"}']
    assert [(f.method, f.target) for f in proxy.forwarded] == \
        [("POST", f"{srv.base_url}/chat/completions")] * 2
    assert all(f.headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
               for f in proxy.forwarded)


@TRANSPORTS
def test_no_proxy_bypasses_the_proxy(monkeypatch, fast_http):
    with FakeLLMServer() as srv, ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "example.com, 127.0.0.1")
        _complete(srv.base_url, fast_http, count=1)
        assert len(srv.requests) == 1
    assert proxy.forwarded == []


def test_https_endpoints_tunnel_through_https_proxy_with_connect(monkeypatch):
    """An https:// endpoint (the SDK's own client) opens a CONNECT tunnel through
    HTTPS_PROXY; the loopback origin speaks no TLS, so the call then fails as a connection
    error, after the proxy saw the tunnel."""
    with FakeLLMServer() as srv, ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        origin = srv.base_url.removeprefix("http://").split("/")[0]
        with pytest.raises(RetryableBackendError) as err:
            _complete(f"https://{origin}/v1", fast_http=False, count=1)
        assert err.value.kind == "connection"
        assert srv.requests == []
    assert [(f.method, f.target) for f in proxy.forwarded] == [("CONNECT", origin)]


def test_proxy_rules_follow_no_proxy_forms():
    rules = ProxyRules.from_env({"http_proxy": "proxy.local:3128", "HTTPS_PROXY": "http://p:8",
                                 "no_proxy": "localhost,.internal,example.com,10.0.0.0/8,host:8080"})
    proxy = rules.proxy_for("http", "api.test", 80)
    assert (proxy.scheme, proxy.host, proxy.port) == ("http", "proxy.local", 3128)
    assert rules.proxy_for("https", "api.test", 443).port == 8
    assert rules.proxy_for("http", "localhost", 80) is None
    assert rules.proxy_for("http", "a.internal", 80) is None
    assert rules.proxy_for("http", "internal", 80) is not None  # leading dot: subdomains only
    assert rules.proxy_for("http", "example.com", 80) is None
    assert rules.proxy_for("http", "www.example.com", 80) is None
    assert rules.proxy_for("http", "notexample.com", 80) is not None
    assert rules.proxy_for("http", "10.1.2.3", 80) is None
    assert rules.proxy_for("http", "11.1.2.3", 80) is not None
    assert rules.proxy_for("http", "host", 8080) is None
    assert rules.proxy_for("http", "host", 80) is not None
    assert ProxyRules.from_env({"HTTP_PROXY": "http://p:1", "NO_PROXY": "*"}).proxy_for(
        "http", "api.test", 80) is None
    assert ProxyRules.from_env({}).proxy_for("http", "api.test", 80) is None


@pytest.mark.parametrize("status", [307, 308])
def test_307_and_308_keep_method_and_body(status):
    with FakeLLMServer() as srv, Redirector(f"{srv.base_url}/chat/completions", status) as hop:
        texts = _complete(f"{hop.url}/v1", True, count=1)
        assert [r.body["messages"][0]["content"] for r in srv.requests] == ["ask 0"]
    assert texts == ['{"question": "Question 0: what does the guide say about it?"}']
    [(method, target, body)] = hop.seen
    assert (method, target) == ("POST", "/v1/chat/completions")
    assert json.loads(body)["messages"][0]["content"] == "ask 0"


@pytest.mark.parametrize("status", [301, 302, 303])
def test_301_302_303_turn_post_into_get_without_body_and_drop_auth_across_origins(status):
    async def main(url):
        client = FastHTTPClient(FastHTTPTransport(), timeout=5)
        try:
            return await client.post(url, content=b'{"a": 1}',
                                     headers={"Authorization": "Bearer secret",
                                              "Content-Type": "application/json"})
        finally:
            await client.aclose()

    with FakeLLMServer() as srv, Redirector(f"{srv.base_url}/models", status) as hop:
        response = asyncio.run(main(f"{hop.url}/v1/start"))
    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == "fake-model"
    assert [r.status_code for r in response.history] == [status]
    assert response.request.method == "GET" and response.request.content == b""
    assert "authorization" not in response.request.headers  # another port: another origin
    assert [(m, t, b) for m, t, b in hop.seen] == [("POST", "/v1/start", b'{"a": 1}')]


def test_redirect_loops_stop():
    async def main(url):
        client = FastHTTPClient(FastHTTPTransport(), timeout=5)
        try:
            await client.get(url)
        finally:
            await client.aclose()

    with Redirector("/again", 302) as hop:
        with pytest.raises(fast_http._httpx.TooManyRedirects):
            asyncio.run(main(f"{hop.url}/first"))
    assert len(hop.seen) == 21
