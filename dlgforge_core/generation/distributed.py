"""Distributed generation: the shards of one language run as Ray tasks on one store.

``run.distributed.shards_per_language: S`` splits a language into S shards (see ``Shard``),
each a Ray task in its own worker process with its own event loop, LLM client and KB index
handle. At most ``run.distributed.num_workers`` shards of a language run at once, all on one
``Store``: the token budget is one counter they all spend from, and dedup stays exact across
them (the file store: the folder's lock; PostgreSQL: unique keys).

With the file store the shards share the output folder, which (with the KB index) must be
on a filesystem every Ray node sees. With PostgreSQL nothing is shared but the database: the
driver sends the config and the built KB index through Ray's object store, each shard writes
only to the database, and the driver writes the output folder from it once the shards are
done. A shard whose worker dies is retried by Ray and resumes from its checkpoint, repeating
nothing accepted. Ray is reached at ``ray.address``, or a local runtime is started with
``ray.num_cpus`` CPUs; one already initialized (the Dagster ``ray`` resource) is used as is.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from dlgforge_core.errors import DlgforgeError
from dlgforge_core.generation.budget import add_usage
from dlgforge_core.generation.engine import generate_language
from dlgforge_core.generation.progress import Progress
from dlgforge_core.generation.guards import merge_tallies
from dlgforge_core.generation.ray_runtime import connect_ray
from dlgforge_core.generation.shard_payload import open_sandbox, pack_dir
from dlgforge_core.generation.shards import Shard, all_shards
from dlgforge_core.generation.start import checkpoints_to_start
from dlgforge_core.generation.summary import LanguageSummary, judge_mean_and_preview
from dlgforge_core.store.base import Store
from dlgforge_core.store.open import open_store

_POLL_S = 1.0
_WORKER_RETRIES = 3  # a shard whose worker process dies runs again (it resumes its checkpoint)
_WATCH_DRIVER_S = 0.2
_watched_drivers: set[int] = set()  # per worker process (Ray reuses workers for later shards)
# The first status that is not "complete" names a merged language (a shard that ran out of
# budget says more than one that ran out of attempts).
_STATUS_ORDER = ("budget_exhausted", "attempts_exhausted", "failed", "running", "complete")


class ShardFailed(RuntimeError):
    """A shard's worker failed for a reason other than the user's input (a bug, a dead worker)."""


def run_language_distributed(cfg: Any, language: str, progress: Progress | None = None,
                             echo: Callable[[str], Any] | None = None,
                             ray_connection: Callable[[], None] | None = None) -> LanguageSummary:
    """Run every shard of ``language`` on Ray and merge their summaries into the language's.

    Shards that are already complete return at once with zero LLM calls, so a resume re-runs
    only the unfinished ones. Every shard is waited for before an error is raised: the user's
    error (``DlgforgeError``) as it is, anything else as ``ShardFailed`` naming the shard.
    ``ray_connection`` makes Ray ready (the Dagster ``ray`` resource's); by default
    ``connect_ray`` reaches ``ray.address`` or starts a local runtime.
    """
    store = open_store(cfg)  # a bad DSN or an unreachable server: one line, before Ray starts
    try:
        return _run_on_store(cfg, language, store, progress, echo, ray_connection or (lambda: connect_ray(cfg)))
    finally:
        store.close()


def _run_on_store(cfg: Any, language: str, store: Store, progress: Progress | None,
                  echo: Callable[[str], Any] | None, ray_connection: Callable[[], None]) -> LanguageSummary:
    import ray

    shards = all_shards(cfg.run.distributed.shards_per_language)
    checkpoints_to_start(  # the user's mistakes, before Ray starts
        store, cfg.run.resume_run_id or cfg.run.run_id, language, shards[0], bool(cfg.run.resume_run_id))
    ray_connection()
    task = ray.remote(num_cpus=1, max_retries=_WORKER_RETRIES)(run_shard)
    driver = (socket.gethostname(), os.getpid())
    index = None if store.kind == "file" else ray.put(pack_dir(cfg.index_dir))
    waiting, running = list(shards), {}
    summaries: list[LanguageSummary] = []
    errors: list[BaseException] = []
    watch = _ProgressWatch(cfg, language, store, progress)
    if echo is not None:
        echo(f"[{language}] {len(shards)} shards on Ray, at most "
             f"{cfg.run.distributed.num_workers} at once")
    try:
        while waiting or running:
            while waiting and len(running) < cfg.run.distributed.num_workers:
                shard = waiting.pop(0)
                running[task.remote(cfg, language, shard, driver, index)] = shard
            done, _ = ray.wait(list(running), num_returns=1, timeout=_POLL_S)
            for ref in done:
                shard = running.pop(ref)
                try:
                    summaries.append(ray.get(ref))
                except Exception as err:  # noqa: BLE001 - classified below, raised after the rest
                    errors.append(_shard_error(err, language, shard))
            watch.report()
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
    if errors:
        raise errors[0]
    summary = _merge(cfg, language, store, summaries)
    if store.kind != "file":
        from dlgforge_core.store.view import write_output_view

        write_output_view(cfg, store)
    return summary


def run_shard(cfg: Any, language: str, shard: Shard, driver: tuple[str, int],
              index: bytes | None = None) -> LanguageSummary:
    """One shard, in a Ray worker: its own KB handle, and an LLM client holding the shard's share
    of ``llm.max_inflight``. With ``index`` (a database store) the shard runs in a scratch
    folder of its node holding that KB index, and writes only to the database.

    A worker on the driver's host exits when the driver dies (a kill -9 of ``dlgforge run``):
    Ray would let it run on for seconds, long enough to race the resume. The shard's
    checkpoint and the folder's commits make that exit a safe crash."""
    host, pid = driver
    if host == socket.gethostname() and pid not in _watched_drivers:
        _watched_drivers.add(pid)
        threading.Thread(target=_exit_with_driver, args=(pid,), daemon=True, name="driver-watch").start()
    from dlgforge_core.kb import KnowledgeBase
    from dlgforge_core.llm.client import LLMClient

    sandbox = None
    kb_cfg = cfg
    if index is not None:
        sandbox = open_sandbox(cfg, index)
        cfg, kb_cfg = sandbox.cfg, sandbox.kb_cfg
    kb = KnowledgeBase(kb_cfg)

    async def _main() -> LanguageSummary:
        client = LLMClient(cfg, log_dir=cfg.logs_dir,
                           max_inflight=max(1, shard.share(cfg.llm.max_inflight)))
        try:
            return await generate_language(cfg, language, llm=client, kb=kb, shard=shard)
        finally:
            await client.aclose()

    try:
        return asyncio.run(_main())
    finally:
        if sandbox is not None:
            sandbox.remove()


def _exit_with_driver(pid: int) -> None:
    while True:
        time.sleep(_WATCH_DRIVER_S)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            continue  # alive, owned by another user


def _shard_error(err: BaseException, language: str, shard: Shard) -> BaseException:
    """The user's error of a shard as its own class; anything else as ``ShardFailed``."""
    cause = getattr(err, "cause", None) or err
    if isinstance(cause, DlgforgeError):
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        try:
            return type(cause)(message)
        except TypeError:
            return DlgforgeError(message)
    detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return ShardFailed(f"[{language}{shard.label}] failed: {type(cause).__name__}: {detail}".rstrip(": "))


def _merge(cfg: Any, language: str, store: Store, parts: list[LanguageSummary]) -> LanguageSummary:
    """One language's summary from its shards' (the judge mean and preview over the language)."""
    usage: dict[str, dict[str, int]] = {}
    dropped: dict[str, int] = {}
    for part in parts:
        usage = add_usage(usage, part.usage_by_agent)
        for reason, count in part.dropped_by_reason.items():
            dropped[reason] = dropped.get(reason, 0) + count
    run_id = parts[0].run_id if parts else (cfg.run.resume_run_id or cfg.run.run_id)
    statuses = {part.status for part in parts}
    status = next(st for st in _STATUS_ORDER if st in statuses or st == "complete")
    mean, preview = judge_mean_and_preview(store, run_id, language)
    accepted = sum(part.accepted_total for part in parts)
    return LanguageSummary(
        language=language,
        run_id=run_id,
        target=sum(part.target for part in parts),
        accepted_total=accepted,
        accepted_new=sum(part.accepted_new for part in parts),
        dropped_by_reason=dropped,
        usage_by_agent=usage,
        llm_calls=sum(part.llm_calls for part in parts),
        cached_calls=sum(part.cached_calls for part in parts),
        mean_judge_score=mean,
        budget_exhausted=any(part.budget_exhausted for part in parts),
        complete=all(part.complete for part in parts),
        preview_conversation_id=preview,
        status=status,
        budget_reason=next((part.budget_reason for part in parts if part.budget_reason), None),
        guards=merge_tallies(part.guards for part in parts),
        held_back=next((part.held_back for part in parts if part.held_back), None),
    )


class _ProgressWatch:
    """Progress of a distributed language, read from its shards' checkpoints (written at most
    once a second by each shard)."""

    def __init__(self, cfg: Any, language: str, store: Store, progress: Progress | None) -> None:
        self.states = store
        self.run_id = cfg.run.resume_run_id or cfg.run.run_id
        self.language, self.target, self.progress = language, cfg.run.total_samples, progress
        self._started = time.monotonic()
        self._first = self._last = self._accepted()

    def _accepted(self) -> int:
        return sum(s.accepted for s in self.states.of_language(self.run_id, self.language))

    def report(self) -> None:
        """Report when the shards' checkpoints show more accepted conversations than before."""
        if self.progress is None:
            return
        accepted = self._accepted()
        if accepted <= self._last:
            return
        self._last = accepted
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = (accepted - self._first) / elapsed
        eta = (self.target - accepted) / rate if rate > 0 else None
        self.progress(min(accepted, self.target), self.target, rate, eta)
