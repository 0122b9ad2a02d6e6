"""Helpers shared by the LLM client tests (the fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from dlgforge_core.config import DlgforgeConfig
from dlgforge_core.llm.client import LLMClient
from dlgforge_core.llm.retry import RetryPolicy

SECRET_KEY = "sk-test-SECRET-9f8e7d"


class QuestionReply(BaseModel):
    """The generator's reply contract, as the engine defines it."""

    question: str


class RecordingRetry(RetryPolicy):
    """Fast backoff that remembers every (attempt, retry_after, delay) it was asked for."""

    def __init__(self) -> None:
        super().__init__(base=0.001, cap=0.01, retry_after_cap=0.5, rng=random.Random(7))
        self.waits: list[tuple[int, float | None, float]] = []

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = super().delay(attempt, retry_after)
        self.waits.append((attempt, retry_after, wait))
        return wait


def run(coro_fn: Callable[..., Any], cfg: DlgforgeConfig, log_dir: Path | None = None,
        retry: RetryPolicy | None = None, **client_kwargs: Any) -> Any:
    """Run ``await coro_fn(client)`` with a fresh client that is closed afterwards."""

    async def main() -> Any:
        client = LLMClient(cfg, log_dir=log_dir, retry=retry or RecordingRetry(),
                           **client_kwargs)
        try:
            return await coro_fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def ask(n: int = 0) -> list[dict[str, str]]:
    """A small generator prompt (distinct per ``n``)."""
    return [{"role": "system", "content": "You write user questions. language: en"},
            {"role": "user", "content": f"Write question number {n} about the guide."}]
