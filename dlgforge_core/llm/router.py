"""``vllm_attach`` and ``vllm_managed``: requests routed over several OpenAI-compatible endpoints.

Before the first request every endpoint is health-checked with its own key (``llm/health.py``).
A dead endpoint is reported (one line on stderr and in ``logs/run.log``) and starts the run in
a cool-down, so it joins later if it comes up; one that rejects its key is out for the run;
when none is healthy the check raises ``LLMSetupError`` naming each and why. Each endpoint
keeps its own in-flight cap; the strategy picks one per request and repeated failures take an
endpoint out for a cool-down (``llm/route_members.py``), with a ``run.log`` line when it goes
out and when it comes back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from dlgforge_core.errors import LLMSetupError
from dlgforge_core.llm.backends import ChatRequest, ChatResponse, RetryableBackendError
from dlgforge_core.llm.health import Health, probe_many
from dlgforge_core.llm.openai_backend import OpenAIBackend, display_url
from dlgforge_core.llm.route_members import FAILURE_KINDS, STRATEGIES, RouteMember, pick


class Router:
    """A ``ChatBackend`` that spreads requests over ``members``."""

    native_structured = False

    def __init__(self, members: list[RouteMember], strategy: str = "weighted_least_inflight",
                 max_failures: int = 3, cooldown_s: float = 30.0,
                 log_dir: Path | None = None, source: str = "llm.routing.endpoints"):
        if strategy not in STRATEGIES:
            raise LLMSetupError(f"llm.routing.strategy: unknown strategy {strategy!r}")
        self.members = members
        self.strategy = strategy
        self.max_failures = max_failures
        self.cooldown_s = cooldown_s
        self.source = source
        self.endpoint = "router:" + ",".join(m.backend.endpoint for m in members)
        self._log_dir = log_dir
        self._log: Any = None
        self._checked = False
        self._check_lock: asyncio.Lock | None = None

    async def check(self) -> None:
        """Health-check every endpoint once: report the bad ones, fail when none is healthy."""
        if self._checked:
            return
        if self._check_lock is None:
            self._check_lock = asyncio.Lock()
        async with self._check_lock:
            if self._checked:
                return
            healths = await probe_many([(m.backend.base_url, m.api_key, m.backend.endpoint)
                                        for m in self.members])
            bad = [(m, h) for m, h in zip(self.members, healths) if not h.ok]
            if len(bad) == len(self.members):
                for member, health in bad:
                    self._report(f"warning: {health.line(member.name)}")
                causes = "; ".join(health.line(member.name) for member, health in bad)
                raise LLMSetupError(f"{self.source}: no healthy endpoint ({len(bad)} checked): "
                                    f"{causes}")
            for member, health in bad:
                self._take_out_at_start(member, health, len(self.members) - len(bad))
            self._checked = True

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send ``request`` to the endpoint the strategy picks; track its health."""
        if not self._checked:
            await self.check()
        member = self._pick()
        member.sent += 1
        if member.model and member.model != request.model:
            request = dataclasses.replace(request, model=member.model)
        started = time.perf_counter()
        try:
            response = await member.backend.complete(request)
        except RetryableBackendError as err:
            if err.kind in FAILURE_KINDS:
                self._failed(member, err.kind)
            else:
                member.probing = False
            raise
        except BaseException:
            member.probing = False
            raise
        member.record_latency((time.perf_counter() - started) * 1000.0)
        self._succeeded(member)
        return response

    async def aclose(self) -> None:
        """Close every endpoint's connection pool and the route's log."""
        for member in self.members:
            await member.backend.aclose()
        if self._log is not None:
            await asyncio.to_thread(self._log.close)
            self._log = None

    # -- picking and health ------------------------------------------------------------

    def _pick(self) -> RouteMember:
        now = time.monotonic()
        for member in self.members:
            if member.probe_due(now):
                member.probing = True
                return member
        ready = [m for m in self.members if m.in_rotation()]
        if ready:
            return pick(self.strategy, ready)
        # Every endpoint is cooling down: the one back soonest takes the request (early probe)
        # rather than failing it here; the client's retry policy paces the attempts.
        waiting = [m for m in self.members if not m.excluded]
        return min(waiting, key=lambda m: m.out_until)

    def _failed(self, member: RouteMember, kind: str) -> None:
        member.failures += 1
        if member.probing:
            member.probing = False
            member.out_until = time.monotonic() + self.cooldown_s
            self._event(f"endpoint {member.backend.endpoint} still failing ({kind}): "
                        f"out for another {self.cooldown_s:g}s")
        elif member.out_until == 0.0 and member.failures >= self.max_failures:
            member.out_until = time.monotonic() + self.cooldown_s
            self._event(f"endpoint {member.backend.endpoint} out for {self.cooldown_s:g}s after "
                        f"{member.failures} failures in a row ({kind})")

    def _succeeded(self, member: RouteMember) -> None:
        if member.out_until != 0.0:
            self._event(f"endpoint {member.backend.endpoint} back in rotation "
                        "(probe after cool-down succeeded)")
        member.failures = 0
        member.out_until = 0.0
        member.probing = False

    def _take_out_at_start(self, member: RouteMember, health: Health, healthy: int) -> None:
        if health.bad_key:
            member.excluded = health.line(member.name)
        else:
            member.out_until = time.monotonic() + self.cooldown_s
        then = "out for the run" if health.bad_key else f"retried after {self.cooldown_s:g}s"
        self._report(f"warning: {health.line(member.name)}; {then}, going on with "
                     f"{healthy} of {len(self.members)} endpoints")

    def _report(self, line: str) -> None:
        """A line for the user (stderr) and for ``run.log``."""
        print(line, file=sys.stderr, flush=True)
        self._event(line.removeprefix("warning: "))

    def _event(self, line: str) -> None:
        if self._log_dir is None:
            return
        if self._log is None:
            from dlgforge_core.generation.run_log import RunLog

            self._log = RunLog(self._log_dir, "router")
        self._log.warning("[router] %s", line)


def make_router(settings: Any, cfg: Any, endpoints: Iterable[Any] | None = None,
                max_inflight: int | None = None, log_dir: Path | None = None,
                **_: Any) -> Router:
    """The router over ``endpoints`` (default ``llm.routing.endpoints``)."""
    items = list(endpoints if endpoints is not None else cfg.llm.routing.endpoints)
    managed = cfg.llm.backend == "vllm_managed"
    if not items:
        if managed:
            raise LLMSetupError("llm.backend: the vllm_managed servers are not running (start "
                                "them with dlgforge_core.llm.vllm_managed.managed_llm)")
        raise LLMSetupError(f"llm.routing.endpoints: the {cfg.llm.backend} backend needs at "
                            "least one endpoint")
    routing = cfg.llm.routing
    members = []
    for index, item in enumerate(items):
        base_url, api_key, weight, model = _endpoint_fields(item)
        key = api_key or settings.api_key
        backend = OpenAIBackend(base_url, key, max_inflight=max_inflight or cfg.llm.max_inflight,
                                adaptive=cfg.llm.adaptive_concurrency)
        name = (f"llm.vllm replica {index}" if managed
                else f"llm.routing.endpoints[{index}].base_url")
        members.append(RouteMember(index=index, backend=backend, api_key=key,
                                   weight=weight, model=model, name=name))
    return Router(members, routing.strategy, max_failures=routing.max_failures,
                  cooldown_s=routing.cooldown_s, log_dir=log_dir,
                  source="llm.vllm" if managed else "llm.routing.endpoints")


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
