"""The budget governor: stop starting conversations once a token cap is reached.

Caps (``run.budget.max_tokens`` and ``run.budget.per_agent.<agent>``) count prompt plus
completion tokens of the whole run: what earlier sessions and languages recorded in the
run state, plus what the LLM client spent since this language started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

AGENTS = ("qa_generator", "kb_responder", "qa_judge")
UsageByAgent = Mapping[str, Mapping[str, int]]


def tokens_by_agent(usage: UsageByAgent) -> dict[str, int]:
    """Prompt plus completion tokens per agent."""
    return {
        agent: int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0))
        for agent, u in usage.items()
    }


def usage_delta(now: UsageByAgent, before: UsageByAgent) -> dict[str, dict[str, int]]:
    """``now - before`` per agent and counter (the client's counters only grow)."""
    delta: dict[str, dict[str, int]] = {}
    for agent, counters in now.items():
        prior = before.get(agent, {})
        delta[agent] = {k: int(v) - int(prior.get(k, 0)) for k, v in counters.items()}
    return delta


def add_usage(a: UsageByAgent, b: UsageByAgent) -> dict[str, dict[str, int]]:
    """Sum two usage mappings per agent and counter."""
    total: dict[str, dict[str, int]] = {agent: dict(c) for agent, c in a.items()}
    for agent, counters in b.items():
        slot = total.setdefault(agent, {})
        for key, value in counters.items():
            slot[key] = slot.get(key, 0) + int(value)
    return total


def total_usage(usages: Iterable[UsageByAgent]) -> dict[str, dict[str, int]]:
    """Sum many usage mappings (e.g. every language state of one run)."""
    total: dict[str, dict[str, int]] = {}
    for usage in usages:
        total = add_usage(total, usage)
    return total


class BudgetGovernor:
    """Answers "may a new conversation start?" from the caps and the spend so far."""

    def __init__(self, budget_cfg: Any, prior: UsageByAgent, current: Callable[[], UsageByAgent],
                 share: float = 1.0) -> None:
        """``share`` < 1: one shard of a distributed language, which holds that share of every
        cap and of the prior spend (shards run at once and cannot see each other's spend)."""
        self.max_tokens: int | None = budget_cfg.max_tokens
        per_agent = budget_cfg.per_agent
        self.per_agent: dict[str, int] = {
            agent: cap for agent in AGENTS if (cap := getattr(per_agent, agent, None)) is not None
        }
        self._share = share
        self._prior = {agent: tokens * share for agent, tokens in tokens_by_agent(prior).items()}
        self._current = current
        self._baseline = tokens_by_agent(current())
        self.reached: str | None = None

    @property
    def enabled(self) -> bool:
        return self.max_tokens is not None or bool(self.per_agent)

    def spent(self) -> dict[str, float]:
        """Tokens per agent counted against the caps."""
        now = tokens_by_agent(self._current())
        agents = set(now) | set(self._prior)
        return {
            a: self._prior.get(a, 0) + now.get(a, 0) - self._baseline.get(a, 0) for a in agents
        }

    def exhausted(self) -> bool:
        """True (and ``reached`` names the cap) once any cap is reached."""
        if not self.enabled:
            return False
        if self.reached:
            return True
        spent, share = self.spent(), self._share
        if self.max_tokens is not None and sum(spent.values()) >= self.max_tokens * share:
            self.reached = f"run.budget.max_tokens={self.max_tokens}"
        for agent, cap in self.per_agent.items():
            if spent.get(agent, 0) >= cap * share:
                self.reached = f"run.budget.per_agent.{agent}={cap}"
        return self.reached is not None
