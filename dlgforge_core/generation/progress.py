"""Progress of one language run: accepted so far, rate and ETA, logged at most once a second."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Progress = Callable[[int, int, float, float | None], None]
"""``progress(accepted, target, conversations_per_s, eta_s_or_None)``: the caller's callback."""


class ProgressMeter:
    """Logs ``[tag] progress N/T accepted, R conv/s, eta E`` and calls ``callback`` with the
    same figures; the rate counts conversations accepted by this invocation since ``start``."""

    def __init__(self, log: Any, tag: str, callback: Progress | None = None) -> None:
        self.log, self.tag, self.callback = log, tag, callback
        self.started = time.monotonic()
        self._last = 0.0

    def start(self) -> None:
        """The rate is measured from now (after set-up)."""
        self.started = time.monotonic()

    def report(self, accepted: int, accepted_new: int, target: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 1.0 and accepted < target:
            return
        self._last = now
        rate = accepted_new / max(now - self.started, 1e-9)
        eta = max(target - accepted, 0) / rate if rate > 0 else None
        self.log.info("[%s] progress %d/%d accepted, %.2f conv/s, eta %s", self.tag, accepted, target,
                      rate, f"{eta:.0f}s" if eta is not None else "?")
        if self.callback is not None:
            self.callback(accepted, target, rate, eta)
