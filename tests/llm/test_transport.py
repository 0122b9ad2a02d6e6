"""The HTTP backend over both transports: error classes, framing, connection reuse."""

from __future__ import annotations

import asyncio

import pytest

from dlgforge_core.llm.backends import (
    ChatRequest,
    FatalBackendError,
    ResponseFormatRejected,
    RetryableBackendError,
)
from dlgforge_core.llm.openai_backend import OpenAIBackend
from dlgforge_core.llm.structured import schema_spec
from tests.fake_llm import FakeHTTPError, FakeLLMServer
from tests.llm.helpers import QuestionReply

TRANSPORTS = pytest.mark.parametrize("fast_http", [True, False], ids=["fast", "default"])


def _request(timeout: float = 5.0, response_format=None) -> ChatRequest:
    return ChatRequest(model="fake-model", messages=[{"role": "user", "content": "ask"}],
                       temperature=0.0, max_tokens=64, top_p=1.0, timeout=timeout,
                       response_format=response_format, json_schema=None,
                       headers={"X-Dlgforge-Agent": "qa_generator"})


def _outcomes(base_url: str, fast_http: bool, requests: list[ChatRequest]) -> list:
    async def main():
        backend = OpenAIBackend(base_url, "key", max_inflight=4, fast_http=fast_http)
        results = []
        try:
            for request in requests:
                try:
                    results.append(await backend.complete(request))
                except Exception as err:  # noqa: BLE001 - the error class is what we check
                    results.append(err)
        finally:
            await backend.aclose()
        return results
    return asyncio.run(main())


@TRANSPORTS
def test_failures_map_to_the_backend_error_classes(fast_http):
    def forbidden(request):
        if request.seq == 5:
            raise FakeHTTPError(401, "bad key")
        return {"question": f"q{request.seq}"}

    with FakeLLMServer(faults={"retry_after": 7, "timeout_s": 30},
                       handlers={"qa_generator": forbidden},
                       reject_formats=("json_schema",)) as srv:
        srv.force_faults("429", "500", "timeout")
        fmt = schema_spec(QuestionReply).json_schema_format
        out = _outcomes(srv.base_url, fast_http, [
            _request(), _request(), _request(timeout=0.3), _request(),
            _request(response_format=fmt), _request(), _request()])
    assert isinstance(out[0], RetryableBackendError) and out[0].kind == "429"
    assert out[0].retry_after == 7
    assert isinstance(out[1], RetryableBackendError) and out[1].kind == "5xx"
    assert isinstance(out[2], RetryableBackendError) and out[2].kind == "timeout"
    assert out[3].text == '{"question": "q3"}' and out[3].prompt_tokens == 1
    assert isinstance(out[4], ResponseFormatRejected)
    assert isinstance(out[5], FatalBackendError)
    assert out[6].text == '{"question": "q6"}'  # the connection survived all of the above


@TRANSPORTS
def test_connection_refused_is_retryable(fast_http):
    with FakeLLMServer() as srv:
        url = srv.base_url
    [err] = _outcomes(url, fast_http, [_request()])
    assert isinstance(err, RetryableBackendError) and err.kind == "connection"


@TRANSPORTS
def test_empty_reply_is_retryable(fast_http):
    with FakeLLMServer(script="empty") as srv:
        [err] = _outcomes(srv.base_url, fast_http, [_request()])
    assert isinstance(err, RetryableBackendError) and err.kind == "empty"


def test_chunked_responses_and_idle_connections_closed_by_the_server():
    async def main(base_url):
        backend = OpenAIBackend(base_url, None, max_inflight=2, fast_http=True)
        try:
            first = await backend.complete(_request())
            await asyncio.sleep(0.6)  # longer than the server keeps an idle connection
            second = await backend.complete(_request())
        finally:
            await backend.aclose()
        return first, second

    with FakeLLMServer(chunked=True, keep_alive_s=0.2) as srv:
        first, second = asyncio.run(main(srv.base_url))
        assert [r.status for r in srv.requests] == [200, 200]
    assert first.text == '{"question": "Question 0: what does the guide say about it?"}'
    assert second.text.startswith('{"question": "Question 1')


@TRANSPORTS
def test_switches_to_max_completion_tokens_when_the_server_asks(fast_http):
    def picky(request):
        if "max_tokens" in request.body:
            raise FakeHTTPError(400, "Unsupported parameter: 'max_tokens'. Use "
                                     "'max_completion_tokens' instead.")
        return {"question": "ok"}

    with FakeLLMServer(handlers={"qa_generator": picky}) as srv:
        out = _outcomes(srv.base_url, fast_http, [_request(), _request()])
        bodies = [r.body for r in srv.requests]
    assert [r.text for r in out] == ['{"question": "ok"}'] * 2
    # one rejected attempt, then the new parameter for this and every later request
    assert ["max_tokens" in b for b in bodies] == [True, False, False]
    assert all(b.get("max_completion_tokens") == 64 for b in bodies[1:])


def test_both_clients_send_the_same_request():
    """The lean client builds requests from what the SDK prepared: the server sees the same
    path, body and SDK headers as through the stock client, and the key."""
    seen = {}
    with FakeLLMServer(api_key="secret-key") as srv:
        for fast_http in (True, False):
            [reply] = _key_outcomes(srv.base_url, fast_http)
            assert reply.text.startswith('{"question": ')
            seen[fast_http] = srv.requests[-1]
    fast, default = seen[True], seen[False]
    assert fast.body == default.body
    for name in ("authorization", "content-type", "user-agent", "x-dlgforge-agent", "host",
                 "x-stainless-retry-count", "x-stainless-read-timeout", "x-stainless-os",
                 "x-stainless-arch", "x-stainless-runtime-version"):
        assert fast.headers.get(name) == default.headers.get(name), name
    assert fast.headers["authorization"] == "Bearer secret-key"
    from openai._base_client import get_platform

    assert fast.headers["x-stainless-os"] == str(get_platform())  # resolved up front
    assert fast.headers["accept-encoding"] == "identity"  # the body reaches the SDK as sent


def _key_outcomes(base_url: str, fast_http: bool) -> list:
    async def main():
        backend = OpenAIBackend(base_url, "secret-key", max_inflight=2, fast_http=fast_http)
        try:
            return [await backend.complete(_request())]
        finally:
            await backend.aclose()
    return asyncio.run(main())


def test_lean_client_takes_the_stock_path_for_query_parameters_and_streams():
    """Requests the lean path does not handle still work through it (query parameters, a
    streamed response), and each response records its elapsed time."""
    import openai

    from dlgforge_core.llm.fast_http import FastHTTPClient, FastHTTPTransport

    chat = b'{"model": "fake-model", "messages": [{"role": "user", "content": "ask"}]}'
    headers = [("Content-Type", "application/json"), ("X-Dlgforge-Agent", "qa_generator")]

    async def main(base_url):
        http = FastHTTPClient(FastHTTPTransport(), timeout=5.0)
        sdk = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0, http_client=http)
        try:
            query = http.build_request("GET", base_url + "/models", params={"limit": 3})
            listed = await sdk.get("/models", cast_to=object, options={"params": {"limit": 3}})
            streamed = await http.send(
                http.build_request("POST", base_url + "/chat/completions", content=chat,
                                   headers=headers), stream=True)
            body = await streamed.aread()
            plain = await http.send(http.build_request(
                "POST", base_url + "/chat/completions", content=chat, headers=headers))
            return query, listed, body, plain
        finally:
            await sdk.close()

    with FakeLLMServer() as srv:
        query, listed, body, plain = asyncio.run(main(srv.base_url))
        assert [r.status for r in srv.requests] == [200, 200]
    assert query.url.query == b"limit=3"
    assert listed["data"][0]["id"] == "fake-model"
    assert b'"choices"' in body
    assert plain.status_code == 200 and b'"choices"' in plain.content
    assert plain.elapsed.total_seconds() > 0


def test_lean_client_joins_relative_urls_with_its_base_url():
    """A relative URL takes the stock path (joined with the client's base_url); an
    absolute one is used as given."""
    from dlgforge_core.llm.fast_http import FastHTTPClient, FastHTTPTransport

    async def main(base_url):
        http = FastHTTPClient(FastHTTPTransport(), timeout=5.0, base_url=base_url + "/")
        try:
            relative = http.build_request("GET", "models")
            absolute = http.build_request("GET", base_url + "/models")
            listed = await http.send(relative)
            return relative, absolute, listed
        finally:
            await http.aclose()

    with FakeLLMServer() as srv:
        relative, absolute, listed = asyncio.run(main(srv.base_url))
        assert str(relative.url) == str(absolute.url) == srv.base_url + "/models"
    assert listed.status_code == 200 and b"fake-model" in listed.content
