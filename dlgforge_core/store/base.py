"""The ``Store`` protocol: what the engine, the judge and the export need from where data lives.

Two implementations: ``FileStore`` (the output folder; the default on one machine) and
``PostgresStore`` (a database every shard of a cluster reaches). Both hold the same data:
accepted conversations (committed in groups, each exactly once), the dedup index of
normalized questions, drops with their reasons (inside the checkpoints), shard checkpoints,
token usage per agent and the run's shared token budget counter. Nothing here knows the
engine: shard layouts and slot logic live in ``dlgforge_core.generation``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from dlgforge_core.store.run_state import LanguageState

# admit(foreign, records) -> records to commit: ``foreign`` are the records other processes
# committed since this one last looked (their questions join the caller's dedup memory).
Admit = Callable[[list[dict[str, Any]], list[dict[str, Any]]], list[dict[str, Any]]]
TokensByAgent = dict[str, int]


@runtime_checkable
class Store(Protocol):
    """Accepted conversations, dedup index, checkpoints, usage and budget of runs."""

    kind: str  # "file" or "postgres"

    def prepare(self) -> None:
        """Make the store usable (repair a crashed folder; create or migrate the schema)."""

    def close(self) -> None:
        """Release connections (idempotent)."""

    # conversations ----------------------------------------------------------------

    def memory_records(self, run_id: str) -> Iterator[dict[str, Any]]:
        """The accepted records whose questions a run must not ask again (the dedup scope);
        records committed by others after this call are handed to ``admit`` at commit time."""

    def commit_group(self, records: list[dict[str, Any]], admit: Admit | None = None,
                     near_dup: Any | None = None) -> list[dict[str, Any]]:
        """Accept ``records`` in one atomic group; returns those committed. A record whose
        conversation index or normalized question the run already holds is not committed.
        ``near_dup``: the shard's near-dup filter (PostgreSQL: signatures stored and shared)."""

    def claim_question(self, run_id: str, question: str, conversation_id: str) -> bool:
        """Claim one normalized question for ``conversation_id``: False when the run has it."""

    def accepted_records(self, run_id: str | None = None, language: str | None = None) -> Iterator[dict[str, Any]]:
        """Accepted records in conversation order, optionally of one run and/or language."""

    def replace_records(self, records: Iterable[dict[str, Any]]) -> int:
        """Replace accepted records by conversation id (the offline judge's write)."""

    # checkpoints ------------------------------------------------------------------

    def has_run(self, run_id: str) -> bool:
        """True when any language of ``run_id`` has a checkpoint."""

    def states_of(self, run_id: str) -> list[LanguageState]:
        """Checkpoints of every language (and shard) of ``run_id``."""

    def of_language(self, run_id: str, language: str) -> list[LanguageState]:
        """Checkpoints of one language of ``run_id``."""

    def save_checkpoint(self, state: LanguageState) -> None:
        """Write one language's (or shard's) checkpoint, its drops and usage included."""

    # usage and budget -------------------------------------------------------------

    def add_usage(self, run_id: str, tokens: TokensByAgent) -> TokensByAgent:
        """Add ``tokens`` (prompt + completion per agent) to the run's shared counter,
        atomically, and return the run's totals per agent after the addition."""
