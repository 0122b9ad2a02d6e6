"""LLM backend resources: build the core `LLMClient` for an asset to use."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dlgforge_core.config import DlgforgeConfig
    from dlgforge_core.llm.client import LLMClient


class LLMBackendResource(dg.ConfigurableResource, ABC):
    """Abstract LLM backend: `build_client(cfg)` returns a ready `LLMClient`.

    Implementations differ only in how the backend is brought up; the client they return
    speaks the same interface, so the assets never know which one they got.
    """

    @abstractmethod
    def build_client(self, cfg: DlgforgeConfig) -> LLMClient:
        """A new client for `cfg`; the caller closes it with `await client.aclose()`."""


class OpenAICompatibleLLMResource(LLMBackendResource):
    """Any OpenAI-compatible endpoint(s) (OpenAI, LM Studio, llama.cpp server, attached vLLM).

    Endpoints, keys and models come from the config's `llm` section; keys are read from the
    environment there, never from Dagster run config.
    """

    def build_client(self, cfg: DlgforgeConfig) -> LLMClient:
        from dlgforge_core.llm.client import LLMClient

        return LLMClient(cfg, log_dir=cfg.logs_dir)


class EmbeddedLLMResource(LLMBackendResource):
    """The embedded in-process model (`llm.backend: local`): no server, no key."""

    def build_client(self, cfg: DlgforgeConfig) -> LLMClient:
        from dlgforge_core.llm.client import LLMClient

        return LLMClient(cfg, log_dir=cfg.logs_dir)


def llm_resource_for(backend: str | None) -> LLMBackendResource:
    """The LLM resource matching `llm.backend` (OpenAI-compatible when unknown)."""
    if backend == "local":
        return EmbeddedLLMResource()
    return OpenAICompatibleLLMResource()
