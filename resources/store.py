"""The output-store resource: the output folder contract of `saving.output_dir`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dlgforge_core.config import DlgforgeConfig
    from dlgforge_core.store.outputs import OutputStore


class StoreResource(dg.ConfigurableResource):
    """Opens the `OutputStore` (accepted records, derived files, run state)."""

    def open(self, cfg: DlgforgeConfig) -> OutputStore:
        """The output store of `cfg`."""
        from dlgforge_core.store.outputs import OutputStore

        return OutputStore(cfg)
