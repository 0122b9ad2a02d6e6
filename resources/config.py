"""The project configuration as a Dagster resource: every other resource reads it from here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dlgforge_core.config import DlgforgeConfig


class DlgforgeConfigResource(dg.ConfigurableResource):
    """Points at the `config.yaml` of the code location (read from local disk only)."""

    config_path: str

    def load(self) -> DlgforgeConfig:
        """Load and validate the configuration; raises ConfigError on a bad file."""
        from dlgforge_core.config import load_config

        return load_config(self.config_path)
