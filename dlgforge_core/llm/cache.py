"""Content-addressed cache of validated replies, in SQLite (WAL), off the event loop.

The key hashes everything that shapes a reply: agent, model, sampling parameters, messages,
the reply schema and the caller's ``cache_key`` (conversation slot + attempt, so a retry after
a duplicate question is a new request). A hit replays the stored reply at zero token cost.
The same file keeps the responder's web search results (``web_results``, keyed by provider,
endpoint, result count and query), so a replayed run also shows the model the same web
results without searching again. All SQLite work runs on one dedicated thread, which also
serialises access to the connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_FILE = "llm_cache.sqlite3"
log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reasoning (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS web_results (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    results TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class CachedReply:
    """A stored reply (validated JSON text), the tokens it originally cost and the model's
    reasoning text, if the endpoint returned one (kept in the ``reasoning`` table)."""

    reply: str
    prompt_tokens: int
    completion_tokens: int
    reasoning: str | None = None


def request_key(agent: str, model: str, params: tuple[Any, ...],
                messages: list[dict[str, str]], schema_hash: str,
                cache_key: str | None) -> str:
    """The sha256 that addresses one request in the cache."""
    payload = json.dumps([agent, model, params, schema_hash, cache_key, messages],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def web_search_key(provider: str, endpoint: str, k: int, query: str) -> str:
    """The sha256 that addresses one web search's results in the cache."""
    payload = json.dumps(["web_search", provider, endpoint, k, query], ensure_ascii=False,
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def request_seed(run_seed: int, cache_key: str | None) -> int | None:
    """A sampling seed per slot and attempt (from ``run.seed`` and the cache key), so a
    re-run sends the same requests; None without a cache key."""
    if cache_key is None:
        return None
    digest = hashlib.sha256(f"{run_seed}:{cache_key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class ResponseCache:
    """The on-disk cache under ``directory`` (created on first use)."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / CACHE_FILE
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-cache")
        self._conn: sqlite3.Connection | None = None
        self._warned = False

    async def get(self, key: str) -> CachedReply | None:
        """The stored reply for ``key``, or None."""
        return await self._run(self._get, key)

    async def put(self, key: str, agent: str, model: str, reply: CachedReply) -> None:
        """Store a validated reply (last writer wins)."""
        await self._run(self._put, key, agent, model, reply)

    async def get_web_results(self, key: str) -> str | None:
        """The stored web search results (JSON text) for ``key``, or None."""
        row = await self._run(self._fetch, "SELECT results FROM web_results WHERE key = ?", (key,))
        return row[0] if row else None

    async def put_web_results(self, key: str, provider: str, results: str) -> None:
        """Store one web search's results (JSON text)."""
        await self._run(self._store, ("INSERT OR REPLACE INTO web_results VALUES (?, ?, ?, ?)",
                                      (key, provider, results, time.time())))

    async def aclose(self) -> None:
        """Close the connection and stop the cache thread."""
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            conn.commit()
            self._conn = conn
        return self._conn

    def _get(self, key: str) -> CachedReply | None:
        row = self._fetch("SELECT r.reply, r.prompt_tokens, r.completion_tokens, t.text FROM replies r "
                          "LEFT JOIN reasoning t ON t.key = r.key WHERE r.key = ?", (key,))
        return CachedReply(*row) if row else None

    def _put(self, key: str, agent: str, model: str, reply: CachedReply) -> None:
        """The reply and its reasoning in one transaction (a reply without reasoning removes
        what an earlier reply under the same key left)."""
        statements = [("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (key, agent, model, reply.reply, reply.prompt_tokens, reply.completion_tokens,
                        time.time())),
                      ("INSERT OR REPLACE INTO reasoning VALUES (?, ?)", (key, reply.reasoning))
                      if reply.reasoning else ("DELETE FROM reasoning WHERE key = ?", (key,))]
        self._store(*statements)

    def _fetch(self, sql: str, args: tuple[Any, ...]) -> tuple | None:
        try:
            return self._connection().execute(sql, args).fetchone()
        except (sqlite3.Error, OSError) as err:
            self._degrade(err)
            return None

    def _store(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        """Run ``(sql, args)`` statements in one transaction."""
        try:
            conn = self._connection()
            for sql, args in statements:
                conn.execute(sql, args)
            conn.commit()
        except (sqlite3.Error, OSError) as err:
            self._degrade(err)

    def _degrade(self, err: Exception) -> None:
        """A broken cache must not fail the run: warn once, then work without it."""
        if not self._warned:
            self._warned = True
            log.warning("LLM cache %s unusable (%s): continuing without replay", self.path,
                        type(err).__name__)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
