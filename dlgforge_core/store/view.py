"""The output folder as a view of a database store, written by the driver.

With ``store.backend: postgres`` shards write only to the database; the driver rewrites
``saving.output_dir`` from it (records, conversation files, turns, coverage ledger, ShareGPT
files, run state) so every export and check reads the same files as with the file store.
"""

from __future__ import annotations

from typing import Any

from dlgforge_core.store.outputs import OutputStore
from dlgforge_core.store.run_state import RunStateStore


def write_output_view(cfg: Any, store: Any) -> int:
    """Rewrite the output folder from ``store``; returns the number of records written.

    A no-op for the file store (the folder is the store)."""
    if store.kind == "file":
        return 0
    outputs = OutputStore(cfg)
    count = outputs.replace_records(store.accepted_records())
    outputs.reconcile()  # conversation files of records the store no longer holds go away
    states = RunStateStore(cfg.output_dir)
    for run_id in store.run_ids():
        for state in store.states_of(run_id):
            states.save(state.model_copy())
    return count
