"""The HTTP backend: one OpenAI-compatible endpoint through the official ``openai`` client.

Retries are the client's job, so the SDK's own retries are off (``max_retries=0``); this
module only sends, caps requests in flight per endpoint, and sorts failures into the
``BackendError`` classes.
"""

from __future__ import annotations

import itertools
import ssl
import uuid
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai

from dlgforge_core.llm.backends import (
    OPENAI_DEFAULT_URL,
    ChatRequest,
    ChatResponse,
    FatalBackendError,
    ResponseFormatRejected,
    RetryableBackendError,
)
from dlgforge_core.llm.fast_http import FastHTTPClient, FastHTTPTransport, fast_http_usable
from dlgforge_core.llm.limiter import AdaptiveLimiter
from dlgforge_core.llm.retry import parse_retry_after
from dlgforge_core.llm.sdk_httpx import httpx as _httpx


_POOL_SIZE = 8  # connections per HTTP pool (see OpenAIBackend.__init__)
_SDK_TIMEOUT = 600.0  # each request sets its own (ChatRequest.timeout)
_NO_KEY = "no-key"  # local servers need no key, but the SDK insists on one
# idempotency keys: unique per process (random prefix, drawn once) and per request (counter)
_REQUEST_PREFIX = f"dlgforge-{uuid.uuid4().hex}-"
_REQUEST_IDS = itertools.count()
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "structured",
                 "grammar", "guided")


def display_url(url: str) -> str:
    """``url`` without credentials, query or fragment: safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class OpenAIBackend:
    """Chat completions against one base URL, at most ``max_inflight`` requests at a time."""

    native_structured = False

    def __init__(self, base_url: str | None, api_key: str | None, max_inflight: int = 64,
                 adaptive: bool = True, max_connections: int | None = None,
                 fast_http: bool | None = None):
        """``fast_http``: use ``FastHTTPTransport`` (default: for ``http://`` URLs reached
        directly or through a plain-HTTP proxy)."""
        self.base_url = base_url or OPENAI_DEFAULT_URL
        self.endpoint = display_url(self.base_url)
        # absolute: the SDK then parses it once instead of parsing and joining a path
        self._url = self.base_url.rstrip("/") + "/chat/completions"
        self.limiter = AdaptiveLimiter(max_inflight, adaptive=adaptive)
        self._token_param = "max_tokens"
        connections = max(max_connections or 0, max_inflight)
        if fast_http is None:
            fast_http = fast_http_usable(self.base_url)
        if fast_http:
            client = FastHTTPClient(FastHTTPTransport(max_idle=connections), timeout=_SDK_TIMEOUT)
            self._pools = [_Pool(self._sdk(api_key, client))]
            return
        # The default HTTP pool scans every idle connection on each request (a socket poll
        # each), so one pool of hundreds of connections costs milliseconds of CPU per
        # request. Several small pools, each fed its share of the requests, keep it short.
        count = -(-connections // _POOL_SIZE)
        per_pool = -(-connections // count) + 2
        limits = _httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool,
                               keepalive_expiry=30.0)
        self._pools = [_Pool(self._sdk(api_key, openai.DefaultAsyncHttpxClient(
            limits=limits, verify=_tls_context()))) for _ in range(count)]

    def _sdk(self, api_key: str | None, http_client: Any) -> openai.AsyncOpenAI:
        """One official SDK client (its own retries off: the LLM client retries)."""
        client = openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key or _NO_KEY,
                                    max_retries=0, http_client=http_client)
        _resolve_platform(client)
        return client

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one request under the endpoint's in-flight cap."""
        generation = await self.limiter.acquire()
        pool = min(self._pools, key=_load) if len(self._pools) > 1 else self._pools[0]
        pool.inflight += 1
        try:
            try:
                completion = await self._post(pool, request)
            except openai.BadRequestError as err:
                if not self._switch_token_param(err):
                    raise
                completion = await self._post(pool, request)
        except openai.RateLimitError as err:
            self.limiter.on_throttle(generation)
            raise RetryableBackendError("429", "rate limited",
                                        retry_after=_retry_after(err)) from None
        except openai.APITimeoutError:
            raise RetryableBackendError("timeout", "request timed out") from None
        except openai.APIConnectionError as err:
            raise RetryableBackendError("connection", type(err).__name__) from None
        except openai.APIStatusError as err:
            raise _status_error(err, request) from None
        finally:
            pool.inflight -= 1
            self.limiter.release()
        self.limiter.on_success()
        return _response(completion, self.endpoint)

    async def _post(self, pool: "_Pool", request: ChatRequest) -> Any:
        # The low-level ``post`` skips the SDK's per-call TypedDict transform of the body
        # (milliseconds of CPU for a schema-carrying request); errors map the same way. The
        # idempotency key is ours (prefix + counter) because the SDK's default is a uuid4 per
        # request: a system call for random bytes that releases the GIL on the event loop.
        return await pool.client.post(
            self._url, cast_to=object, body=_body(request, self._token_param),
            options={"headers": request.headers, "timeout": request.timeout,
                     "idempotency_key": f"{_REQUEST_PREFIX}{next(_REQUEST_IDS)}"})

    def _switch_token_param(self, err: openai.BadRequestError) -> bool:
        """Newer OpenAI models refuse ``max_tokens`` and ask for ``max_completion_tokens``:
        switch once for this endpoint (True) when that is what the server said."""
        if self._token_param == "max_tokens" and "max_completion_tokens" in str(err.message):
            self._token_param = "max_completion_tokens"
            return True
        return False

    async def aclose(self) -> None:
        """Close the connection pools."""
        for pool in self._pools:
            await pool.client.close()


class _Pool:
    """One SDK client (with its connection pool) and the requests it has in flight."""

    __slots__ = ("client", "inflight")

    def __init__(self, client: openai.AsyncOpenAI):
        self.client = client
        self.inflight = 0


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every pool: loading the CA bundle costs ~0.1 s each time."""
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi ships with the HTTP stack
        return ssl.create_default_context()


def _resolve_platform(client: openai.AsyncOpenAI) -> None:
    """Resolve the SDK's platform header now, once.

    The SDK looks it up lazily, in a worker thread, on a client's first request; when
    hundreds of slots send their first requests together, every one of them makes that
    thread hop (about 0.3 s added to the first wave at 256 slots). Skipped when the SDK
    has no such attribute.
    """
    if getattr(client, "_platform", False) is None:
        from openai._base_client import get_platform

        client._platform = get_platform()


def _load(pool: _Pool) -> int:
    return pool.inflight


def _body(request: ChatRequest, token_param: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "messages": request.messages,
                            "temperature": request.temperature,
                            token_param: request.max_tokens, "top_p": request.top_p}
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.seed is not None:
        body["seed"] = request.seed
    if request.extra:  # the agent's extra body fields (reasoning_effort, provider routing, ...)
        body.update(request.extra)
    return body


def _response(completion: Any, endpoint: str) -> ChatResponse:
    if not isinstance(completion, dict):
        raise RetryableBackendError("5xx", "the server's reply is not a JSON object")
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    text = message.get("content") or ""
    if not isinstance(text, str) or not text.strip():
        raise RetryableBackendError("empty", "empty reply")
    usage = completion.get("usage") or {}
    return ChatResponse(text=text,
                        prompt_tokens=int(usage.get("prompt_tokens") or 0),
                        completion_tokens=int(usage.get("completion_tokens") or 0),
                        endpoint=endpoint, finish_reason=choice.get("finish_reason"),
                        reasoning=reasoning_text(message))


def reasoning_text(message: dict[str, Any]) -> str | None:
    """The model's own reasoning, when the server returns it beside the content:
    ``reasoning_content`` (vLLM, DeepSeek) or ``reasoning`` (gpt-oss, OpenRouter, newer vLLM)."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _retry_after(err: openai.APIStatusError) -> float | None:
    headers = err.response.headers
    millis = parse_retry_after(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    return parse_retry_after(headers.get("retry-after"))


def _status_error(err: openai.APIStatusError, request: ChatRequest) -> Exception:
    status = err.status_code
    if status >= 500 or status in (408, 409):
        kind = "timeout" if status in (408, 504) else "5xx"
        return RetryableBackendError(kind, f"HTTP {status}", retry_after=_retry_after(err))
    if status in (400, 422) and request.response_format is not None:
        text = f"{err.message} {err.body}".lower()
        if any(word in text for word in _FORMAT_WORDS):
            return ResponseFormatRejected(f"HTTP {status}: response_format rejected")
    return FatalBackendError(f"HTTP {status} ({type(err).__name__})", status=status)
