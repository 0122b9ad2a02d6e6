"""The budget governor: stop starting conversations once a token cap is reached.

Caps (``run.budget.max_tokens`` and ``run.budget.per_agent.<agent>``) count prompt plus
completion tokens of the whole run: what earlier sessions and languages recorded in the
run state, plus what the LLM client spent since this language started.

With a ``counter`` (the store's ``add_usage``: one counter per run, added to atomically) every
shard of a run spends from the same budget: ``sync`` adds this process's spend since the last
sync and reads the run's total back; between syncs the local spend is added on top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dlgforge_core.config.base import AGENTS

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
                 share: float = 1.0, counter: Callable[[dict[str, int]], dict[str, int]] | None = None) -> None:
        """``share`` < 1: one shard holding that share of every cap and of the prior spend (the
        fallback without a shared counter). With ``counter``, ``prior`` is the counter's
        (read at the first ``sync``) and ``share`` is ignored."""
        self.max_tokens: int | None = budget_cfg.max_tokens
        per_agent = budget_cfg.per_agent
        self.per_agent: dict[str, int] = {
            agent: cap for agent in AGENTS if (cap := getattr(per_agent, agent, None)) is not None
        }
        self._counter = counter
        self._share = 1.0 if counter is not None else share
        self._prior = {agent: tokens * self._share for agent, tokens in tokens_by_agent(prior).items()}
        self._current = current
        self._baseline = tokens_by_agent(current())
        self.reached: str | None = None
        self.spent_at_stop: int | None = None

    def sync(self) -> None:
        """Add this process's spend since the last sync to the shared counter and read the
        run's totals back (blocking: a database or file round trip). No-op without a counter."""
        if self._counter is None:
            return
        now = tokens_by_agent(self._current())
        delta = {a: v - self._baseline.get(a, 0) for a, v in now.items() if v - self._baseline.get(a, 0)}
        totals = self._counter(delta)
        self._baseline = {**self._baseline, **now}
        self._prior = {agent: float(tokens) for agent, tokens in totals.items()}

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
        if self.reached is not None:
            self.spent_at_stop = int(sum(spent.values()))
        return self.reached is not None
