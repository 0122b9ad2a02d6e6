"""The ``qa_judge`` agent: scores grounded answers per turn or per conversation.

Used online by the generation engine and offline by :mod:`dlgforge_core.judge.offline`.
A judgement is a plain dict ``{"score", "reasons", "notes", "model", "settings_hash"}``;
``settings_hash`` lets the offline judge skip work already done under the same settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from dlgforge_core.judge import prompts
from dlgforge_core.judge.logs import judge_logger
from dlgforge_core.judge.replies import judge_reply_model, make_validator

AGENT = "qa_judge"


class Judge:
    """Judges answers against exactly the chunks they were grounded on.

    ``llm`` is an ``LLMClient`` (or anything with its ``structured`` coroutine).
    ``mode`` only names the log tag: ``online`` (inside generation) or ``offline``.
    Failed calls raise the client's ``LLMCallError``; the caller decides what that means.
    """

    def __init__(self, cfg: Any, llm: Any, mode: str = "online") -> None:
        self.cfg = cfg
        self.llm = llm
        self.mode = mode
        settings = cfg.judge
        self.granularity: str = settings.granularity
        self.reasons: list[str] = list(settings.reasons)
        self.score_min: int = int(settings.score_min)
        self.score_max: int = int(settings.score_max)
        self.model: str | None = cfg.agent_settings(AGENT).model
        self.reply_model = judge_reply_model(self.score_min, self.score_max, self.reasons)
        self._validate = make_validator(self.score_min, self.score_max, self.reasons)
        self._log_dir = cfg.logs_dir
        judge_logger(self._log_dir)  # opened here, not first on the event loop
        self.settings_hash: str = settings_hash(
            model=self.model,
            granularity=self.granularity,
            reasons=self.reasons,
            score_min=self.score_min,
            score_max=self.score_max,
        )

    async def judge_turn(
        self,
        conversation_id: str,
        language: str,
        question: str,
        answer: str,
        chunks: Sequence[Mapping[str, Any]],
        cache_key: str,
        *,
        turn_index: int | None = None,
        web_sources: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """Score one answer; ``chunks`` are ``[{"chunk_id", "text"}]`` it was grounded on and
        ``web_sources`` the web results (``[{url, title, snippet}]``) it was given."""
        messages = prompts.turn_messages(
            language=language,
            question=question,
            answer=answer,
            chunks=chunks,
            score_min=self.score_min,
            score_max=self.score_max,
            reasons=self.reasons,
            web_sources=web_sources,
        )
        judgement = await self._ask(messages, cache_key, conversation_id)
        turn = "?" if turn_index is None else turn_index
        self._logger().info(
            "[judge-%s] %s turn=%s score=%s reasons=%s",
            self.mode,
            conversation_id,
            turn,
            judgement["score"],
            ",".join(judgement["reasons"]),
        )
        return judgement

    async def judge_conversation(
        self,
        record: Mapping[str, Any],
        chunks_by_turn: Sequence[Sequence[Mapping[str, Any]]],
        cache_key: str,
    ) -> dict[str, Any]:
        """Score a whole conversation; ``chunks_by_turn[i]`` grounded turn ``i``."""
        conversation_id = str(record["conversation_id"])
        messages = prompts.conversation_messages(
            language=str(record.get("language", "")),
            turns=record.get("turns") or [],
            chunks_by_turn=chunks_by_turn,
            score_min=self.score_min,
            score_max=self.score_max,
            reasons=self.reasons,
        )
        judgement = await self._ask(messages, cache_key, conversation_id)
        self._logger().info(
            "[judge-%s-conversation] %s score=%s reasons=%s",
            self.mode,
            conversation_id,
            judgement["score"],
            ",".join(judgement["reasons"]),
        )
        return judgement

    def log(self, message: str, *args: Any) -> None:
        """Append a line to ``logs/judge.log`` (ids and numbers only, never prompts)."""
        self._logger().info(message, *args)

    async def _ask(
        self, messages: list[dict[str, str]], cache_key: str, conversation_id: str
    ) -> dict[str, Any]:
        result = await self.llm.structured(
            agent=AGENT,
            messages=messages,
            schema=self.reply_model,
            validate=self._validate,
            cache_key=f"judge/{self.settings_hash}/{cache_key}",
            conversation_id=conversation_id,
        )
        reply = result.value
        return {
            "score": int(reply.score),
            "reasons": list(reply.reasons),
            "notes": reply.notes,
            "model": self.model,
            "settings_hash": self.settings_hash,
        }

    def _logger(self):
        return judge_logger(self._log_dir)


def settings_hash(
    *,
    model: str | None,
    granularity: str,
    reasons: Sequence[str],
    score_min: int,
    score_max: int,
    prompt_version: str = prompts.PROMPT_VERSION,
) -> str:
    """Short stable hash of everything that changes what a judgement means."""
    payload = {
        "model": model,
        "granularity": granularity,
        "reasons": list(reasons),
        "score_min": score_min,
        "score_max": score_max,
        "prompt_version": prompt_version,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def best_and_worst(
    candidates: Sequence[Mapping[str, Any]],
) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """Pick the (chosen, rejected) pair among judged answer candidates, for DPO.

    Each candidate is ``{"answer", "qa_judge": {"score", ...} | None}``. The best is the
    first with the highest score, the worst the last with the lowest. Returns ``None``
    when fewer than two candidates carry a score or all scores are equal: such a pair
    says nothing about preference.
    """
    judged = [c for c in candidates if (c.get("qa_judge") or {}).get("score") is not None]
    if len(judged) < 2:
        return None
    scores = [c["qa_judge"]["score"] for c in judged]
    if max(scores) == min(scores):
        return None
    best = judged[scores.index(max(scores))]
    worst_position = len(scores) - 1 - scores[::-1].index(min(scores))
    return best, judged[worst_position]
