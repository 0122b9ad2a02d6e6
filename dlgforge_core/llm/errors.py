"""Errors of the LLM client: a call that failed for good, and HTTP set-up failures."""

from __future__ import annotations

from typing import Any

from dlgforge_core.errors import LLMSetupError

DROP_REASONS = ("llm_error", "invalid_json", "empty_reply", "budget_exhausted")


class LLMCallError(Exception):
    """A call failed after its retries (and repair attempt).

    ``reason`` is the drop reason the engine records: ``llm_error``, ``invalid_json``,
    ``empty_reply`` or ``budget_exhausted``. The message never contains prompt text.
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def setup_error(cfg: Any, agent: str, endpoint: str, model: str, status: int) -> LLMSetupError:
    """A rejected key (401/403) or unknown model/URL (404): a set-up problem no retry fixes.

    The message names the config key to fix (the agent's override when it has one).
    """
    overrides = getattr(cfg.llm.agents, agent)
    if status in (401, 403):
        key = f"llm.agents.{agent}.api_key" if overrides.api_key else "llm.api_key"
        return LLMSetupError(f"{key}: {endpoint} rejected the API key (HTTP {status})")
    key = f"llm.agents.{agent}.model" if overrides.model else "llm.model"
    return LLMSetupError(f"{key}: {endpoint} answered HTTP {status} for model {model!r} "
                         "(check the model name and llm.base_url)")
