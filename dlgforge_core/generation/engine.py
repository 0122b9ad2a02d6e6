"""The generation engine of one language: independent slots, group commit, budget, resume.

``batch_size`` request slots (the LLM client's cap on requests in flight) are kept busy by
twice as many conversation tasks (``run.extra_conversations``), with no barrier: each takes
the next conversation index, generates it, queues it for commit or drops it, and takes another, until accepted plus
in-flight conversations (queued commits included) reach the target (a slot then waits in
case one in flight drops), the attempt cap is hit, or the token budget is exhausted.
Accepted conversations are written by one writer task (``CommitQueue``: group commit off the
event loop); the run state is checkpointed at most once a second and at the end.

One shard of a distributed language (``Shard``) runs the same way over its own conversation
indices, with its share of the target and the slots, and its own checkpoint. Every read and
write goes through the ``Store`` (file or PostgreSQL); the token budget is the run's shared
counter in the store, synced after every commit group.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

from dlgforge_core.errors import DlgforgeError
from dlgforge_core.generation.budget import BudgetGovernor, add_usage, usage_delta
from dlgforge_core.generation.commit_queue import CommitQueue, Entry
from dlgforge_core.generation.conversation import ConversationDropped, ConversationRun, LanguageContext
from dlgforge_core.generation.guards import GuardTally
from dlgforge_core.generation.language_context import language_context
from dlgforge_core.generation.memory import LoadedMemory, load_memory
from dlgforge_core.generation.progress import Progress, ProgressMeter
from dlgforge_core.generation.run_log import RunLog
from dlgforge_core.generation.shards import Shard
from dlgforge_core.generation.summary import LanguageSummary, judge_mean_and_preview
from dlgforge_core.generation.web_search import WebSearchProvider, WebSearchTool
from dlgforge_core.generation.start import checkpoints_to_start
from dlgforge_core.store.base import Store
from dlgforge_core.store.open import open_store
from dlgforge_core.llm.limiter import held_back
from dlgforge_core.store.outputs import OutputStore
from dlgforge_core.store.run_state import DroppedConversation, LanguageState, utc_now

_CHECKPOINT_EVERY_S = 1.0


async def generate_language(
    cfg: Any,
    language: str,
    llm: Any,
    kb: Any,
    progress: Progress | None = None,
    judge: Any | None = None,
    web_search: WebSearchProvider | None = None,
    shard: Shard = Shard(),
    store: Store | None = None,
) -> LanguageSummary:
    """Generate until ``run.total_samples`` conversations of ``language`` are accepted.

    A no-op (zero LLM calls) when the language is already complete for the run id.
    Raises ``DlgforgeError`` when ``run.resume_run_id`` names a run with no state, or when
    the language was checkpointed with another shard layout.
    With ``retrieval.web_search`` enabled, the responder's web search uses ``web_search``
    (the caller closes it), else a provider built from the config and closed at the end.
    With ``shard``, only that shard's conversations and share of the target.
    ``store``: the caller's (kept open), else the configured one (closed at the end). A whole
    language on a database store ends by writing the output folder from it (the driver's view).
    """
    own = store is None
    store = store or open_store(cfg, prepare=False)
    try:
        run = _LanguageRun(cfg, language, llm, kb, progress, judge, web_search, shard, store)
        summary = await run.execute()
        if shard.whole and store.kind != "file":
            from dlgforge_core.store.view import write_output_view

            await asyncio.to_thread(write_output_view, cfg, store)
        return summary
    finally:
        if own:
            await asyncio.to_thread(store.close)


class _LanguageRun:
    def __init__(
        self,
        cfg: Any,
        language: str,
        llm: Any,
        kb: Any,
        progress: Progress | None,
        judge: Any | None,
        web_search: WebSearchProvider | None = None,
        shard: Shard = Shard(),
        store: Store | None = None,
    ) -> None:
        self.cfg, self.language, self.llm, self.kb = cfg, language, llm, kb
        self.shard = shard
        self.tag = f"{language}{shard.label}"  # how log lines name this run: "en" or "en shard 1/2"
        self.judge = judge
        self._web_provider = web_search
        self.web: WebSearchTool | None = None
        self.run_id: str = cfg.run.resume_run_id or cfg.run.run_id
        self.target: int = shard.share(cfg.run.total_samples)
        self.slots: int = max(1, shard.share(cfg.run.batch_size))
        # conversations in progress: the slots and as many more (``run.extra_conversations``),
        # so a conversation that searches the KB or commits never leaves a request slot idle
        extra = cfg.run.extra_conversations
        self.workers: int = self.slots + (self.slots if extra is None else shard.share(extra))
        self.store: Store = store if store is not None else open_store(cfg, prepare=False)
        # A whole language on a database store is run by the driver: it keeps the output folder
        # in step as it commits (off the event loop), so the view at the end has nothing to redo.
        self.mirror = OutputStore(cfg) if self.store.kind != "file" and shard.whole else None
        self.log = RunLog(cfg.logs_dir, f"{self.run_id}-{language}{shard.suffix}")
        self.accepted = 0
        self.accepted_new = 0
        self.inflight: set[int] = set()
        self.attempts = 0
        self.cap = self.target * cfg.run.max_attempts_factor + self.slots
        self.budget_stop = False
        self.fatal: DlgforgeError | None = None  # a set-up error: every slot stops
        self.budget: BudgetGovernor | None = None
        self.meter = ProgressMeter(self.log, self.tag, progress)
        self._cond = asyncio.Condition()
        self.writer = CommitQueue(
            commit=self._commit,
            on_committed=self._committed, on_failed=self._wake_slots, tick=self._tick,
            limit=self.workers, every_s=_CHECKPOINT_EVERY_S)
        self._foreign_same_language = 0
        self._dirty = False
        self._last_checkpoint = 0.0
        self._last_sync = 0.0

    async def execute(self) -> LanguageSummary:
        try:
            return await self._execute()
        finally:
            await self._close_web_search()
            await asyncio.to_thread(self._close_logs)

    def _close_logs(self) -> None:
        """Close run.log and write the judge lines still buffered (judge.log stays open: other
        languages of this process may still be judging)."""
        from dlgforge_core.judge.logs import flush_judge_logs

        self.log.close()
        flush_judge_logs()

    def _open_web_search(self) -> WebSearchTool | None:
        """The responder's web search tool when enabled (provider given, else built here)."""
        self.web = WebSearchTool.for_run(
            self.cfg, self._web_provider, log=lambda line: self.log.warning("[%s] %s", self.tag, line),
            cache=getattr(self.llm, "response_cache", None))
        return self.web

    async def _close_web_search(self) -> None:
        """Log the web search counts and close the provider this run built."""
        if self.web is None:
            return
        self.log.info("[%s] web search: %d searches, %d failed, %d replayed from the cache",
                      self.tag, self.web.searches, self.web.failures, self.web.replayed)
        await self.web.aclose()

    async def _execute(self) -> LanguageSummary:
        cfg = self.cfg
        await asyncio.to_thread(self.store.prepare)
        checkpoints = await asyncio.to_thread(checkpoints_to_start, self.store, self.run_id, self.language,
                                              self.shard, bool(cfg.run.resume_run_id))
        memory = await asyncio.to_thread(load_memory, self.store, cfg, self.run_id, self.language)
        self.state = next((s for s in checkpoints if s.shard == self.shard.index), None) or LanguageState(
            run_id=self.run_id, language=self.language, target=self.target, started_at=utc_now(),
            shard=self.shard.index, shards=self.shard.count,
        )
        self.state.target = self.target
        self.state.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.guard_tally = GuardTally.from_dict(self.state.guards)
        self.accepted = sum(1 for index in memory.accepted_indices if self.shard.owns(index))
        usage_before = self.llm.usage.by_agent()
        calls_before = self.llm.calls_made
        if self.accepted >= self.target:
            self.log.info("[%s] %s already complete: %d/%d accepted, nothing to do",
                          self.tag, self.run_id, self.accepted, self.target)
            return await self._finish(memory, usage_before, calls_before, status="complete")
        if hasattr(self.llm, "check"):
            await self.llm.check()  # pre-flight: endpoints reachable, keys good (llm/health.py)
        ctx = await self._context(memory)
        self.memory = memory
        memory.accepted_indices |= self.state.dropped_indices()  # one skip set, shared with _admit
        self._indices = self.shard.indices(memory.accepted_indices)
        # The attempt cap is per invocation: drops of an earlier, failed invocation (a dead
        # server, say) must not use up the attempts of the resume.
        self.attempts = self.accepted
        self.budget = BudgetGovernor(cfg.run.budget, {}, self.llm.usage.by_agent,
                                     counter=lambda tokens: self.store.add_usage(self.run_id, tokens))
        await asyncio.to_thread(self.budget.sync)  # the run's spend so far, every shard's
        self.meter.start()
        self.log.info("[%s] run %s: %d/%d accepted at start, batch_size %d, %d conversations in progress",
                      self.tag, self.run_id, self.accepted, self.target, self.slots, self.workers)
        limit_requests = getattr(self.llm, "limit_requests", None)
        if limit_requests is not None:
            limit_requests(self.slots * max(1, cfg.run.candidates_per_turn))
        writer = asyncio.create_task(self.writer.run())
        try:
            await asyncio.gather(*(self._slot(ctx) for _ in range(self.workers)))
            if self.fatal is not None:
                raise self.fatal
        finally:
            if limit_requests is not None:
                limit_requests(None)
            self.writer.close()
            await writer
        if self.accepted >= self.target:
            status = "complete"
        else:
            status = "budget_exhausted" if self.budget_stop else "attempts_exhausted"
        return await self._finish(memory, usage_before, calls_before, status=status)

    async def _context(self, memory: LoadedMemory) -> LanguageContext:
        return await language_context(
            self.cfg, self.language, self.run_id, llm=self.llm, kb=self.kb, judge=self.judge,
            memory=memory, warn=self.log.warning, web_search=self._open_web_search(),
            guard_tally=self.guard_tally,
        )

    # -- slots -----------------------------------------------------------------------

    async def _take(self) -> int | None:
        async with self._cond:
            while True:
                if (self.fatal is not None or self.writer.error is not None
                        or self.accepted >= self.target or self.attempts >= self.cap):
                    return None
                if self.budget.exhausted():
                    if not self.budget_stop:
                        self.log.info("[%s] budget reached (%s, %s tokens spent by the run): no new "
                                      "conversations", self.tag, self.budget.reached, self.budget.spent_at_stop)
                        self.state.budget_spent_at_stop = self.budget.spent_at_stop
                    self.budget_stop = True
                    return None
                if self.accepted + len(self.inflight) < self.target:
                    index = next(self._indices)
                    self.inflight.add(index)
                    self.attempts += 1
                    self.state.next_index = max(self.state.next_index, index + 1)
                    return index
                await self._cond.wait()

    async def _slot(self, ctx: LanguageContext) -> None:
        while (index := await self._take()) is not None:
            conv = ConversationRun(ctx, index)
            try:
                record = await conv.run()
            except ConversationDropped as drop:
                self._record_drop(conv, drop.reason, drop.turn_index)
            except DlgforgeError as err:  # the user's set-up (a bad key, a missing model file)
                self.fatal = self.fatal or err
            except Exception as err:  # a bug in one slot must not abort the run
                self.log.exception("[%s] %s failed: %s", self.tag, conv.cid, type(err).__name__)
                self._record_drop(conv, f"internal_error:{type(err).__name__}", None)
            else:
                await self.writer.put(record, conv, index)
                continue  # the writer releases the index once the commit is durable
            async with self._cond:
                self.inflight.discard(index)
                self._cond.notify_all()

    def _record_drop(self, conv: ConversationRun, reason: str, turn: int | None) -> None:
        self.state.dropped.append(
            DroppedConversation(
                conversation_id=conv.cid, conversation_index=conv.index, reason=reason, turn_index=turn
            )
        )
        self._dirty = True
        self.log.info("[%s] dropped %s reason=%s turn=%s", self.tag, conv.cid, reason, turn)

    # -- commits (called by the writer, see CommitQueue) ---------------------------

    async def _committed(self, batch: list[Entry], committed: list[dict]) -> None:
        """Accept what was committed, drop what another process had, release the indices."""
        ids = {r["conversation_id"] for r in committed}
        for record, conv, _, _ in batch:
            if record["conversation_id"] in ids:
                conv.accept()
            else:
                conv.release()
                self._record_drop(conv, "duplicate_elsewhere", None)
        self.accepted += len(committed) + self._foreign_same_language
        self.accepted_new += len(committed)
        self._foreign_same_language = 0
        self._dirty = True
        async with self._cond:
            self.inflight.difference_update(index for _, _, index, _ in batch)
            self._cond.notify_all()
        self.meter.report(self.accepted, self.accepted_new, self.target)

    async def _wake_slots(self) -> None:
        """The writer failed: slots waiting for work see ``writer.error`` and stop."""
        async with self._cond:
            self._cond.notify_all()

    async def _tick(self) -> None:
        now = time.monotonic()  # with no cap set, the counter only records usage: once a second
        if self.budget.enabled or now - self._last_sync >= _CHECKPOINT_EVERY_S:
            self._last_sync = now
            await asyncio.to_thread(self.budget.sync)
        if self._dirty and time.monotonic() - self._last_checkpoint >= _CHECKPOINT_EVERY_S:
            await self._checkpoint("running")

    def _commit(self, records: list[dict]) -> list[dict]:
        """Writer thread: the store's commit point, then (a database store) the folder's copy."""
        committed = self.store.commit_group(records, self._admit, near_dup=self.memory.near_dup)
        if self.mirror is not None and committed:
            self.mirror.commit_many(committed)
        return committed

    def _admit(self, foreign: list[dict], records: list[dict]) -> list[dict]:
        """Writer thread, under the folder lock: absorb what other processes committed.

        Their questions join the dedup memory; a record of ours that asked one of them (or
        reuses a conversation id another process of the same run committed) is not committed.
        """
        taken: set[str] = set()
        for record in foreign:
            for turn in record.get("turns", []):
                self.memory.dedup.absorb(turn["user_message"])
            if record.get("run_id") == self.run_id and record.get("language") == self.language:
                index = int(record["conversation_index"])
                if index not in self.memory.accepted_indices and self.shard.owns(index):
                    self.memory.accepted_indices.add(index)  # also skipped by the index stream
                    self._foreign_same_language += 1
                taken.add(record["conversation_id"])
        return [
            r for r in records
            if r["conversation_id"] not in taken and not self.memory.dedup.conflicted(r["conversation_id"])
        ]

    async def _checkpoint(self, status: str) -> None:
        self.state.accepted = self.accepted
        self.state.in_flight = sorted(self.inflight)
        self.state.status = status
        self.state.guards = self.guard_tally.as_dict()
        snapshot = self.state.model_copy(deep=True)
        self._dirty = False
        self._last_checkpoint = time.monotonic()
        await asyncio.to_thread(self.store.save_checkpoint, snapshot)

    # -- end -------------------------------------------------------------------------

    async def _finish(
        self, memory: LoadedMemory, usage_before: dict, calls_before: int, status: str
    ) -> LanguageSummary:
        if self.budget is not None:
            await asyncio.to_thread(self.budget.sync)  # the run's counter holds every token spent
        delta = usage_delta(self.llm.usage.by_agent(), usage_before)
        self.state.usage = add_usage(self.state.usage, delta)
        self.state.accepted = self.accepted
        self.state.in_flight = []
        await self._checkpoint(status)
        mean_score, preview = None, None  # a shard's: the driver reads them once for the language
        if self.shard.whole:
            mean_score, preview = await asyncio.to_thread(
                judge_mean_and_preview, self.store, self.run_id, self.language
            )
        summary = LanguageSummary(
            language=self.language,
            run_id=self.run_id,
            target=self.target,
            accepted_total=self.accepted,
            accepted_new=self.accepted_new,
            dropped_by_reason=self.state.dropped_by_reason(),
            usage_by_agent={
                a: {"prompt_tokens": u.get("prompt_tokens", 0), "completion_tokens": u.get("completion_tokens", 0)}
                for a, u in delta.items()
            },
            llm_calls=self.llm.calls_made - calls_before,
            cached_calls=sum(u.get("cached_calls", 0) for u in delta.values()),
            mean_judge_score=mean_score,
            budget_exhausted=self.budget_stop,
            complete=self.accepted >= self.target,
            preview_conversation_id=preview,
            status=status,
            budget_reason=self.budget.reached if self.budget_stop else None,
            guards=self.guard_tally.as_dict() if self.cfg.quality.guards.enabled else {},
            held_back=held_back(getattr(self.llm, "limiters", dict)(), self.slots),
        )
        if self.accepted_new:
            self.meter.report(self.accepted, self.accepted_new, self.target, force=True)
        self.log.info("[%s] %s finished: status=%s accepted=%d/%d new=%d dropped=%s", self.tag, self.run_id,
                      status, self.accepted, self.target, self.accepted_new, summary.dropped_by_reason)
        return summary

