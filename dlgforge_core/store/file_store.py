"""The file store: the output folder of today behind the ``Store`` protocol.

Accepted records are ``synthetic_qa.jsonl`` (``OutputStore``), checkpoints are
``run_state/*.json`` (``RunStateStore``; drops and usage live inside them). The dedup scope is
the whole folder. The run's token counter is in memory for one process, seeded from the
checkpoints; shards of a distributed run share ``run_state/<run_id>.budget.json`` under a lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dlgforge_core.generation.dedup import question_key
from dlgforge_core.store.atomic import write_json_atomic
from dlgforge_core.store.base import Admit, TokensByAgent
from dlgforge_core.store.locks import exclusive_lock
from dlgforge_core.store.outputs import OutputStore
from dlgforge_core.store.run_state import LanguageState, RunStateStore


def _checkpoint_tokens(states: list[LanguageState]) -> TokensByAgent:
    totals: TokensByAgent = {}
    for state in states:
        for agent, usage in state.usage.items():
            spent = int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
            totals[agent] = totals.get(agent, 0) + spent
    return totals


def _added(totals: TokensByAgent, tokens: TokensByAgent) -> TokensByAgent:
    out = dict(totals)
    for agent, value in tokens.items():
        out[agent] = out.get(agent, 0) + int(value)
    return out


class FileStore:
    """``Store`` over ``saving.output_dir``."""

    kind = "file"

    def __init__(self, cfg: Any, shared_budget: bool | None = None) -> None:
        self.outputs = OutputStore(cfg)
        self.states = RunStateStore(cfg.output_dir)
        self.root = Path(cfg.output_dir)
        self.location = str(self.states.dir)
        # A distributed run's shards count their spend in one locked file; one process in memory.
        self._shared_budget = cfg.run.distributed.enabled if shared_budget is None else shared_budget
        self._counters: dict[str, TokensByAgent] = {}

    def prepare(self) -> None:
        self.outputs.reconcile()

    def close(self) -> None:
        return None

    def path(self, name: str) -> Path:
        return self.outputs.path(name)

    # conversations ----------------------------------------------------------------

    def memory_records(self, run_id: str) -> Iterator[dict[str, Any]]:
        return self.outputs.memory_records(run_id)  # later appends are absorbed at commit time

    def commit_group(self, records: list[dict[str, Any]], admit: Admit | None = None,
                     near_dup: Any | None = None) -> list[dict[str, Any]]:
        return self.outputs.commit_many(records, admit)  # near-dup memory stays the shard's own

    def claim_question(self, run_id: str, question: str, conversation_id: str) -> bool:
        """Claims live in ``run_state/<run_id>.questions.jsonl`` under the folder's lock."""
        path = self.states.dir / f"{run_id}.questions.jsonl"
        key = question_key(question).hex()
        with exclusive_lock(path.with_suffix(".lock")):
            if path.exists():
                for line in path.read_text(encoding="utf-8").splitlines():
                    if line.strip() and json.loads(line)["key"] == key:
                        return False
            if any(question_key(turn["user_message"]).hex() == key
                   for record in self.outputs.accepted_records(run_id=run_id) for turn in record["turns"]):
                return False
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"key": key, "conversation_id": conversation_id}) + "\n")
        return True

    def accepted_records(self, run_id: str | None = None, language: str | None = None) -> Iterator[dict[str, Any]]:
        return self.outputs.accepted_records(run_id=run_id, language=language)

    def replace_records(self, records: Iterable[dict[str, Any]]) -> int:
        return self.outputs.replace_records(records)

    # checkpoints ------------------------------------------------------------------

    def has_run(self, run_id: str) -> bool:
        return self.states.has_run(run_id)

    def states_of(self, run_id: str) -> list[LanguageState]:
        return self.states.states_of(run_id)

    def of_language(self, run_id: str, language: str) -> list[LanguageState]:
        return self.states.of_language(run_id, language)

    def save_checkpoint(self, state: LanguageState) -> None:
        self.states.save(state)

    # usage and budget -------------------------------------------------------------

    def add_usage(self, run_id: str, tokens: TokensByAgent) -> TokensByAgent:
        if not self._shared_budget:
            if run_id not in self._counters:
                self._counters[run_id] = _checkpoint_tokens(self.states.states_of(run_id))
            self._counters[run_id] = _added(self._counters[run_id], tokens)
            return dict(self._counters[run_id])
        path = self.states.dir / f"{run_id}.budget.json"
        with exclusive_lock(path.with_suffix(".lock")):
            if path.exists():
                totals = {k: int(v) for k, v in json.loads(path.read_text(encoding="utf-8"))["tokens"].items()}
            else:
                totals = _checkpoint_tokens(self.states.states_of(run_id))
            totals = _added(totals, tokens)
            if tokens or not path.exists():
                write_json_atomic(path, {"run_id": run_id, "tokens": totals})
        return totals
