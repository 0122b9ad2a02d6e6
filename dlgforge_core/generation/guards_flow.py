"""How a conversation applies the reply guards: the larger-limit retry of a reply cut off by
its token limit, and the verdict on an answer candidate (kept, flagged, or rejected)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from dlgforge_core.generation import prompts
from dlgforge_core.generation.guards import GuardFailure
from dlgforge_core.generation.guards_text import grounding_overlap


async def untruncated(
    ctx: Any, agent: str, call: Callable[[int | None], Awaitable[Any]], on_result: Callable[[Any], None]
) -> Any | None:
    """``call(None)``; when the reply was cut off by the token limit, ``call(larger limit)``
    once more (``truncated.retry_factor`` times the agent's ``max_tokens``). None when the
    second reply is cut off too: the caller drops the conversation as ``truncated``."""
    result = await call(None)
    on_result(result)
    guards = ctx.guards
    if guards is None or not guards.truncated(getattr(result, "finish_reason", None)):
        return result
    ctx.guard_tally.truncated_retries += 1
    limit = int(ctx.cfg.agent_settings(agent).max_tokens * guards.settings.truncated.retry_factor)
    result = await call(limit)
    on_result(result)
    if guards.truncated(getattr(result, "finish_reason", None)):
        ctx.guard_tally.reject(GuardFailure("truncated", "cut off at the larger token limit too"))
        return None
    return result


def judge_candidate(ctx: Any, candidate: dict[str, Any], attempts: int, question: str) -> GuardFailure | None:
    """Check one answer candidate; a passing one gets ``candidate["guards"]`` (flags, the
    grounding overlap and the attempts it took), a failing one is counted and returned."""
    guards, tally = ctx.guards, ctx.guard_tally
    tally.answer_attempts += 1
    answer = candidate["answer"]
    chunks = [str(s.get("text") or "") for s in candidate["shown"]]
    failure = guards.check_answer(answer, prompts.template("kb_responder"), chunks, question)
    if failure is not None:
        tally.reject(failure)
        return failure
    tally.answers += 1
    flags = []
    if guards.settings.ungrounded.enabled and guards.is_ungrounded(answer, chunks):
        flags.append("ungrounded")
        tally.flag("ungrounded")
    candidate["guards"] = {
        "flags": flags,
        "grounding_overlap": round(grounding_overlap(answer, chunks), 4) if chunks else None,
        "answer_attempts": attempts,
    }
    return None
