"""The offline judge: score accepted conversations after generation.

``dlgforge judge CONFIG`` (and a run with ``judge.mode: offline``) land here. Records
already judged under the same settings hash are skipped, so a second call makes no LLM
call and leaves every file untouched. The rest are judged concurrently (at most
``run.batch_size`` calls in flight), then all outputs are rewritten atomically through
``OutputStore.replace_records``. A failed judge call leaves its record unjudged.

With per-turn granularity, a turn that kept several answer candidates
(``run.candidates_per_turn``) has each candidate judged on the chunks it was grounded on,
so the DPO export can pair them; the turn's ``qa_judge`` is its chosen answer's. The chosen
answer is never swapped afterwards: later turns were generated after it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dlgforge_core.errors import ConfigError
from dlgforge_core.judge.judge import Judge
from dlgforge_core.judge.logs import flush_judge_logs
from dlgforge_core.llm.errors import LLMCallError

MISSING_TEXT = "(this passage is no longer in the knowledge base)"


@dataclass(frozen=True)
class OfflineJudgeSummary:
    """What one offline judge pass did.

    ``mean_score`` is over every record now carrying a judgement under the current
    settings (judged now or skipped as already judged); ``None`` when there is none.
    """

    judged: int
    skipped: int
    failed: int
    mean_score: float | None


def run_offline_judge(cfg: Any, echo: Callable[[str], None] = print) -> OfflineJudgeSummary:
    """Judge every accepted record that lacks a judgement under the current settings."""
    from dlgforge_core.store.outputs import OutputStore

    if cfg.llm.backend in ("openai", "vllm_attach") and not cfg.resolve_model("qa_judge"):
        raise ConfigError(
            f"{cfg.config_path}: llm.agents.qa_judge.model: no model for the judge "
            "(set llm.agents.qa_judge.model or llm.model)"
        )
    from dlgforge_core.judge.self_check import ensure_self_check

    ensure_self_check(cfg, echo=echo)  # stored result reused: no call on a re-run
    store = OutputStore(cfg)
    records = list(store.accepted_records())
    judge = Judge(cfg, llm=None, mode="offline")
    summary, judged = asyncio.run(_judge_pending(cfg, judge, records, echo))
    flush_judge_logs()
    if judged:
        # Records are re-read lazily, inside replace_records' folder lock: a conversation
        # another process committed while we were judging is kept, not lost.
        fresh = store.accepted_records()
        store.replace_records(judged.get(r["conversation_id"], r) for r in fresh)
        if cfg.store.backend == "postgres":  # the folder is the database's view: keep them equal
            from dlgforge_core.store.open import open_store

            database = open_store(cfg)
            try:
                database.replace_records(judged.values())
            finally:
                database.close()
    echo(
        f"judge: {summary.judged} judged, {summary.skipped} already judged, "
        f"{summary.failed} failed, mean score "
        + ("n/a" if summary.mean_score is None else f"{summary.mean_score:.2f}")
    )
    return summary


def needs_judging(record: Mapping[str, Any], settings_hash: str, granularity: str) -> bool:
    """True when the record lacks a judgement made under ``settings_hash``."""
    if granularity == "conversation":
        return not _current(record.get("conversation_judge"), settings_hash)
    turns = record.get("turns") or []
    return any(not _current(turn.get("qa_judge"), settings_hash) for turn in turns)


def grounding_ids(turn: Mapping[str, Any]) -> list[str]:
    """The chunk ids a turn's answer was grounded on (its provenance, not its citations)."""
    chunks = (turn.get("grounding") or {}).get("chunks") or []
    return [str(chunk["chunk_id"]) for chunk in chunks if chunk.get("chunk_id")]


def candidate_grounding_ids(turn: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[str]:
    """The chunk ids one answer candidate was grounded on (records written before candidates
    kept their own: the turn's)."""
    ids = candidate.get("grounding_chunk_ids")
    return [str(cid) for cid in ids] if isinstance(ids, list) else grounding_ids(turn)


def record_score(record: Mapping[str, Any], settings_hash: str, granularity: str) -> float | None:
    """The record's score under the current settings: its conversation or mean turn score."""
    if granularity == "conversation":
        judgement = record.get("conversation_judge")
        return float(judgement["score"]) if _current(judgement, settings_hash) else None
    scores = [
        turn["qa_judge"]["score"]
        for turn in record.get("turns") or []
        if _current(turn.get("qa_judge"), settings_hash)
    ]
    return sum(scores) / len(scores) if scores else None


async def _judge_pending(
    cfg: Any, judge: Judge, records: list[dict], echo: Callable[[str], None]
) -> tuple[OfflineJudgeSummary, dict[str, dict]]:
    """Judge what ``records`` lack; return the summary and the judged records by id."""
    pending = [r for r in records if needs_judging(r, judge.settings_hash, judge.granularity)]
    skipped = len(records) - len(pending)
    echo(f"judge: {len(pending)} to judge, {skipped} already judged ({judge.granularity})")
    results: list[dict | None] = []
    if pending:
        from dlgforge_core.llm.client import LLMClient

        judge.llm = LLMClient(cfg, log_dir=cfg.logs_dir)
        try:
            texts = await _chunk_texts(cfg, pending)
            limiter = asyncio.Semaphore(cfg.run.batch_size)
            results = await asyncio.gather(
                *(_judge_record(judge, record, texts, limiter) for record in pending)
            )
        finally:
            await judge.llm.aclose()
    judged_by_id = {r["conversation_id"]: r for r in results if r is not None}
    updated = [judged_by_id.get(r["conversation_id"], r) for r in records]
    scores = [record_score(r, judge.settings_hash, judge.granularity) for r in updated]
    scores = [s for s in scores if s is not None]
    summary = OfflineJudgeSummary(
        judged=len(judged_by_id),
        skipped=skipped,
        failed=len(pending) - len(judged_by_id),
        mean_score=round(sum(scores) / len(scores), 4) if scores else None,
    )
    judge.log(
        "[judge-offline] summary judged=%d skipped=%d failed=%d mean_score=%s",
        summary.judged, summary.skipped, summary.failed, summary.mean_score,
    )
    return summary, judged_by_id


async def _judge_record(
    judge: Judge, record: dict, texts: Mapping[str, str], limiter: asyncio.Semaphore
) -> dict | None:
    """A judged copy of ``record``, or ``None`` (logged) when any judge call failed."""
    conversation_id = record["conversation_id"]
    updated = copy.deepcopy(record)
    turns = updated.get("turns") or []
    todo: list[int] = []
    if judge.granularity == "conversation":
        chunks_by_turn = [_chunks(grounding_ids(turn), texts) for turn in turns]
        cache_key = f"{conversation_id}/conversation"
        calls = [judge.judge_conversation(updated, chunks_by_turn, cache_key)]
    else:
        stale = [not _current(turn.get("qa_judge"), judge.settings_hash) for turn in turns]
        todo = [i for i, is_stale in enumerate(stale) if is_stale]
        calls = [_judge_turn_answers(judge, updated, i, texts) for i in todo]

    async def limited(call):
        async with limiter:
            return await call

    outcomes = await asyncio.gather(*(limited(call) for call in calls), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, LLMCallError):
            judge.log("[judge-offline] %s failed reason=%s", conversation_id, outcome.reason)
            return None
        if isinstance(outcome, BaseException):
            raise outcome
    if judge.granularity == "conversation":
        updated["conversation_judge"] = outcomes[0]
    for i, judgement in zip(todo, outcomes):
        turns[i]["qa_judge"] = judgement
    if isinstance(updated.get("models"), dict):
        updated["models"]["qa_judge"] = judge.model
    return updated


async def _judge_turn_answers(judge: Judge, record: Mapping[str, Any], index: int,
                              texts: Mapping[str, str]) -> dict:
    """The judgement of turn ``index``'s answer; its candidates (if any) are judged too and
    get their own ``qa_judge`` in place. Raises ``LLMCallError`` when a call fails."""
    turn = record["turns"][index]
    candidates = [c for c in turn.get("candidates") or [] if isinstance(c, dict) and c.get("answer")]
    if not candidates:
        chunks = _chunks(grounding_ids(turn), texts)
        return await _judge_answer(judge, record, index, turn.get("assistant_message", ""), chunks,
                                   turn.get("web_sources"), f"turn-{index}")
    judgements = await asyncio.gather(*(
        _judge_answer(judge, record, index, c["answer"], _chunks(candidate_grounding_ids(turn, c), texts),
                      c.get("web_sources", turn.get("web_sources")), f"turn-{index}/c{n}")
        for n, c in enumerate(candidates)
    ))
    for candidate, judgement in zip(candidates, judgements):
        candidate["qa_judge"] = judgement
    chosen = [j for c, j in zip(candidates, judgements) if c["answer"] == turn.get("assistant_message")]
    if chosen:
        return chosen[0]
    chunks = _chunks(grounding_ids(turn), texts)
    return await _judge_answer(judge, record, index, turn.get("assistant_message", ""), chunks,
                               turn.get("web_sources"), f"turn-{index}")


def _judge_answer(judge: Judge, record: Mapping[str, Any], index: int, answer: str,
                  chunks: list[dict], web_sources: Any, key: str):
    turn = record["turns"][index]
    return judge.judge_turn(
        record["conversation_id"],
        record.get("language", ""),
        turn.get("user_message", ""),
        answer,
        chunks,
        f"{record['conversation_id']}/{key}",
        turn_index=index,
        web_sources=web_sources or (),
    )


async def _chunk_texts(cfg: Any, records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Texts of every grounding chunk of ``records``, read from the KB off the loop."""
    ids = sorted({cid for r in records for t in r.get("turns") or [] for cid in _all_grounding_ids(t)})
    if not ids:
        return {}

    def load() -> dict[str, str]:
        from dlgforge_core.kb import KnowledgeBase

        chunks = KnowledgeBase(cfg).get_chunks(ids)
        return {str(_field(c, "chunk_id")): str(_field(c, "text") or "") for c in chunks}

    return await asyncio.to_thread(load)


def _all_grounding_ids(turn: Mapping[str, Any]) -> list[str]:
    ids = grounding_ids(turn)
    for candidate in turn.get("candidates") or []:
        if isinstance(candidate, dict):
            ids += candidate_grounding_ids(turn, candidate)
    return ids


def _chunks(ids: Sequence[str], texts: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"chunk_id": cid, "text": texts.get(cid, MISSING_TEXT)} for cid in ids]


def _current(judgement: Any, settings_hash: str) -> bool:
    return (
        isinstance(judgement, Mapping)
        and judgement.get("score") is not None
        and judgement.get("settings_hash") == settings_hash
    )


def _field(chunk: Any, name: str) -> Any:
    return chunk.get(name) if isinstance(chunk, Mapping) else getattr(chunk, name, None)
