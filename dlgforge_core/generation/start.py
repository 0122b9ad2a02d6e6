"""Checks before a language (or shard) starts, on whichever store holds the run."""

from __future__ import annotations

from typing import Any

from dlgforge_core.errors import DlgforgeError
from dlgforge_core.generation.shards import Shard, check_layout
from dlgforge_core.store.run_state import LanguageState


def checkpoints_to_start(store: Any, run_id: str, language: str, shard: Shard, resuming: bool
                         ) -> list[LanguageState]:
    """The language's checkpoints, once a start may go on: a resumed run must have state, and
    the language keeps the shard count it was checkpointed with."""
    if resuming and not store.has_run(run_id):
        where = getattr(store, "location", None) or "the store"
        raise DlgforgeError(f"run.resume_run_id: no run state for run '{run_id}' in {where}")
    checkpoints = store.of_language(run_id, language)
    check_layout(run_id, language, [c.shards for c in checkpoints], shard)
    return checkpoints
