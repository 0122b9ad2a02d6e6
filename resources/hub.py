"""The Hugging Face Hub resource: the push token, from the environment only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dlgforge_core.config import DlgforgeConfig
    from dlgforge_core.export import ExportResult, PushResult


class HubResource(dg.ConfigurableResource):
    """Pushes a prepared export to the Hub.

    `token` is bound to `dg.EnvVar("HF_TOKEN")` in Definitions, so it is never stored in
    run config or logs; the core push reads the same variable.
    """

    token: str | None = None

    def push(self, cfg: DlgforgeConfig, result: ExportResult) -> PushResult:
        """Upload the export folder in one commit."""
        from dlgforge_core.errors import ExportError
        from dlgforge_core.export import push_export

        if not self.token:
            raise ExportError("HF_TOKEN: not set in the environment; it is required to push")
        return push_export(cfg, result)
