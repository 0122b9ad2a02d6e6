"""Run state checkpoints: ``run_state/<run_id>-<language>.json`` plus a run-level index.

The checkpoint records how far a language got (next conversation index, indices that
were in flight, dropped conversations with their reasons, usage, status). Accepted
conversations are not listed here: ``synthetic_qa.jsonl`` is their source of truth.
A language split into shards (``run.distributed``) has one checkpoint per shard,
``<run_id>-<language>.shard-<s>-of-<S>.json``; the run index sums them per language.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from dlgforge_core.generation.shards import Shard
from dlgforge_core.store.atomic import read_json, write_json_atomic

Status = Literal["running", "complete", "budget_exhausted", "attempts_exhausted", "failed"]


class DroppedConversation(BaseModel):
    """One conversation that was not accepted, and why."""

    conversation_id: str
    conversation_index: int
    reason: str
    turn_index: int | None = None


class LanguageState(BaseModel):
    """Checkpoint of one language (or of one shard of it) of one run."""

    run_id: str
    language: str
    target: int
    shard: int = 0
    shards: int = 1
    accepted: int = 0
    next_index: int = 0
    in_flight: list[int] = Field(default_factory=list)
    dropped: list[DroppedConversation] = Field(default_factory=list)
    usage: dict[str, dict[str, int]] = Field(default_factory=dict)
    guards: dict[str, Any] = Field(default_factory=dict)  # GuardTally.as_dict(): what the reply guards did
    status: Status = "running"
    budget_spent_at_stop: int | None = None  # the run's tokens when this one hit the budget
    worker: str = ""  # host:pid of the process that wrote this checkpoint last
    started_at: str = ""
    updated_at: str = ""

    @property
    def shard_of(self) -> Shard:
        return Shard(self.shard, self.shards)

    def dropped_indices(self) -> set[int]:
        """Indices of dropped conversations (never retried: a retry would replay the same calls)."""
        return {d.conversation_index for d in self.dropped}

    def dropped_by_reason(self) -> dict[str, int]:
        """Count of dropped conversations per drop reason."""
        counts: dict[str, int] = {}
        for d in self.dropped:
            counts[d.reason] = counts.get(d.reason, 0) + 1
        return counts


def utc_now() -> str:
    """UTC timestamp in the records' format (``2026-11-22T10:00:00Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunStateStore:
    """Reads and writes the checkpoints under ``<output_dir>/run_state``."""

    def __init__(self, output_dir: Path) -> None:
        self.dir = Path(output_dir) / "run_state"

    def language_path(self, run_id: str, language: str, shard: Shard = Shard()) -> Path:
        return self.dir / f"{run_id}-{language}{shard.suffix}.json"

    def run_path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.json"

    def load(self, run_id: str, language: str, shard: Shard = Shard()) -> LanguageState | None:
        """The checkpoint of one language (or shard), or None when the run never started it."""
        path = self.language_path(run_id, language, shard)
        if not path.exists():
            return None
        return LanguageState.model_validate(read_json(path))

    def of_language(self, run_id: str, language: str) -> list[LanguageState]:
        """Every checkpoint of one language of ``run_id``: the whole language's, or its shards'."""
        return [s for s in self._all_states() if s.run_id == run_id and s.language == language]

    def has_run(self, run_id: str) -> bool:
        """True when any language of ``run_id`` has a checkpoint."""
        return any(state.run_id == run_id for state in self._all_states())

    def states_of(self, run_id: str) -> list[LanguageState]:
        """Checkpoints of every language of ``run_id``."""
        return [state for state in self._all_states() if state.run_id == run_id]

    def save(self, state: LanguageState) -> None:
        """Write one language's checkpoint atomically, then refresh the run-level index."""
        state.updated_at = utc_now()
        path = self.language_path(state.run_id, state.language, state.shard_of)
        write_json_atomic(path, state.model_dump())
        self._write_run_index(state.run_id)

    def _all_states(self) -> list[LanguageState]:
        if not self.dir.exists():
            return []
        states = []
        for path in sorted(self.dir.glob("*-*.json")):
            try:
                states.append(LanguageState.model_validate(read_json(path)))
            except (ValueError, OSError):
                continue  # quality_gates.json and other files that are not checkpoints
        return states

    def _write_run_index(self, run_id: str) -> None:
        by_language: dict[str, list[LanguageState]] = {}
        for state in self.states_of(run_id):
            by_language.setdefault(state.language, []).append(state)
        languages = {lang: self._index_entry(states) for lang, states in by_language.items()}
        write_json_atomic(self.run_path(run_id), {"run_id": run_id, "languages": languages, "updated_at": utc_now()})

    def _index_entry(self, states: list[LanguageState]) -> dict[str, Any]:
        """One language of the run index: its checkpoint, or its shards' summed."""
        statuses = [s.status for s in states]
        entry: dict[str, Any] = {
            "status": next((st for st in statuses if st != "complete"), "complete"),
            "accepted": sum(s.accepted for s in states),
            "target": sum(s.target for s in states),
            "next_index": max(s.next_index for s in states),
            "dropped": sum(len(s.dropped) for s in states),
        }
        files = [self.language_path(s.run_id, s.language, s.shard_of).name for s in states]
        if len(states) == 1 and states[0].shards == 1:
            entry["file"] = files[0]
        else:
            entry["shards"] = states[0].shards
            entry["files"] = files
        return entry
