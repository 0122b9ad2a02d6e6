"""Client-side helpers for talking to the Orbitra API politely."""

import time


def backoff_delay(attempt, base=0.5, cap=30.0):
    """Return the exponential backoff delay in seconds for a retry attempt.

    The delay doubles with every attempt, starting at ``base`` seconds, and never
    exceeds ``cap`` seconds.
    """
    delay = base * (2 ** attempt)
    return min(delay, cap)


class TokenBucket:
    """A token bucket rate limiter that allows bursts up to its capacity.

    Tokens refill continuously at ``rate`` tokens per second.
    """

    def __init__(self, rate, capacity):
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = time.monotonic()

    def refill(self):
        """Add the tokens earned since the last refill, up to the capacity."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def try_acquire(self, cost=1):
        """Take ``cost`` tokens if available and return True, else return False."""
        self.refill()
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


def parse_retry_after(header_value):
    """Parse a Retry-After header given in seconds; return None when it is missing or invalid."""
    if header_value is None:
        return None
    try:
        seconds = float(header_value)
    except ValueError:
        return None
    return max(0.0, seconds)
