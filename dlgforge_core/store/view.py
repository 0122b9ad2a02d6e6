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
    """Make the output folder equal to ``store``; returns the number of records it holds.

    The records are rewritten unless the folder already holds exactly the store's
    conversations (the driver's engine appends each commit group to it as it goes); the run
    state is always rewritten. A no-op for the file store (the folder is the store)."""
    if store.kind == "file":
        return 0
    outputs = OutputStore(cfg)
    report = outputs.reconcile()  # torn tails repaired, derived files in step with the records
    folder = [r["conversation_id"] for r in outputs.accepted_records()]
    held = store.conversation_ids()
    if len(folder) == len(held) and set(folder) == held:  # kept in step while committing
        count = report.committed
    else:
        count = outputs.replace_records(store.accepted_records())
        outputs.reconcile()  # conversation files of records the store no longer holds go away
    states = RunStateStore(cfg.output_dir)
    for run_id in store.run_ids():
        for state in store.states_of(run_id):
            states.save(state.model_copy())
    return count
