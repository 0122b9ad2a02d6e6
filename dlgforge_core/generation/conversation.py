"""One conversation: n turns of question -> dedup -> KB search -> responder tool loop -> judge.

The responder's loop may also search the web when ``retrieval.web_search`` is enabled; the
results it found are recorded in the turn as ``web_sources`` and shown to the judge.

Any ``LLMCallError`` (or exhausted dedup retries) ends the conversation with a named
drop reason; the engine records it and moves on. Questions are reserved in the dedup
memory as soon as they are accepted for a turn and released if the conversation drops.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from dlgforge_core.generation import prompts
from dlgforge_core.generation.coverage import Planner
from dlgforge_core.generation.dedup import QuestionIndex
from dlgforge_core.generation.guards import GuardTally, ReplyGuards
from dlgforge_core.generation.guards_flow import judge_candidate, untruncated
from dlgforge_core.generation.near_dup import NearDupFilter
from dlgforge_core.generation.replies import FinalAnswerReply, QuestionReply, ResponderReply, responder_reply_model
from dlgforge_core.generation.tool_rounds import joined_reasoning, kb_call, web_call
from dlgforge_core.generation.turn_records import (
    Tally, answer_candidate, candidate_row, chunk_dict, hit_dict, persona_record, source_stem,
)
from dlgforge_core.generation.web_search import WebFindings, WebSearchTool
from dlgforge_core.llm.errors import LLMCallError
from dlgforge_core.store.run_state import utc_now


class ConversationDropped(Exception):
    """The conversation is not accepted; ``reason`` is its ``drop_reason``."""

    def __init__(self, reason: str, turn_index: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.turn_index = turn_index


def conversation_id(run_id: str, language: str, index: int) -> str:
    """``<run_id>-<language>-<index:06d>``."""
    return f"{run_id}-{language}-{index:06d}"


@dataclass
class LanguageContext:
    """Everything the conversations of one language share."""

    cfg: Any
    language: str
    run_id: str
    llm: Any
    kb: Any
    planner: Planner
    dedup: QuestionIndex
    near_dup: NearDupFilter | None
    judge: Any | None
    index_version: str
    models: dict[str, str | None]
    config_hash: str = ""
    judge_turns: bool = False
    judge_conversation: bool = False
    web_search: WebSearchTool | None = None
    guards: ReplyGuards | None = None
    guard_tally: GuardTally = field(default_factory=GuardTally)


class ConversationRun:
    """Generates conversation ``index`` of one language; ``await run()`` returns the record."""

    def __init__(self, ctx: LanguageContext, index: int) -> None:
        self.ctx = ctx
        self.index = index
        self.cid = conversation_id(ctx.run_id, ctx.language, index)
        self.tally = Tally()
        self.plan, _ = ctx.planner.plan(index)

    async def run(self) -> dict[str, Any]:
        """The accepted record, or ``ConversationDropped`` (its reservations released)."""
        try:
            return await self._generate()
        except LLMCallError as err:
            self._release()
            raise ConversationDropped(err.reason) from err
        except BaseException:
            self._release()
            raise

    def accept(self) -> None:
        """Make this conversation's questions permanent in the dedup memory (after commit)."""
        self.ctx.dedup.confirm(self.cid)
        if self.ctx.near_dup is not None:
            self.ctx.near_dup.confirm(self.cid)

    def release(self) -> None:
        """Free this conversation's questions (it was not committed)."""
        self._release()

    def _release(self) -> None:
        self.ctx.dedup.release(self.cid)
        if self.ctx.near_dup is not None:
            self.ctx.near_dup.release(self.cid)

    async def _generate(self) -> dict[str, Any]:
        ctx, plan = self.ctx, self.plan
        turns: list[dict[str, Any]] = []
        shown_by_turn: list[list[dict[str, Any]]] = []
        previous: dict[str, Any] | None = None
        topic = plan.seed_question.topic if plan.seed_question else None
        for t in range(plan.n_turns):
            mode = ctx.planner.mode(plan, t)
            snippets = [chunk_dict(c) for c in await ctx.planner.snippets(plan, t, mode, previous)]
            if topic is None and snippets:
                topic = snippets[0]["heading"] or source_stem(snippets[0]["source"])
            question, asked = await self._question(t, mode, snippets, turns)
            turn, shown = await self._answer(t, mode, question, snippets, turns)
            turn.update(asked)
            turns.append(turn)
            shown_by_turn.append(shown)
            previous = {
                "question_anchor": (snippets[0]["source"], snippets[0]["position"]) if snippets else None,
                "answer_anchor": (shown[0]["source"], shown[0]["position"]) if shown else None,
            }
        record = self._record(turns, topic)
        if ctx.judge_conversation:
            chunks = [[{"chunk_id": c["chunk_id"], "text": c["text"]} for c in s] for s in shown_by_turn]
            record["conversation_judge"] = await ctx.judge.judge_conversation(
                record, chunks, cache_key=f"{self.cid}/conversation"
            )
        return record

    async def _question(self, t: int, mode: str, snippets: list[dict],
                        turns: list[dict]) -> tuple[str, dict[str, Any]]:
        """The user's question for turn ``t``, unique after normalization (else dropped), and
        what the turn records about it (intent, difficulty, seed, the generator's reasoning)."""
        ctx, plan = self.ctx, self.plan
        last_reason = "dedup_exhausted"
        seed = {"topic": plan.seed_question.topic, "question": plan.seed_question.text} if plan.seed_question else None
        rejected: str | None = None  # why the last attempt was not taken (shown in the next prompt)
        for attempt in range(ctx.cfg.coverage.question_dedup_retries + 1):
            asked: dict[str, Any] = {"intent": None, "difficulty": None, "seed": seed, "generator_reasoning": None}
            if mode == "seeded" and attempt == 0:
                question = plan.seed_question.text
            else:
                messages = prompts.generator_messages(
                    language=ctx.language,
                    persona=persona_record(plan.user_persona),
                    mode=mode,
                    snippets=snippets,
                    previous_turns=turns,
                    seed_question=plan.seed_question.text if mode == "seeded" else None,
                    attempt=attempt,
                    rejected=rejected,
                    style=prompts.prompt_style(ctx.cfg),
                )
                result = await untruncated(ctx, "qa_generator", lambda limit: ctx.llm.structured(
                    agent="qa_generator",
                    messages=messages,
                    schema=QuestionReply,
                    cache_key=f"{self.cid}/t{t}/a{attempt}",
                    conversation_id=self.cid,
                    max_tokens=limit,
                ), lambda result: self.tally.add("qa_generator", result))
                if result is None:
                    raise ConversationDropped("truncated", t)
                question = result.value.question
                asked.update(intent=result.value.intent, difficulty=result.value.difficulty,
                             generator_reasoning=result.reasoning)
            ctx.guard_tally.question_attempts += 1
            failure = ctx.guards.check_question(
                question, prompts.template("qa_generator"), follow_up=t > 0) if ctx.guards else None
            if failure is not None:
                ctx.guard_tally.reject(failure)
                last_reason = rejected = failure.reason
                continue
            rejected = "duplicate"
            if ctx.dedup.seen(question):
                last_reason = "dedup_exhausted"
                continue
            if ctx.near_dup is not None and ctx.near_dup.is_near_duplicate(question):
                last_reason = "near_duplicate"
                continue
            if not ctx.dedup.reserve(question, self.cid):  # absorbed from another process meanwhile
                last_reason = "dedup_exhausted"
                continue
            if ctx.near_dup is not None:
                ctx.near_dup.reserve(question, self.cid)
            ctx.guard_tally.questions += 1
            return question, asked
        raise ConversationDropped(last_reason, t)

    async def _answer(
        self, t: int, mode: str, question: str, snippets: list[dict], turns: list[dict]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Ground, answer (N candidates when configured), judge; returns the turn and its chunks."""
        ctx = self.ctx
        k = ctx.cfg.retrieval.default_k
        earlier = [turn["user_message"] for turn in turns]  # searched beside the question
        initial = [hit_dict(h) for h in await ctx.kb.asearch(question, k, context=earlier)]
        count = ctx.cfg.run.candidates_per_turn
        candidates = await asyncio.gather(
            *(self._guarded_answer(t, c, question, initial, turns) for c in range(count))
        )
        if ctx.judge_turns:
            judgements = await asyncio.gather(
                *(
                    ctx.judge.judge_turn(
                        self.cid, ctx.language, question, cand["answer"],
                        [{"chunk_id": s["chunk_id"], "text": s["text"]} for s in cand["shown"]],
                        cache_key=f"{self.cid}/t{t}/c{c}", turn_index=t,
                        web_sources=cand.get("web_sources") or (),
                    )
                    for c, cand in enumerate(candidates)
                )
            )
            for cand, judgement in zip(candidates, judgements):
                cand["qa_judge"] = judgement
        best = max(candidates, key=lambda c: (c.get("qa_judge") or {}).get("score", 0))
        turn = {
            "turn_index": t,
            "mode": mode,
            "user_message": question,
            "assistant_message": best["answer"],
            "question_chunk_ids": [s["chunk_id"] for s in snippets],
            "question_sources": sorted({s["source"] for s in snippets}),
            "grounding": {
                "index_version": ctx.index_version,
                "chunks": [
                    {"chunk_id": s["chunk_id"], "source": s["source"], "score": round(s["score"], 6)}
                    for s in best["shown"]
                ],
            },
            "cited_chunk_ids": best["cited_chunk_ids"],
            "tool_rounds": best["tool_rounds"],
            "tool_calls": best["tool_calls"],
            "responder_reasoning": best["reasoning"],
            "qa_judge": best.get("qa_judge"),
        }
        if ctx.web_search is not None:
            turn["web_sources"] = best["web_sources"]
        if "guards" in best:
            turn["guards"] = best["guards"]
        if count > 1:
            turn["candidates"] = [candidate_row(c) for c in candidates]
        return turn, best["shown"]

    async def _guarded_answer(
        self, t: int, cand: int, question: str, initial: list[dict], turns: list[dict]
    ) -> dict[str, Any]:
        """An answer candidate that passes the reply guards, regenerated up to
        ``quality.guards.max_attempts`` times; then the conversation drops with the guard's name."""
        guards = self.ctx.guards
        if guards is None or not guards.enabled:
            return await self._tool_loop(t, cand, question, initial, turns)
        rejected = None
        for attempt in range(guards.settings.max_attempts):
            candidate = await self._tool_loop(t, cand, question, initial, turns, attempt, rejected)
            verdict = judge_candidate(self.ctx, candidate, attempt + 1, question)
            if verdict is None:
                return candidate
            rejected = verdict.reason
        raise ConversationDropped(rejected or "invalid_json", t)

    async def _tool_loop(
        self, t: int, cand: int, question: str, initial: list[dict], turns: list[dict],
        attempt: int = 0, rejected: str | None = None,
    ) -> dict[str, Any]:
        """The responder's bounded search/answer loop for one answer candidate.

        Each round is one reply: a KB search, a web search (when enabled) or the answer.
        A failed web search is shown to the model as a note; it never ends the loop.
        """
        ctx = self.ctx
        shown = {h["chunk_id"]: h for h in initial}
        searches: list[str] = []
        web = WebFindings() if ctx.web_search is not None else None
        calls = [kb_call(0, question, initial)]  # the search made with the question itself
        thoughts: list[str | None] = []
        rounds = ctx.cfg.retrieval.max_tool_rounds
        slot = f"{self.cid}/t{t}/c{cand}" + (f"/a{attempt}" if attempt else "")
        for r in range(rounds):
            messages = self._responder_messages(turns, question, shown, searches, web, rounds - 1 - r, rejected)
            schema = FinalAnswerReply if r == rounds - 1 else responder_reply_model(web is not None)
            result = await untruncated(ctx, "kb_responder", lambda limit: ctx.llm.structured(
                agent="kb_responder",
                messages=messages,
                schema=schema,
                cache_key=f"{slot}/r{r}",
                conversation_id=self.cid,
                max_tokens=limit,
            ), lambda result: self.tally.add("kb_responder", result))
            if result is None:
                raise ConversationDropped("truncated", t)
            reply: ResponderReply = result.value
            thoughts.append(result.reasoning)
            if reply.action == "answer":
                return {**answer_candidate(reply, shown, web, r + 1), "tool_calls": calls,
                        "reasoning": joined_reasoning(thoughts)}
            if reply.action == "web_search" and web is not None:
                query = reply.query.strip()
                outcome = await ctx.web_search.search(query, self.cid)
                web.add(query, outcome)
                calls.append(web_call(r + 1, query, outcome, web))
                continue
            searches.append(reply.query.strip())
            hits = [hit_dict(hit) for hit in await ctx.kb.asearch(reply.query, ctx.cfg.retrieval.default_k)]
            calls.append(kb_call(r + 1, reply.query.strip(), hits))
            for hit in hits:
                shown.setdefault(hit["chunk_id"], hit)
        raise LLMCallError("invalid_json")  # unreachable: the last round only accepts an answer

    def _responder_messages(
        self,
        turns: list[dict],
        question: str,
        shown: dict[str, dict],
        searches: list[str],
        web: WebFindings | None,
        searches_left: int,
        rejected: str | None = None,
    ) -> list[dict[str, str]]:
        """The prompt of one tool round (the web tool described only when it is enabled)."""
        return prompts.responder_messages(
            language=self.ctx.language,
            persona=persona_record(self.plan.assistant_persona),
            previous_turns=turns,
            question=question,
            snippets=list(shown.values()),
            searches=searches,
            searches_left=searches_left,
            web_search=web is not None,
            web_results=web.sources() if web is not None else (),
            web_searches=web.lines if web is not None else (),
            rejected=rejected,
            style=prompts.prompt_style(self.ctx.cfg),
        )

    def _record(self, turns: list[dict[str, Any]], topic: str | None) -> dict[str, Any]:
        ctx, plan = self.ctx, self.plan
        return {
            "conversation_id": self.cid,
            "run_id": ctx.run_id,
            "language": ctx.language,
            "conversation_index": self.index,
            "created_at": utc_now(),
            "n_turns": len(turns),
            "user_persona": persona_record(plan.user_persona),
            "assistant_persona": persona_record(plan.assistant_persona),
            "topic": topic,
            "seeded": plan.seed_question is not None,
            "turns": turns,
            "conversation_judge": None,
            "models": dict(ctx.models),
            "usage": self.tally.usage,
            "config_hash": ctx.config_hash,
            "kb_index_version": ctx.index_version,
        }
