"""``vllm_attach``: requests routed over several OpenAI-compatible endpoints.

Every endpoint is health-checked (``GET /models`` with its own key) before the first request;
an unreachable one stops the run with an ``LLMSetupError`` naming it. Each endpoint keeps its
own in-flight cap, and the strategy picks per request: ``weighted_least_inflight`` (the
fewest requests in flight or queued per unit of weight) or ``round_robin``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

import httpx

from dlgforge_core.errors import LLMSetupError
from dlgforge_core.llm.backends import ChatRequest, ChatResponse
from dlgforge_core.llm.openai_backend import OpenAIBackend, display_url

HEALTH_TIMEOUT_S = 10.0


@dataclass
class RouteMember:
    """One endpoint of the route and what it has been sent."""

    index: int
    backend: OpenAIBackend
    api_key: str | None
    weight: float = 1.0
    model: str | None = None
    sent: int = 0

    @property
    def load(self) -> float:
        """Requests in flight or queued, per unit of weight."""
        limiter = self.backend.limiter
        return (limiter.inflight + limiter.waiting) / self.weight


class Router:
    """A ``ChatBackend`` that spreads requests over ``members``."""

    native_structured = False

    def __init__(self, members: list[RouteMember], strategy: str = "weighted_least_inflight"):
        if strategy not in ("weighted_least_inflight", "round_robin"):
            raise LLMSetupError(f"llm.routing.strategy: unknown strategy {strategy!r}")
        self.members = members
        self.strategy = strategy
        self.endpoint = "router:" + ",".join(m.backend.endpoint for m in members)
        self._next = 0
        self._checked = False
        self._check_lock: asyncio.Lock | None = None

    async def check(self) -> None:
        """Health-check every endpoint once; raise ``LLMSetupError`` naming a bad one."""
        if self._checked:
            return
        if self._check_lock is None:
            self._check_lock = asyncio.Lock()
        async with self._check_lock:
            if not self._checked:
                async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT_S) as http:
                    await asyncio.gather(*(self._check_one(http, m) for m in self.members))
                self._checked = True

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send ``request`` to the endpoint the strategy picks."""
        if not self._checked:
            await self.check()
        member = self._pick()
        member.sent += 1
        if member.model and member.model != request.model:
            request = dataclasses.replace(request, model=member.model)
        return await member.backend.complete(request)

    async def aclose(self) -> None:
        """Close every endpoint's connection pool."""
        for member in self.members:
            await member.backend.aclose()

    def _pick(self) -> RouteMember:
        count = len(self.members)
        start = self._next
        self._next = (self._next + 1) % count
        if self.strategy == "round_robin":
            return self.members[start]
        # Rotating the scan start breaks ties evenly instead of always favouring the first.
        order = [self.members[(start + i) % count] for i in range(count)]
        return min(order, key=lambda m: m.load)

    async def _check_one(self, http: httpx.AsyncClient, member: RouteMember) -> None:
        url = member.backend.base_url.rstrip("/") + "/models"
        name = f"llm.routing.endpoints[{member.index}].base_url"
        headers = {"Authorization": f"Bearer {member.api_key}"} if member.api_key else {}
        try:
            response = await http.get(url, headers=headers)
        except httpx.HTTPError as err:
            raise LLMSetupError(f"{name}: {member.backend.endpoint} is unreachable "
                                f"({type(err).__name__})") from None
        if response.status_code != 200:
            raise LLMSetupError(f"{name}: {member.backend.endpoint} failed its health check "
                                f"(HTTP {response.status_code} on GET /models)")


def make_router(settings: Any, cfg: Any, endpoints: Iterable[Any] | None = None,
                max_inflight: int | None = None, **_: Any) -> Router:
    """The router over ``endpoints`` (default ``llm.routing.endpoints``)."""
    items = list(endpoints if endpoints is not None else cfg.llm.routing.endpoints)
    if not items:
        raise LLMSetupError(f"llm.routing.endpoints: the {cfg.llm.backend} backend needs at "
                            "least one endpoint")
    members = []
    for index, item in enumerate(items):
        base_url, api_key, weight, model = _endpoint_fields(item)
        key = api_key or settings.api_key
        backend = OpenAIBackend(base_url, key, max_inflight=max_inflight or cfg.llm.max_inflight,
                                adaptive=cfg.llm.adaptive_concurrency)
        members.append(RouteMember(index=index, backend=backend, api_key=key,
                                   weight=weight, model=model))
    return Router(members, cfg.llm.routing.strategy)


def _endpoint_fields(item: Any) -> tuple[str, str | None, float, str | None]:
    """(base_url, api_key, weight, model) of a ``RouteEndpoint``, a dict or a URL string."""
    if isinstance(item, str):
        return item, None, 1.0, None
    get = item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d)
    key = get("api_key")
    if hasattr(key, "get_secret_value"):
        key = key.get_secret_value()
    return get("base_url"), key, float(get("weight", 1.0) or 1.0), get("model")


__all__ = ["Router", "RouteMember", "make_router", "display_url"]
