"""Configuration: pydantic models, the YAML loader, environment interpolation and overrides."""

from dlgforge_core.config.base import AGENTS
from dlgforge_core.config.loader import load_config
from dlgforge_core.config.models import AgentSettings, DlgforgeConfig

__all__ = ["AGENTS", "AgentSettings", "DlgforgeConfig", "load_config"]
