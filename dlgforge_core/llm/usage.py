"""Token usage: per call (``TokenUsage``) and per agent over a client's life (``UsageTracker``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenUsage:
    """Tokens of one call (zero for a cache hit)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: "TokenUsage") -> "TokenUsage":
        return TokenUsage(self.prompt_tokens + other.prompt_tokens,
                          self.completion_tokens + other.completion_tokens)


class UsageTracker:
    """Counts tokens, calls and cache hits per agent.

    ``calls`` counts structured calls answered by a backend (retries and repairs included in
    their tokens, not as extra calls); ``cached_calls`` counts calls replayed from the cache.
    Only touched from the event loop thread, so it needs no lock.
    """

    def __init__(self) -> None:
        self._agents: dict[str, dict[str, int]] = {}

    def _row(self, agent: str) -> dict[str, int]:
        row = self._agents.get(agent)
        if row is None:
            row = self._agents[agent] = {"prompt_tokens": 0, "completion_tokens": 0,
                                         "calls": 0, "cached_calls": 0}
        return row

    def add_tokens(self, agent: str, usage: TokenUsage) -> None:
        """Add the tokens of one backend reply (also replies later found invalid)."""
        row = self._row(agent)
        row["prompt_tokens"] += usage.prompt_tokens
        row["completion_tokens"] += usage.completion_tokens

    def add_call(self, agent: str, cached: bool) -> None:
        """Count one finished structured call."""
        self._row(agent)["cached_calls" if cached else "calls"] += 1

    def by_agent(self) -> dict[str, dict[str, int]]:
        """``{agent: {prompt_tokens, completion_tokens, calls, cached_calls}}`` (a copy)."""
        return {agent: dict(row) for agent, row in self._agents.items()}

    def total_tokens(self, agent: str | None = None) -> int:
        """Prompt plus completion tokens of one agent, or of all agents."""
        rows = [self._agents.get(agent, {})] if agent else list(self._agents.values())
        return sum(r.get("prompt_tokens", 0) + r.get("completion_tokens", 0) for r in rows)
