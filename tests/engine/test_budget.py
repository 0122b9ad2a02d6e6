"""The budget governor's arithmetic (the engine-level stop is in test_engine.py)."""

from __future__ import annotations

from types import SimpleNamespace

from dlgforge_core.generation.budget import BudgetGovernor, add_usage, usage_delta


def budget(max_tokens=None, **per_agent):
    return SimpleNamespace(max_tokens=max_tokens, per_agent=SimpleNamespace(**per_agent))


def test_total_cap_counts_prior_runs_and_this_client_since_start() -> None:
    current = {"qa_generator": {"prompt_tokens": 100, "completion_tokens": 0}}
    gov = BudgetGovernor(budget(max_tokens=500), {"kb_responder": {"prompt_tokens": 300, "completion_tokens": 0}},
                         lambda: current)
    assert not gov.exhausted()  # 300 prior + 0 since start (100 was before this language)
    current["qa_generator"]["completion_tokens"] = 199
    assert not gov.exhausted()
    current["qa_generator"]["completion_tokens"] = 200
    assert gov.exhausted() and gov.reached == "run.budget.max_tokens=500"


def test_per_agent_cap() -> None:
    current: dict = {}
    gov = BudgetGovernor(budget(qa_judge=10), {}, lambda: current)
    current["kb_responder"] = {"prompt_tokens": 1000, "completion_tokens": 0}
    assert not gov.exhausted()
    current["qa_judge"] = {"prompt_tokens": 5, "completion_tokens": 5}
    assert gov.exhausted() and gov.reached == "run.budget.per_agent.qa_judge=10"


def test_no_caps_never_exhausted() -> None:
    assert not BudgetGovernor(budget(), {}, lambda: {"a": {"prompt_tokens": 10**9}}).exhausted()


def test_usage_helpers() -> None:
    assert usage_delta({"a": {"calls": 5}}, {"a": {"calls": 2}}) == {"a": {"calls": 3}}
    assert add_usage({"a": {"calls": 1}}, {"a": {"calls": 2}, "b": {"calls": 1}}) == {"a": {"calls": 3}, "b": {"calls": 1}}
