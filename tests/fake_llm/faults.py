"""Fault injection for the fake LLM server: random rates (seeded) and forced faults."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass

FAULT_KINDS = ("429", "500", "timeout", "broken_json")


@dataclass
class Faults:
    """Probabilities (0..1) of each injected fault, drawn per request from a seeded RNG.

    ``retry_after`` is the Retry-After header (seconds) sent with a 429; ``timeout_s`` is
    how long a "timeout" request hangs before it is answered 504 (longer than the client's
    timeout, so the client gives up first).
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    rate_broken_json: float = 0.0
    retry_after: float | None = 0.0
    timeout_s: float = 5.0
    seed: int = 0

    @classmethod
    def coerce(cls, value: "Faults | dict | None") -> "Faults":
        """Accept a ``Faults``, a dict such as ``{"429": 0.1, "timeout": 0.05}``, or None."""
        if value is None:
            return cls()
        if isinstance(value, Faults):
            return value
        aliases = {"429": "rate_429", "500": "rate_500", "timeout": "rate_timeout",
                   "broken_json": "rate_broken_json"}
        return cls(**{aliases.get(key, key): val for key, val in value.items()})


class FaultPlan:
    """Decides the fault (or none) of each request.

    Forced faults (queued with ``force``) are used first, in arrival order, optionally only
    for one agent; otherwise one uniform draw per request picks a fault by the rates.
    """

    def __init__(self, faults: Faults):
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._forced: deque[tuple[str, str | None]] = deque()
        self._lock = threading.Lock()

    def force(self, kinds: tuple[str, ...], agent: str | None = None) -> None:
        """Queue faults for the next matching requests (e.g. ``("429", "429")``)."""
        unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; known: {FAULT_KINDS}")
        with self._lock:
            self._forced.extend((kind, agent) for kind in kinds)

    def draw(self, agent: str) -> str | None:
        """The fault for one request of ``agent``, or None."""
        with self._lock:
            for item in self._forced:
                if item[1] is None or item[1] == agent:
                    self._forced.remove(item)
                    return item[0]
            roll = self._rng.random()
        rates = self.faults
        for kind, rate in (("429", rates.rate_429), ("500", rates.rate_500),
                           ("timeout", rates.rate_timeout),
                           ("broken_json", rates.rate_broken_json)):
            if roll < rate:
                return kind
            roll -= rate
        return None


class FakeHTTPError(Exception):
    """Raised by a handler to answer with an HTTP error instead of a completion."""

    def __init__(self, status: int, message: str = "scripted error",
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
