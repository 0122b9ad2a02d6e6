"""The writer of one language run: group commit of finished conversations, off the event loop.

A slot ``put``s its finished conversation and goes on to the next one at once; one writer
task (``run``) commits whatever has queued up with a single ``commit`` call in a worker
thread, hands the outcome back through ``on_committed``, and calls ``tick`` (the run-state
checkpoint) at least once a second. A slot waits only when more than ``limit``
conversations are queued, so a slow disk slows generation down instead of piling up
records in memory. A failed commit (or tick) fails every queued entry, sets ``error``, calls
``on_failed`` (the engine stops its slots) and is raised by ``run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

# (record, conversation, conversation index, resolved once the commit is durable)
Entry = tuple[dict, Any, int, asyncio.Future]


class CommitQueue:
    """Queued conversations and the writer task that commits them in groups."""

    def __init__(
        self,
        commit: Callable[[list[dict]], list[dict]],
        on_committed: Callable[[list[Entry], list[dict]], Awaitable[None]],
        on_failed: Callable[[], Awaitable[None]],
        tick: Callable[[], Awaitable[None]],
        limit: int,
        every_s: float = 1.0,
    ) -> None:
        """``commit(records)`` runs in a worker thread and returns the records it committed."""
        self._commit = commit
        self._on_committed = on_committed
        self._on_failed = on_failed
        self._tick = tick
        self._limit = limit
        self._every_s = every_s
        self._pending: list[Entry] = []
        self._wake = asyncio.Event()
        self._closing = False
        self.error: BaseException | None = None

    async def put(self, record: dict, conv: Any, index: int) -> None:
        """Queue ``record``; waits for its commit only when the queue is over ``limit``.

        After a failed commit nothing is queued (the writer has stopped: a wait would never
        end); the run ends with ``error``."""
        if self.error is not None:
            return
        done = asyncio.get_running_loop().create_future()
        self._pending.append((record, conv, index, done))
        self._wake.set()
        if len(self._pending) > self._limit:
            await done

    def close(self) -> None:
        """Let ``run`` return once the queue is empty."""
        self._closing = True
        self._wake.set()

    async def run(self) -> None:
        """The writer task: commit queued groups and tick until closed and drained."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._every_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._commit_batch(batch)
            try:
                await self._tick()
            except BaseException as err:  # a checkpoint the store refused: stop like a failed commit
                await self._fail(err, [])
                raise
            if self._closing and not self._pending:
                return

    async def _commit_batch(self, batch: list[Entry]) -> None:
        try:
            committed = await asyncio.to_thread(self._commit, [record for record, *_ in batch])
        except BaseException as err:
            await self._fail(err, batch)
            raise
        await self._on_committed(batch, committed)
        for *_, done in batch:
            done.set_result(None)

    async def _fail(self, err: BaseException, batch: list[Entry]) -> None:
        self.error = err
        for *_, done in batch + self._pending:  # queued ones will never be committed
            if not done.done():
                done.set_exception(err)
                done.exception()  # retrieved: nobody may be waiting on it
        self._pending = []
        await self._on_failed()
