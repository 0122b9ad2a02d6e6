"""The backend interface every LLM transport implements, and the factory that picks one.

A backend sends one chat request and returns one reply; it does not retry, cache, parse or
log. Those jobs belong to ``LLMClient``. Backends classify their failures into the error
classes below so the client knows what to retry, what to fall back from, and what to give
up on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover - typing only
    from dlgforge_core.config import DlgforgeConfig


OPENAI_DEFAULT_URL = "https://api.openai.com/v1"  # what the SDK uses without a base URL


@dataclass
class ChatRequest:
    """One chat completion request, already resolved for one agent."""

    model: str
    messages: list[dict[str, str]]
    temperature: float
    max_tokens: int
    top_p: float
    timeout: float
    response_format: dict | None  # what to send as OpenAI response_format, or None
    json_schema: dict | None  # the reply's JSON schema (grammar-constrained backends use it)
    headers: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # extra body fields (llm.agents.<a>.extra)


@dataclass
class ChatResponse:
    """The text of one reply plus its token usage and where it came from."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    endpoint: str
    finish_reason: str | None = None
    reasoning: str | None = None  # the model's reasoning text (reasoning_content / reasoning)


@runtime_checkable
class ChatBackend(Protocol):
    """A transport that turns a ``ChatRequest`` into a ``ChatResponse``."""

    endpoint: str  # for logs: base URL or "local:<model file name>"
    native_structured: bool  # True: json_schema is enforced by the backend itself (grammar)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one request; raise a ``BackendError`` subclass on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads or models held by the backend."""
        ...


class BackendError(Exception):
    """Base class of every failure a backend reports."""


class RetryableBackendError(BackendError):
    """A transient failure: the client retries it with backoff.

    ``kind`` is one of ``"429"``, ``"5xx"``, ``"timeout"``, ``"connection"``, ``"empty"``;
    ``retry_after`` is the server's Retry-After in seconds, when it sent one.
    """

    def __init__(self, kind: str, message: str = "", retry_after: float | None = None):
        super().__init__(message or kind)
        self.kind = kind
        self.retry_after = retry_after


class ResponseFormatRejected(BackendError):
    """The server rejected the request's ``response_format`` (the client falls back)."""


class FatalBackendError(BackendError):
    """A failure retrying cannot fix: authentication, a bad request, an unknown model.

    ``status`` is the HTTP status when there was one (401/403/404 are set-up problems the
    client reports as ``LLMSetupError``).
    """

    def __init__(self, message: str = "", status: int | None = None):
        super().__init__(message)
        self.status = status


def make_backend(settings: Any, cfg: "DlgforgeConfig", **options: Any) -> ChatBackend:
    """Build the backend for one agent's resolved settings.

    ``settings`` is the ``AgentSettings`` from ``cfg.agent_settings(agent)``. For
    ``cfg.llm.backend == "local"`` the embedded llama.cpp engine is imported lazily, so the
    optional dependency is only needed when it is used. ``options``: ``endpoints`` (the
    routed endpoints of ``vllm_attach``/``vllm_managed``, default ``llm.routing.endpoints``)
    ``max_connections`` (HTTP pool size, default the in-flight cap) and ``max_inflight`` (the
    per-endpoint cap, default ``llm.max_inflight``; a shard of a distributed run holds a share).
    """
    backend = cfg.llm.backend
    if backend == "local":
        from dlgforge_core.llm.local import get_local_backend

        return get_local_backend(cfg)
    if backend in ("vllm_attach", "vllm_managed"):
        from dlgforge_core.llm.router import make_router

        return make_router(settings, cfg, **options)
    from dlgforge_core.llm.openai_backend import OpenAIBackend

    return OpenAIBackend(
        base_url=settings.base_url,
        api_key=settings.api_key,
        max_inflight=options.get("max_inflight") or cfg.llm.max_inflight,
        adaptive=cfg.llm.adaptive_concurrency,
        max_connections=options.get("max_connections"),
    )
