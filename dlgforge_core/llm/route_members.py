"""The endpoints of a route, their health state, and the strategies that pick one per request.

Strategies (``llm.routing.strategy``), over the endpoints in rotation:

- ``weighted_least_inflight`` (default): the fewest requests in flight or queued per unit of
  weight, ties broken by the fewest requests sent per unit of weight (so weights hold for a
  sequential caller too).
- ``round_robin``: smooth weighted round robin: with equal weights A, B, A, B...; with weights
  3:1, three of every four requests to the first, interleaved.
- ``latency_ewma``: the lowest ``ewma_ms * (inflight + queued + 1) / weight``, where
  ``ewma_ms`` is the exponentially weighted mean (alpha 0.2) of the endpoint's reply times
  (measured around the request, the wait for its in-flight cap included). An endpoint with no
  reply yet counts as the fastest known one, so each is tried early.

Health: ``max_failures`` connection errors, timeouts or 5xx replies in a row take an endpoint
out for ``cooldown_s``; after that one request is let through as a probe (half-open): a success
puts it back, a failure starts another cool-down. An endpoint that rejected its key at the
pre-flight is out for the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STRATEGIES = ("weighted_least_inflight", "round_robin", "latency_ewma")
EWMA_ALPHA = 0.2
FAILURE_KINDS = ("connection", "timeout", "5xx")  # what counts toward a cool-down (not 429)


@dataclass
class RouteMember:
    """One endpoint of the route: its backend, weight, model override and health."""

    index: int
    backend: Any  # an OpenAIBackend (anything with ``complete``, ``limiter``, ``endpoint``)
    api_key: str | None
    weight: float = 1.0
    model: str | None = None
    name: str = ""  # the config key that defines it, for messages
    sent: int = 0
    ewma_ms: float | None = None
    failures: int = 0  # in a row
    out_until: float = 0.0  # monotonic time the cool-down ends; 0.0: in rotation
    excluded: str = ""  # why it is out for the whole run (a rejected key)
    probing: bool = False  # the half-open probe is in flight
    current: float = 0.0  # smooth weighted round robin state

    @property
    def load(self) -> float:
        """Requests in flight or queued, per unit of weight."""
        limiter = self.backend.limiter
        return (limiter.inflight + limiter.waiting) / self.weight

    @property
    def queued(self) -> int:
        limiter = self.backend.limiter
        return limiter.inflight + limiter.waiting

    def in_rotation(self) -> bool:
        """Takes ordinary requests (not excluded, not cooling down or waiting for its probe)."""
        return not self.excluded and self.out_until == 0.0

    def probe_due(self, now: float) -> bool:
        """Its cool-down is over and no probe is in flight: the next request may probe it."""
        return (not self.excluded and self.out_until != 0.0 and now >= self.out_until
                and not self.probing)

    def record_latency(self, ms: float) -> None:
        self.ewma_ms = ms if self.ewma_ms is None else (
            EWMA_ALPHA * ms + (1.0 - EWMA_ALPHA) * self.ewma_ms)


def pick(strategy: str, members: list[RouteMember]) -> RouteMember:
    """The member ``strategy`` chooses among ``members`` (non-empty, all in rotation)."""
    if len(members) == 1:
        return members[0]
    if strategy == "round_robin":
        total = sum(m.weight for m in members)
        for member in members:
            member.current += member.weight
        chosen = max(members, key=lambda m: m.current)
        chosen.current -= total
        return chosen
    if strategy == "latency_ewma":
        known = [m.ewma_ms for m in members if m.ewma_ms is not None]
        default = min(known) if known else 1.0
        return min(members, key=lambda m: ((m.ewma_ms if m.ewma_ms is not None else default)
                                           * (m.queued + 1) / m.weight, m.sent / m.weight))
    return min(members, key=lambda m: (m.load, m.sent / m.weight))
