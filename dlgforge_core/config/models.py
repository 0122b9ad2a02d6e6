"""The root config model, resolved agent settings and the config hash."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from dlgforge_core.config.agent_endpoint import resolve_agent_endpoint
from dlgforge_core.config.base import AGENTS, Section
from dlgforge_core.config.llm_models import LLMConfig
from dlgforge_core.config.sections import (
    AutomationConfig,
    CoverageConfig,
    JudgeConfig,
    PersonasConfig,
    QualityConfig,
    RayConfig,
    RetrievalConfig,
    RunConfig,
    SavingConfig,
    StoreConfig,
)

MODEL_ENV_VARS: tuple[str, ...] = ("LLM_MODEL", "OPENAI_MODEL")
# Keys left out of config_hash: secrets, and where outputs/caches go (they do not change content).
_HASH_EXCLUDE: dict[str, Any] = {
    "llm": {
        "api_key": True,
        "cache": {"dir"},
        "agents": {agent: {"api_key"} for agent in AGENTS},
        "routing": {"endpoints": {"__all__": {"api_key"}}},
    },
    "retrieval": {"embeddings": {"api_key"}, "web_search": {"api_key"}},
    "saving": {"output_dir", "logs_dir"},
    "store": True,  # where data is kept does not shape it (and the DSN may hold a password)
}


class AgentSettings(BaseModel):
    """What one agent's requests use: ``llm.agents.<agent>.*`` over the ``llm.*`` defaults."""

    model_config = ConfigDict(frozen=True)

    agent: str
    model: str | None
    base_url: str | None
    api_key: str | None = Field(default=None, repr=False)
    temperature: float
    max_tokens: int
    top_p: float
    timeout: float
    max_retries: int
    extra: dict[str, Any] = Field(default_factory=dict)  # extra request body fields
    provider: str | None = None


class DlgforgeConfig(Section):
    """The whole configuration. Build it with ``load_config``; paths are absolute there."""

    run: RunConfig = Field(default_factory=RunConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    coverage: CoverageConfig = Field(default_factory=CoverageConfig)
    personas: PersonasConfig = Field(default_factory=PersonasConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    saving: SavingConfig = Field(default_factory=SavingConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    automation: AutomationConfig = Field(default_factory=AutomationConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)

    @model_validator(mode="after")
    def _inflight_follows_batch(self) -> "DlgforgeConfig":
        """``llm.max_inflight`` unset: every conversation slot can have its requests in flight
        (one per candidate answer), so the cap never holds ``run.batch_size`` back."""
        if self.llm.max_inflight is None:
            self.llm.max_inflight = self.run.batch_size * max(1, self.run.candidates_per_turn)
        return self

    _config_path: Path | None = PrivateAttr(default=None)
    _environ: dict[str, str] = PrivateAttr(default_factory=dict)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    def bind(self, config_path: Path, environ: Mapping[str, str]) -> "DlgforgeConfig":
        """Attach the config file's location and the environment it was loaded with."""
        self._config_path = config_path.resolve()
        self._environ = dict(environ)
        return self

    @property
    def warnings(self) -> list[str]:
        """One line per setting that was accepted but has no effect (key path and why)."""
        return self._warnings

    def warn(self, line: str) -> None:
        """Record a load-time warning (the CLI prints each once; ``run.log`` keeps them)."""
        if line not in self._warnings:
            self._warnings.append(line)

    @property
    def config_path(self) -> Path:
        """Absolute path of the YAML file (a virtual one in the cwd for in-memory configs)."""
        return self._config_path or (Path.cwd() / "config.yaml")

    @property
    def base_dir(self) -> Path:
        """Folder of the config file: relative paths resolve against it."""
        return self.config_path.parent

    def resolve_path(self, value: Path | str) -> Path:
        """``value`` made absolute against ``base_dir`` (``~`` expanded)."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def output_dir(self) -> Path:
        """``saving.output_dir``, absolute."""
        return self.resolve_path(self.saving.output_dir)

    @property
    def logs_dir(self) -> Path:
        """``saving.logs_dir``, absolute (default ``logs`` next to the config file)."""
        return self.resolve_path(self.saving.logs_dir)

    @property
    def knowledge_dir(self) -> Path:
        """``retrieval.knowledge_dir``, absolute."""
        return self.resolve_path(self.retrieval.knowledge_dir)

    @property
    def index_dir(self) -> Path:
        """``retrieval.index_dir``, absolute."""
        return self.resolve_path(self.retrieval.index_dir)

    @property
    def cache_dir(self) -> Path:
        """``llm.cache.dir``, absolute (default ``.dlgforge_cache`` next to the config)."""
        return self.resolve_path(self.llm.cache.dir or ".dlgforge_cache")

    def env(self, name: str, default: str | None = None) -> str | None:
        """A variable from the environment the config was loaded with (real env over ``.env``)."""
        if name in os.environ:
            return os.environ[name]
        return self._environ.get(name, default)

    def resolve_model(self, agent: str) -> str | None:
        """Model of ``agent``: agent override, ``llm.model``, ``LLM_MODEL``, ``OPENAI_MODEL``.

        ``vllm_managed`` then falls back to ``llm.vllm.model``; ``vllm_attach`` to the model
        of the first routing endpoint that names one.
        """
        override = getattr(self.llm.agents, agent).model
        candidates = [override, self.llm.model] + [self.env(var) for var in MODEL_ENV_VARS]
        if self.llm.backend == "vllm_managed":
            candidates.append(self.llm.vllm.model)
        if self.llm.backend == "vllm_attach":
            candidates += [endpoint.model for endpoint in self.llm.routing.endpoints]
        return next((c for c in candidates if c), None)

    def needed_agents(self) -> list[str]:
        """The agents this config calls: the judge only when it is enabled."""
        return list(AGENTS) if self.judge.enabled else ["qa_generator", "kb_responder"]

    def agent_settings(self, agent: str) -> AgentSettings:
        """Resolved settings of one agent (``qa_generator``, ``kb_responder`` or ``qa_judge``)."""
        if agent not in AGENTS:
            raise ValueError(f"unknown agent {agent!r}; expected one of {', '.join(AGENTS)}")
        over = getattr(self.llm.agents, agent)
        llm = self.llm

        def pick(name: str) -> Any:
            value = getattr(over, name)
            return getattr(llm, name) if value is None else value

        endpoint = resolve_agent_endpoint(self, agent)
        return AgentSettings(
            agent=agent,
            model=endpoint.model,
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            temperature=pick("temperature"),
            max_tokens=pick("max_tokens"),
            top_p=pick("top_p"),
            timeout=pick("timeout"),
            max_retries=pick("max_retries"),
            extra={**llm.extra, **over.extra},
            provider=endpoint.provider,
        )

    def canonical_dump(self) -> dict[str, Any]:
        """The config as JSON-able data without secrets or output locations (what is hashed)."""
        data = self.model_dump(mode="json", exclude=_HASH_EXCLUDE)
        models = {agent: self.resolve_model(agent) for agent in AGENTS}
        return {"config": _relative_paths(data, self.base_dir), "resolved_models": models}

    @property
    def config_hash(self) -> str:
        """sha256 of the canonical dump: changes when anything that shapes the data changes."""
        text = json.dumps(self.canonical_dump(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _relative_paths(value: Any, base: Path) -> Any:
    """Paths under ``base`` written relative to it, so moving a project keeps its hash."""
    if isinstance(value, dict):
        return {k: _relative_paths(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative_paths(v, base) for v in value]
    if isinstance(value, str) and value.startswith(str(base) + os.sep):
        return value[len(str(base)) + 1 :]
    return value
