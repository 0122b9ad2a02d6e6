"""``LLMClient``: validated structured calls for the three agents.

One call = cache lookup, then the backend request with retries (exponential backoff with
full jitter, Retry-After honoured) and response_format fallback, then parsing and
validation with one repair attempt. Everything per agent (model, endpoint, key, sampling,
timeout, retries) comes from ``cfg.agent_settings(agent)``; agents on the same endpoint
share one backend, so they share its connection pool and in-flight cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, TypeVar

from pydantic import BaseModel

from dlgforge_core.errors import LLMSetupError
from dlgforge_core.llm.backends import (
    OPENAI_DEFAULT_URL,
    ChatBackend,
    ChatRequest,
    ChatResponse,
    FatalBackendError,
    ResponseFormatRejected,
    RetryableBackendError,
    make_backend,
)
from dlgforge_core.llm.cache import CachedReply, ResponseCache, request_key, request_seed
from dlgforge_core.llm.call_log import CallLog
from dlgforge_core.llm.errors import LLMCallError, setup_error
from dlgforge_core.llm.retry import RetryPolicy
from dlgforge_core.llm.structured import (
    MODES,
    NATIVE,
    SchemaSpec,
    error_summary,
    messages_for,
    repair_messages,
    response_format_for,
    schema_spec,
    validate_reply,
)
from dlgforge_core.llm.usage import TokenUsage, UsageTracker

T = TypeVar("T", bound=BaseModel)
AGENT_HEADER = "X-Dlgforge-Agent"
CONVERSATION_HEADER = "X-Dlgforge-Conversation"

__all__ = ["LLMClient", "LLMResult", "LLMCallError", "TokenUsage"]


@dataclass
class LLMResult(Generic[T]):
    """A validated reply: the model instance, the tokens it cost, whether it was cached, and
    the backend's ``finish_reason`` (``"length"``: cut off by the token limit; None if cached)
    and the model's reasoning text when the endpoint returned one (``reasoning_content``/``reasoning``)."""

    value: T
    usage: TokenUsage
    cached: bool = False
    reasoning: str | None = None
    finish_reason: str | None = None


@dataclass
class _Agent:
    """What one agent's calls need, resolved once."""

    name: str
    settings: Any
    model: str
    backend: ChatBackend
    params: tuple  # (temperature, max_tokens, top_p[, extra as JSON]): part of the cache key
    headers: dict[str, str]


class LLMClient:
    """Structured LLM calls with retries, fallback, repair, cache, usage and call log.

    ``endpoints`` overrides ``llm.routing.endpoints`` (e.g. the servers ``vllm_managed``
    started); ``retry`` replaces the default backoff policy; ``max_inflight`` replaces the
    per-endpoint cap ``llm.max_inflight`` (a shard's share). Use one client per event loop.
    """

    def __init__(self, cfg: Any, log_dir: Any = None, *, endpoints: Iterable[Any] | None = None,
                 retry: RetryPolicy | None = None, max_inflight: int | None = None):
        self.cfg = cfg
        self.usage = UsageTracker()
        self.calls_made = 0
        self.retry = retry or RetryPolicy()
        self._log = CallLog(log_dir)
        self._cache = ResponseCache(cfg.cache_dir) if cfg.llm.cache.enabled else None
        self._endpoints = list(endpoints) if endpoints is not None else None
        self._max_inflight = max_inflight
        self._agents: dict[str, _Agent] = {}
        self._backends: dict[tuple, ChatBackend] = {}
        self._modes: dict[str, int] = {}
        self._build_lock: asyncio.Lock | None = None
        self._slots: asyncio.Semaphore | None = None

    @property
    def response_cache(self) -> ResponseCache | None:
        """The request cache (None when ``llm.cache.enabled`` is off); the web search tool
        keeps its results there too."""
        return self._cache

    @property
    def log_path(self):
        """Path of ``llm.log`` (None when the client logs nowhere)."""
        return self._log.path

    async def structured(self, agent: str, messages: list[dict[str, str]], schema: type[T],
                         validate: Callable[[T], Any] | None = None,
                         cache_key: str | None = None,
                         conversation_id: str | None = None,
                         max_tokens: int | None = None) -> LLMResult[T]:
        """One validated reply of ``schema`` from ``agent``; raises ``LLMCallError``.

        ``max_tokens`` replaces the agent's token limit for this call (a retry of a reply that
        was cut off); replies cut off by the limit are not cached.
        """
        spec = schema_spec(schema)
        ag = self._agents.get(agent) or await self._resolve(agent)
        if max_tokens is not None:
            ag = _with_max_tokens(ag, max_tokens)
        key = None
        if self._cache is not None:
            key = request_key(agent, ag.model, ag.params, messages, spec.schema_hash, cache_key)
            replayed = await self._replay(ag, key, schema, validate)
            if replayed is not None:
                return replayed
        headers = ag.headers
        if conversation_id:
            headers = {**headers, CONVERSATION_HEADER: conversation_id}
        seed = request_seed(self.cfg.run.seed, cache_key)
        value, total, response = await self._reply(ag, messages, schema, spec, validate, headers, seed)
        finish = response.finish_reason
        self.usage.add_call(agent, cached=False)
        if key is not None and finish != "length":
            await self._cache.put(key, agent, ag.model, CachedReply(
                value.model_dump_json(), total.prompt_tokens, total.completion_tokens,
                response.reasoning))
        return LLMResult(value, total, cached=False, reasoning=response.reasoning, finish_reason=finish)

    async def check(self, agents: Iterable[str] | None = None) -> None:
        """Build the agents' backends and run each one's pre-flight health check once
        (``llm/health.py``): an unreachable endpoint or a rejected key is an ``LLMSetupError``."""
        from dlgforge_core.llm.health import preflight

        for agent in agents or self.cfg.needed_agents():
            resolved = await self._resolve(agent)
            await preflight(resolved.backend, resolved.settings, self.cfg, agent)

    def limit_requests(self, slots: int | None) -> None:
        """At most ``slots`` requests of this client in flight at once, over every endpoint
        (None: no client-wide cap). The engine sets its request slots (``run.batch_size``
        times the candidates per turn) and keeps more conversations than that in progress,
        so a slot freed by a conversation that goes on to search the KB or commit is taken
        at once by another one. Set it between runs, not while requests are waiting."""
        self._slots = asyncio.Semaphore(slots) if slots else None

    def limiters(self) -> dict[str, Any]:
        """The in-flight limiter of every HTTP endpoint in use, by endpoint."""
        found: dict[str, Any] = {}
        for backend in self._backends.values():
            for http in [m.backend for m in getattr(backend, "members", [])] or [backend]:
                if getattr(http, "limiter", None) is not None:
                    found[http.endpoint] = http.limiter
        return found

    async def aclose(self) -> None:
        """Close backends, the cache and the log listener."""
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()
        self._agents.clear()
        if self._cache is not None:
            await self._cache.aclose()
            self._cache = None
        self._log.close()

    async def __aenter__(self) -> "LLMClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- internals -------------------------------------------------------------------

    async def _resolve(self, agent: str) -> _Agent:
        """The agent's resolved settings and backend, built once, off the event loop (the
        local backend loads a model file; HTTP backends load TLS certificates)."""
        if self._build_lock is None:
            self._build_lock = asyncio.Lock()
        async with self._build_lock:
            resolved = self._agents.get(agent)
            if resolved is None:
                resolved = await asyncio.to_thread(self._build_agent, agent)
                self._agents[agent] = resolved
        return resolved

    def _build_agent(self, agent: str) -> _Agent:
        settings = self.cfg.agent_settings(agent)
        backend_kind = self.cfg.llm.backend
        model = settings.model
        if not model:
            if backend_kind != "local":
                raise LLMSetupError(
                    f"llm.model: no model for agent {agent} (set llm.agents.{agent}.model, "
                    "llm.model, LLM_MODEL or OPENAI_MODEL)")
            model = "local"
        if backend_kind == "openai" and not settings.base_url and not settings.api_key:
            raise LLMSetupError(f"llm.api_key: no API key for {OPENAI_DEFAULT_URL} (set "
                                "llm.api_key or OPENAI_API_KEY, or llm.base_url for a "
                                "local server)")
        return _Agent(name=agent, settings=settings, model=model,
                      backend=self._backend(settings),
                      params=(settings.temperature, settings.max_tokens, settings.top_p)
                      + ((json.dumps(settings.extra, sort_keys=True),) if settings.extra else ()),
                      headers={AGENT_HEADER: agent})

    def _backend(self, settings: Any) -> ChatBackend:
        kind = self.cfg.llm.backend
        key: tuple = (kind,) if kind != "openai" else (kind, settings.base_url, settings.api_key)
        backend = self._backends.get(key)
        if backend is None:
            options: dict[str, Any] = {} if self._endpoints is None else {"endpoints": self._endpoints}
            if self._max_inflight is not None:
                options["max_inflight"] = self._max_inflight
            if kind != "openai" and self._log.path is not None:
                options["log_dir"] = self._log.path.parent  # the router's lines go to run.log
            backend = self._backends[key] = make_backend(settings, self.cfg, **options)
        return backend

    async def _replay(self, ag: _Agent, key: str, schema: type[T],
                      validate: Callable[[T], Any] | None) -> LLMResult[T] | None:
        hit = await self._cache.get(key)
        if hit is None:
            return None
        try:
            value = schema.model_validate_json(hit.reply)
            if validate is not None:
                validate(value)
        except ValueError:
            return None  # stale under today's rules (e.g. changed reasons): ask again
        self.usage.add_call(ag.name, cached=True)
        self._log.record(ag.name, ag.model, ag.backend.endpoint, 0.0, 0, 0, "cached")
        return LLMResult(value, TokenUsage(), cached=True, reasoning=hit.reasoning)

    async def _reply(self, ag: _Agent, messages: list[dict[str, str]], schema: type[T],
                     spec: SchemaSpec, validate: Callable[[T], Any] | None,
                     headers: dict[str, str], seed: int | None) -> tuple[T, TokenUsage, ChatResponse]:
        """A validated reply, the tokens it cost and the reply it came from (one repair attempt)."""
        response, latency = await self._send(ag, messages, spec, headers, seed)
        total = self._count(ag, response)
        try:
            value = validate_reply(response.text, schema, validate)
        except ValueError as err:
            self._line(ag, response, latency, "repair")
            fix = repair_messages(messages, response.text, error_summary(err))
            response, latency = await self._send(ag, fix, spec, headers, seed)
            total = total + self._count(ag, response)
            try:
                value = validate_reply(response.text, schema, validate)
            except ValueError as again:
                self._line(ag, response, latency, "error:invalid_json")
                raise LLMCallError("invalid_json",
                                   f"{ag.name}: {error_summary(again)[:200]}") from None
        self._line(ag, response, latency, "ok")
        return value, total, response

    async def _send(self, ag: _Agent, messages: list[dict[str, str]], spec: SchemaSpec,
                    headers: dict[str, str], seed: int | None) -> tuple[ChatResponse, float]:
        """One successful backend reply, after retries and response_format fallback."""
        backend = ag.backend
        settings = ag.settings
        attempt = 0
        while True:
            mode = NATIVE if backend.native_structured else MODES[self._modes.get(
                backend.endpoint, 0)]
            request = ChatRequest(
                model=ag.model, messages=messages_for(mode, messages, spec),
                temperature=settings.temperature, max_tokens=ag.params[1],
                top_p=settings.top_p, timeout=settings.timeout,
                response_format=None if mode == NATIVE else response_format_for(mode, spec),
                json_schema=spec.schema, headers=headers, seed=seed, extra=settings.extra)
            self.calls_made += 1
            try:
                async with self._slots or contextlib.nullcontext():  # a client-wide request slot
                    started = time.perf_counter()  # the request's latency, not the wait for a slot
                    response = await backend.complete(request)
            except ResponseFormatRejected:
                elapsed = _ms(started)
                if mode in (NATIVE, MODES[-1]):
                    self._fail(ag, elapsed, "format_rejected", "llm_error")
                self._downgrade(backend.endpoint, mode)
                self._log.record(ag.name, ag.model, backend.endpoint, elapsed, 0, 0,
                                 "retry:format_rejected")
                continue
            except RetryableBackendError as err:
                elapsed = _ms(started)
                if attempt >= settings.max_retries:
                    self._fail(ag, elapsed, err.kind,
                               "empty_reply" if err.kind == "empty" else "llm_error")
                self._log.record(ag.name, ag.model, backend.endpoint, elapsed, 0, 0,
                                 f"retry:{err.kind}")
                await asyncio.sleep(self.retry.delay(attempt, err.retry_after))
                attempt += 1
                continue
            except FatalBackendError as err:
                if err.status in (401, 403, 404):
                    self._log.record(ag.name, ag.model, backend.endpoint, _ms(started), 0, 0,
                                     f"error:http_{err.status}")
                    raise setup_error(self.cfg, ag.name, backend.endpoint, ag.model,
                                      err.status) from None
                self._fail(ag, _ms(started), "fatal", "llm_error", str(err))
            return response, _ms(started)

    def _downgrade(self, endpoint: str, rejected_mode: str) -> None:
        """Remember that ``endpoint`` rejects ``rejected_mode``: use the next mode from now on."""
        rejected = MODES.index(rejected_mode)
        self._modes[endpoint] = max(self._modes.get(endpoint, 0), rejected + 1)

    def _fail(self, ag: _Agent, elapsed: float, why: str, reason: str,
              detail: str = "") -> None:
        self._log.record(ag.name, ag.model, ag.backend.endpoint, elapsed, 0, 0, f"error:{why}")
        raise LLMCallError(reason, f"{ag.name}: {detail or why}")

    def _count(self, ag: _Agent, response: ChatResponse) -> TokenUsage:
        usage = TokenUsage(response.prompt_tokens, response.completion_tokens)
        self.usage.add_tokens(ag.name, usage)
        return usage

    def _line(self, ag: _Agent, response: ChatResponse, latency: float, outcome: str) -> None:
        self._log.record(ag.name, ag.model, response.endpoint or ag.backend.endpoint, latency,
                         response.prompt_tokens, response.completion_tokens, outcome)


def _with_max_tokens(ag: _Agent, max_tokens: int) -> _Agent:
    """The agent with another token limit (its cache key and requests change with it)."""
    return dataclasses.replace(ag, params=(ag.params[0], max_tokens, *ag.params[2:]))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
