"""Per-endpoint cap on requests in flight, with AIMD adaptive concurrency.

The window starts at the cap (``llm.max_inflight``). A 429 halves it (multiplicative
decrease), but only once per "generation": 429s of requests that were sent before the last
decrease say nothing new about the reduced window, so a burst of them halves it once, not
down to one. Every ``increase_after`` successes add one slot back (additive increase), up to
the cap. Waiting requests are served first come, first served.

``capped_waits`` counts requests that had to wait while the window was at the cap itself (not
reduced by 429s): concurrency the configuration, not the server, held back. ``held_back``
turns that into the run summary's line.
"""

from __future__ import annotations

import asyncio
from collections import deque


class AdaptiveLimiter:
    """An async semaphore whose size adapts to rate limiting."""

    def __init__(self, max_inflight: int, adaptive: bool = True, increase_after: int = 8):
        self.limit = max(1, int(max_inflight))
        self.window = self.limit
        self.adaptive = adaptive
        self.increase_after = max(1, increase_after)
        self.inflight = 0
        self.max_inflight_seen = 0
        self.min_window_seen = self.window
        self.decreases = 0
        self.capped_waits = 0
        self._generation = 0
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Requests queued for a slot."""
        return len(self._waiters)

    async def acquire(self) -> int:
        """Wait for a slot; returns the generation to pass to ``on_throttle``."""
        if self.inflight < self.window and not self._waiters:
            self._take()
            return self._generation
        if self.window >= self.limit:
            self.capped_waits += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                self._discard(future)
            raise
        return self._generation

    def release(self) -> None:
        """Give a slot back and hand it to the next waiter if the window allows."""
        self.inflight -= 1
        self._wake()

    def on_success(self) -> None:
        """Additive increase: one more slot after ``increase_after`` successes."""
        if not self.adaptive or self.window >= self.limit:
            return
        self._successes += 1
        if self._successes >= self.increase_after:
            self._successes = 0
            self.window += 1
            self._wake()

    def on_throttle(self, generation: int) -> None:
        """Multiplicative decrease on a 429 of a request sent in ``generation``."""
        if not self.adaptive or generation != self._generation:
            return
        self._generation += 1
        self._successes = 0
        self.decreases += 1
        self.window = max(1, self.window // 2)
        self.min_window_seen = min(self.min_window_seen, self.window)

    def _take(self) -> None:
        self.inflight += 1
        if self.inflight > self.max_inflight_seen:
            self.max_inflight_seen = self.inflight

    def _wake(self) -> None:
        while self._waiters and self.inflight < self.window:
            future = self._waiters.popleft()
            if future.done():
                continue
            self._take()
            future.set_result(None)

    def _discard(self, future: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(future)
        except ValueError:
            pass


def held_back(limiters: dict[str, AdaptiveLimiter], slots: int) -> str | None:
    """The summary line when an endpoint's in-flight cap made requests wait (e.g.
    "llm.max_inflight=64 held 256 slots back (1200 requests waited for it)"); else None."""
    lines = [f"llm.max_inflight={limiter.limit} held {slots} slots back"
             + (f" at {endpoint}" if len(limiters) > 1 else "")
             + f" ({limiter.capped_waits} requests waited for it)"
             for endpoint, limiter in sorted(limiters.items()) if limiter.capped_waits]
    return "; ".join(lines) or None
