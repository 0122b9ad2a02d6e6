"""Dagster ConfigurableResources: thin wrappers that build dlgforge_core objects."""

from resources.config import DlgforgeConfigResource
from resources.hub import HubResource
from resources.kb import KBResource
from resources.llm import (
    EmbeddedLLMResource,
    LLMBackendResource,
    OpenAICompatibleLLMResource,
    llm_resource_for,
)
from resources.progress import ProgressResource
from resources.ray_slot import RayNotUsed, ray_resource_for
from resources.store import StoreResource

__all__ = [
    "DlgforgeConfigResource",
    "EmbeddedLLMResource",
    "HubResource",
    "KBResource",
    "LLMBackendResource",
    "OpenAICompatibleLLMResource",
    "ProgressResource",
    "RayNotUsed",
    "StoreResource",
    "llm_resource_for",
    "ray_resource_for",
]
