"""The ``llm`` config section: backend, defaults, per-agent overrides, routing, vLLM, local."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from dlgforge_core.config.base import Section

Backend = Literal["openai", "vllm_attach", "vllm_managed", "local"]


class AgentOverrides(Section):
    """Per-agent settings; any key left unset falls back to the matching ``llm.*`` value."""

    provider: str | None = None  # see config/providers.py (also a model name's prefix)
    model: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    timeout: float | None = Field(default=None, gt=0.0)
    max_retries: int | None = Field(default=None, ge=0)
    extra: dict[str, Any] = Field(default_factory=dict)  # extra request body fields (over llm.extra)


class AgentsConfig(Section):
    """``llm.agents``: overrides for each of the three agents."""

    qa_generator: AgentOverrides = Field(default_factory=AgentOverrides)
    kb_responder: AgentOverrides = Field(default_factory=AgentOverrides)
    qa_judge: AgentOverrides = Field(default_factory=AgentOverrides)


class CacheConfig(Section):
    """``llm.cache``: the content-addressed request cache (kept outside the output folder)."""

    enabled: bool = True
    dir: Path | None = None  # None: ".dlgforge_cache" next to the config file


class RouteEndpoint(Section):
    """One endpoint of ``llm.routing.endpoints`` (used by ``vllm_attach``)."""

    base_url: str
    api_key: SecretStr | None = None
    weight: float = Field(default=1.0, gt=0.0)
    model: str | None = None


class RoutingConfig(Section):
    """``llm.routing``: how requests are spread over several endpoints."""

    strategy: Literal["weighted_least_inflight", "round_robin", "latency_ewma"] = "weighted_least_inflight"
    endpoints: list[RouteEndpoint] = Field(default_factory=list)
    max_failures: int = Field(default=3, ge=1)  # failures in a row that start a cool-down
    cooldown_s: float = Field(default=30.0, gt=0.0)


class VLLMConfig(Section):
    """``llm.vllm``: vLLM servers started on Ray GPU actors by the ``vllm_managed`` backend.

    ``launch_command`` is the command template of one replica; ``{model}``, ``{served_model_name}``,
    ``{host}``, ``{port}``, ``{tensor_parallel_size}``, ``{gpu_memory_utilization}`` and
    ``{max_num_seqs}`` are filled in per replica (tests point it at a loopback server).
    """

    model: str | None = None
    served_model_name: str | None = None
    replicas: int = Field(default=1, ge=1)
    tensor_parallel_size: int = Field(default=1, ge=1)
    num_gpus_per_replica: float = Field(default=1.0, ge=0.0)
    gpu_memory_utilization: float = Field(default=0.9, gt=0.0, le=1.0)
    max_num_seqs: int = Field(default=256, ge=1)
    port_start: int = Field(default=18000, ge=1, le=65535)
    host: str = "127.0.0.1"
    advertise_host: str | None = None
    health_timeout_s: float = Field(default=900.0, gt=0.0)
    auto_stop_on_exit: bool = True
    launch_command: str | None = None  # None: the ``vllm serve`` command
    extra_args: list[str] = Field(default_factory=list)


class LocalConfig(Section):
    """``llm.local``: the embedded in-process model (llama.cpp on a packaged GGUF file)."""

    model_path: Path | None = None  # None: the GGUF model shipped as a Python package
    n_ctx: int = Field(default=4096, ge=256)
    n_threads: int | None = Field(default=None, ge=1)
    n_batch: int | None = Field(default=None, ge=1)
    max_tokens: int = Field(default=512, ge=1)
    cache_dir: Path | None = None
    prompt_style: Literal["auto", "chat", "completion"] = "auto"  # auto: completion for the packaged base model


class LLMConfig(Section):
    """``llm``: defaults shared by every agent, plus backend-specific settings."""

    backend: Backend = "openai"
    provider: str | None = None  # default provider of every agent (config/providers.py)
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = None
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=1)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    timeout: float = Field(default=60.0, gt=0.0)
    max_retries: int = Field(default=5, ge=0)
    max_inflight: int | None = Field(default=None, ge=1)  # None: run.batch_size (see DlgforgeConfig)
    extra: dict[str, Any] = Field(default_factory=dict)  # extra request body fields, every agent
    adaptive_concurrency: bool = True
    cache: CacheConfig = Field(default_factory=CacheConfig)
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    vllm: VLLMConfig = Field(default_factory=VLLMConfig)
    local: LocalConfig = Field(default_factory=LocalConfig)

    @model_validator(mode="before")
    @classmethod
    def _mode_alias(cls, data: Any) -> Any:
        """Accept ``mode`` as an alias of ``backend``; ``api`` means ``openai``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "mode" in data:
            mode = data.pop("mode")
            if "backend" in data and data["backend"] != mode:
                raise ValueError("mode: set either 'backend' or its alias 'mode', not both")
            data["backend"] = mode
        if data.get("backend") == "api":
            data["backend"] = "openai"
        return data
