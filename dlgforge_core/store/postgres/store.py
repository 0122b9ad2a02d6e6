"""``PostgresStore``: the ``Store`` protocol on a PostgreSQL database shared by every shard.

The commit point is one transaction per commit group: the group's rows (unique
run/language/index) and their normalized-question hashes (unique within the run) go in with
one statement each; a conversation whose index or question another worker holds is removed
again inside the transaction, and the rest of the group commits. Records are kept as their JSON text (key order preserved).

With a near-dup filter (``coverage.near_dup.enabled``) the commit group also takes the run's
advisory lock, absorbs the signatures other workers committed since the filter last looked (by
``dlg_questions.seq``), leaves out a record whose question is near one of them, and stores each
committed question's MinHash signature beside its hash: two workers never both accept near-duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from dlgforge_core.generation.dedup import question_key
from dlgforge_core.store.atomic import dumps
from dlgforge_core.store.base import Admit, TokensByAgent
from dlgforge_core.store.postgres.connect import (
    check_connection, describe, make_pool, store_errors,
)
from dlgforge_core.store.postgres.schema import migrate
from dlgforge_core.store.run_state import LanguageState, utc_now

_PAGE = 500
_where = store_errors(lambda self: self.where)


_NEAR_DUP_LOCK = 0x6E64  # advisory lock class of a run's near-dup commit groups (with hashtext(run_id))


def _questions(record: dict[str, Any]) -> list[str]:
    return [turn["user_message"] for turn in record.get("turns", [])]


def _hashes(record: dict[str, Any]) -> list[bytes]:
    return list(dict.fromkeys(question_key(q) for q in _questions(record)))


class PostgresStore:
    """``Store`` over ``store.postgres.dsn`` (pool sizes and statement timeout from the config)."""

    kind = "postgres"

    def __init__(self, settings: Any) -> None:
        """``settings``: ``store.postgres`` (dsn, min_pool_size, max_pool_size, statement_timeout_ms)."""
        self.settings = settings
        self.dsn: str = settings.dsn
        self.where = describe(self.dsn)
        self.location = f"the PostgreSQL store at {self.where}"
        self._pool: Any | None = None
        self._watermark = 0  # highest dlg_conversations.seq this process has seen
        self._mine: set[str] = set()  # committed here, not yet passed by the watermark

    @classmethod
    def from_config(cls, cfg: Any) -> PostgresStore:
        return cls(cfg.store.postgres)

    # lifecycle --------------------------------------------------------------------

    def prepare(self) -> None:
        """Pre-flight the server (one line on failure), create or migrate the schema, open the pool."""
        if self._pool is not None:
            return
        s = self.settings
        check_connection(self.dsn, s.statement_timeout_ms)
        self._open(s)

    @_where
    def _open(self, s: Any) -> None:
        self._pool = make_pool(self.dsn, s.min_pool_size, s.max_pool_size, s.statement_timeout_ms)
        with self._pool.connection() as conn:
            migrate(conn, self.where)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _conn(self) -> Any:
        if self._pool is None:
            self.prepare()
        return self._pool.connection()

    # conversations ----------------------------------------------------------------

    @_where
    def memory_records(self, run_id: str) -> Iterator[dict[str, Any]]:
        with self._conn() as conn:
            self._watermark = conn.execute("select coalesce(max(seq), 0) from dlg_conversations").fetchone()[0]
        return self.accepted_records(run_id=run_id)

    @_where
    def near_dup_memory(self, run_id: str, near_dup: Any) -> set[bytes]:
        """Index the run's stored signatures in ``near_dup``; returns their question hashes."""
        with self._conn() as conn:
            rows = conn.execute("select seq, question_hash, near_dup_signature from dlg_questions where run_id = %s "
                                "and near_dup_signature is not null order by seq", (run_id,)).fetchall()
        for seq, _, signature in rows:
            near_dup.absorb_signature(bytes(signature), seq)
        if rows:
            near_dup.store_watermark = max(near_dup.store_watermark, rows[-1][0])
        return {bytes(h) for _, h, _ in rows}

    @_where
    def commit_group(self, records: list[dict[str, Any]], admit: Admit | None = None,
                     near_dup: Any | None = None) -> list[dict[str, Any]]:
        """One transaction: the group's rows, then their question hashes (in one order, so two
        groups never deadlock); a record whose index or question was taken is removed again.

        ``near_dup`` (a ``NearDupFilter``): near-duplicates of other workers' questions are left out."""
        with self._conn() as conn, conn.transaction():
            runs = sorted({r["run_id"] for r in records})
            if near_dup is not None:
                for run_id in runs:  # serializes the run's commit groups: a check sees every earlier one
                    conn.execute("select pg_advisory_xact_lock(%s::int, hashtext(%s))", (_NEAR_DUP_LOCK, run_id))
            if admit is not None:
                records = admit(self._foreign(conn, records), records)
            signatures = None
            if near_dup is not None and records:
                records = self._near_dup_admit(conn, near_dup, runs, records)
                signatures = {q: near_dup.signature(q) for r in records for q in _questions(r)}
            committed, last_seq = self._insert_group(conn, records, signatures) if records else ([], 0)
            if near_dup is not None and last_seq:  # our own rows: indexed here already
                near_dup.store_watermark = max(near_dup.store_watermark, last_seq)
        self._mine.update(r["conversation_id"] for r in committed)
        return committed

    def _near_dup_admit(self, conn: Any, near_dup: Any, runs: list[str],
                        records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Absorb the signatures committed since ``near_dup`` last looked (one query); keep the
        records none of whose questions is near a stored one."""
        rows = conn.execute("select seq, near_dup_signature from dlg_questions where run_id = any(%s) and seq > %s "
                            "and near_dup_signature is not null order by seq",
                            (runs, near_dup.store_watermark)).fetchall()
        for seq, signature in rows:
            near_dup.absorb_signature(bytes(signature), seq)
        if rows:
            near_dup.store_watermark = rows[-1][0]
        return [r for r in records if not any(near_dup.near_stored(q) for q in _questions(r))]

    def _foreign(self, conn: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records of the runs in ``records`` that other processes committed since the last look.

        Sequence numbers are taken before commit, so one committed late may be passed over here:
        this only keeps the caller's dedup memory fresh; the unique keys keep the run exact."""
        runs = sorted({r["run_id"] for r in records})
        if not runs:
            return []
        rows = conn.execute("select seq, conversation_id from dlg_conversations where seq > %s "
                            "and run_id = any(%s) order by seq", (self._watermark, runs)).fetchall()
        if rows:
            self._watermark = rows[-1][0]
        others = [cid for _, cid in rows if cid not in self._mine]
        self._mine.difference_update(cid for _, cid in rows)
        if not others:
            return []
        texts = conn.execute("select record from dlg_conversations where conversation_id = any(%s) order by seq",
                             (others,)).fetchall()
        return [json.loads(text) for (text,) in texts]

    def _insert_group(self, conn: Any, records: list[dict[str, Any]],
                      signatures: dict[str, bytes] | None = None) -> tuple[list[dict[str, Any]], int]:
        """The records committed, and the highest ``dlg_questions.seq`` their rows took."""
        ordered = sorted(records, key=lambda r: r["conversation_id"])
        rows = conn.execute(
            "insert into dlg_conversations (run_id, language, conversation_index, conversation_id, record) "
            "select * from unnest(%s::text[], %s::text[], %s::int[], %s::text[], %s::text[]) "
            "on conflict do nothing returning conversation_id",
            ([r["run_id"] for r in ordered], [r["language"] for r in ordered],
             [int(r["conversation_index"]) for r in ordered], [r["conversation_id"] for r in ordered],
             [dumps(r) for r in ordered])).fetchall()
        inserted = {cid for (cid,) in rows}
        wanted = {r["conversation_id"]: (r["run_id"], _hashes(r)) for r in ordered if r["conversation_id"] in inserted}
        claims = sorted((run_id, h, cid) for cid, (run_id, hashes) in wanted.items() for h in hashes)
        last_seq = 0
        sig_of: dict[bytes, bytes] = {}
        if signatures:
            sig_of = {question_key(q): sig for q, sig in signatures.items()}
        claimed: dict[str, int] = {}
        if claims:
            got = conn.execute(
                "insert into dlg_questions (run_id, question_hash, conversation_id, near_dup_signature) "
                "select * from unnest(%s::text[], %s::bytea[], %s::text[], %s::bytea[]) "
                "on conflict do nothing returning conversation_id, seq",
                ([c[0] for c in claims], [c[1] for c in claims], [c[2] for c in claims],
                 [sig_of.get(c[1]) for c in claims])).fetchall()
            last_seq = max((seq for _, seq in got), default=0)
            for cid, _ in got:
                claimed[cid] = claimed.get(cid, 0) + 1
        taken = [cid for cid, (_, hashes) in wanted.items() if claimed.get(cid, 0) < len(hashes)]
        if taken:  # another conversation of the run holds one of their questions
            conn.execute("delete from dlg_questions where conversation_id = any(%s)", (taken,))
            conn.execute("delete from dlg_conversations where conversation_id = any(%s)", (taken,))
        keep = set(wanted) - set(taken)
        return [r for r in records if r["conversation_id"] in keep], last_seq

    @_where
    def claim_question(self, run_id: str, question: str, conversation_id: str) -> bool:
        with self._conn() as conn:
            row = conn.execute(
                "insert into dlg_questions (run_id, question_hash, conversation_id) values (%s, %s, %s) "
                "on conflict do nothing returning 1", (run_id, question_key(question), conversation_id)).fetchone()
        return row is not None

    def accepted_records(self, run_id: str | None = None, language: str | None = None) -> Iterator[dict[str, Any]]:
        """Pages of records in (run id, language, conversation index) order."""
        after: tuple[str, str, int] = ("", "", -1)
        while True:
            page = self._page(run_id, language, after)
            for key, text in page:
                yield json.loads(text)
                after = key
            if len(page) < _PAGE:
                return

    @_where
    def _page(self, run_id: str | None, language: str | None, after: tuple[str, str, int]) -> list:
        query = ("select run_id, language, conversation_index, record from dlg_conversations "
                 "where (run_id, language, conversation_index) > (%s, %s, %s)")
        params: list[Any] = list(after)
        if run_id is not None:
            query += " and run_id = %s"
            params.append(run_id)
        if language is not None:
            query += " and language = %s"
            params.append(language)
        query += " order by run_id, language, conversation_index limit %s"
        params.append(_PAGE)
        with self._conn() as conn:
            rows = conn.execute(query, params).fetchall()
        return [((r, lang, i), text) for r, lang, i, text in rows]

    @_where
    def replace_records(self, records: Iterable[dict[str, Any]]) -> int:
        count = 0
        with self._conn() as conn, conn.transaction():
            for record in records:
                count += conn.execute("update dlg_conversations set record = %s where conversation_id = %s",
                                      (dumps(record), record["conversation_id"])).rowcount
        return count

    @_where
    def conversation_ids(self) -> set[str]:
        """Every accepted conversation id of the database (all runs)."""
        with self._conn() as conn:
            return {cid for (cid,) in conn.execute("select conversation_id from dlg_conversations")}

    # checkpoints ------------------------------------------------------------------

    @_where
    def has_run(self, run_id: str) -> bool:
        with self._conn() as conn:
            return conn.execute("select 1 from dlg_checkpoints where run_id = %s limit 1", (run_id,)).fetchone() is not None

    @_where
    def states_of(self, run_id: str) -> list[LanguageState]:
        with self._conn() as conn:
            rows = conn.execute("select state from dlg_checkpoints where run_id = %s order by language, shard",
                                (run_id,)).fetchall()
        return [LanguageState.model_validate_json(text) for (text,) in rows]

    @_where
    def of_language(self, run_id: str, language: str) -> list[LanguageState]:
        with self._conn() as conn:
            rows = conn.execute("select state from dlg_checkpoints where run_id = %s and language = %s "
                                "order by shard", (run_id, language)).fetchall()
        return [LanguageState.model_validate_json(text) for (text,) in rows]

    @_where
    def run_ids(self) -> list[str]:
        with self._conn() as conn:
            return [r for (r,) in conn.execute("select distinct run_id from dlg_checkpoints order by run_id")]

    @_where
    def save_checkpoint(self, state: LanguageState) -> None:
        """The checkpoint, its drops and its usage per agent, in one transaction."""
        state.updated_at = utc_now()
        key = (state.run_id, state.language, state.shard)
        with self._conn() as conn, conn.transaction():
            conn.execute(
                "insert into dlg_checkpoints (run_id, language, shard, shards, status, state) "
                "values (%s, %s, %s, %s, %s, %s) on conflict (run_id, language, shard) do update set "
                "shards = excluded.shards, status = excluded.status, state = excluded.state, "
                "updated_at = clock_timestamp()",
                (*key, state.shards, state.status, state.model_dump_json()))
            if state.dropped:
                with conn.cursor() as cur:
                    cur.executemany(
                        "insert into dlg_drops (run_id, language, conversation_index, conversation_id, reason, "
                        "turn_index) values (%s, %s, %s, %s, %s, %s) on conflict do nothing",
                        [(state.run_id, state.language, d.conversation_index, d.conversation_id, d.reason,
                          d.turn_index) for d in state.dropped])
            for agent, usage in state.usage.items():
                conn.execute(
                    "insert into dlg_usage (run_id, language, shard, agent, prompt_tokens, completion_tokens) "
                    "values (%s, %s, %s, %s, %s, %s) on conflict (run_id, language, shard, agent) do update set "
                    "prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens",
                    (*key, agent, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))))

    # usage and budget -------------------------------------------------------------

    @_where
    def add_usage(self, run_id: str, tokens: TokensByAgent) -> TokensByAgent:
        with self._conn() as conn, conn.transaction():
            for agent, value in sorted(tokens.items()):  # one order: no deadlock between shards
                if value:
                    conn.execute("insert into dlg_budget (run_id, agent, tokens) values (%s, %s, %s) "
                                 "on conflict (run_id, agent) do update set tokens = dlg_budget.tokens + "
                                 "excluded.tokens", (run_id, agent, int(value)))
            rows = conn.execute("select agent, tokens from dlg_budget where run_id = %s", (run_id,)).fetchall()
        return {agent: int(value) for agent, value in rows}
