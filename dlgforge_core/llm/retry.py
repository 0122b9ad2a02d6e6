"""Retry delays: exponential backoff with full jitter, honouring a (capped) Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    """How long to wait before retry number ``attempt`` (0 = the first retry).

    Full jitter: a uniform draw in ``[0, min(cap, base * 2**attempt)]``. When the server sent
    ``Retry-After``, the wait is at least that (capped at ``retry_after_cap`` so a hostile or
    confused server cannot park a slot for hours).
    """

    base: float = 0.5
    cap: float = 20.0
    retry_after_cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before the next attempt."""
        ceiling = min(self.cap, self.base * (2 ** min(attempt, 30)))
        wait = self.rng.uniform(0.0, ceiling)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.retry_after_cap))
        return wait


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form); None if absent or a date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
