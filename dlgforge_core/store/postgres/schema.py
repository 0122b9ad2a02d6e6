"""The PostgreSQL store's schema: created and migrated on first use, its version recorded.

``MIGRATIONS[v]`` brings a database from version ``v - 1`` to ``v``. Every start takes a
transaction-scoped advisory lock, so two shards starting at once migrate once. A database whose
recorded version is newer than ``SCHEMA_VERSION`` belongs to a newer dlgforge: refused.
"""

from __future__ import annotations

from typing import Any

from dlgforge_core.errors import StoreError

_LOCK_KEY = 0x646C67666F726765  # "dlgforge": the advisory lock that serializes migrations

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """create table dlg_conversations (
               seq bigserial primary key,
               run_id text not null,
               language text not null,
               conversation_index integer not null,
               conversation_id text not null unique,
               record text not null,
               committed_at timestamptz not null default clock_timestamp(),
               unique (run_id, language, conversation_index))""",
        """create table dlg_questions (
               run_id text not null,
               question_hash bytea not null,
               conversation_id text not null,
               near_dup_signature bytea,
               primary key (run_id, question_hash))""",
        """create table dlg_checkpoints (
               run_id text not null,
               language text not null,
               shard integer not null,
               shards integer not null,
               status text not null,
               state text not null,
               updated_at timestamptz not null default clock_timestamp(),
               primary key (run_id, language, shard))""",
        """create table dlg_drops (
               run_id text not null,
               language text not null,
               conversation_index integer not null,
               conversation_id text not null,
               reason text not null,
               turn_index integer,
               primary key (run_id, language, conversation_index))""",
        """create table dlg_usage (
               run_id text not null,
               language text not null,
               shard integer not null,
               agent text not null,
               prompt_tokens bigint not null,
               completion_tokens bigint not null,
               primary key (run_id, language, shard, agent))""",
        """create table dlg_budget (
               run_id text not null,
               agent text not null,
               tokens bigint not null,
               primary key (run_id, agent))""",
    ],
    2: [  # near-dup signatures read by id: what other workers committed since a shard last looked
        "alter table dlg_questions add column seq bigserial",
        """create index dlg_questions_signatures on dlg_questions (run_id, seq)
               where near_dup_signature is not null""",
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)


def migrate(conn: Any, where: str) -> int:
    """Create or migrate the schema in one transaction; returns the version now recorded.

    Raises ``StoreError`` (one line) when the database holds a newer schema than this code."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute("""create table if not exists dlg_schema (
                            version integer primary key,
                            applied_at timestamptz not null default now())""")
        current = conn.execute("select coalesce(max(version), 0) from dlg_schema").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"store.postgres.dsn: the database at {where} holds dlgforge store schema version "
                f"{current}, newer than this dlgforge knows ({SCHEMA_VERSION}); upgrade dlgforge "
                "or use another database")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute("insert into dlg_schema (version) values (%s)", (version,))
    return SCHEMA_VERSION
