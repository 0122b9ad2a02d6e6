"""``load_config``: defaults, then YAML (interpolated), then environment overrides, then checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values
from pydantic import SecretStr, ValidationError

from dlgforge_core.config.agent_endpoint import AgentEndpointError, resolve_agent_endpoint
from dlgforge_core.config.compat import translate
from dlgforge_core.config.errors import format_validation_error
from dlgforge_core.config.interpolate import apply_overrides, interpolate
from dlgforge_core.config.models import MODEL_ENV_VARS, DlgforgeConfig
from dlgforge_core.errors import ConfigError

TAVILY_KEY_VAR = "TAVILY_API_KEY"
WEB_SEARCH_KEY_VARS = {"tavily": TAVILY_KEY_VAR, "serper": "SERPER_API_KEY"}
# (dotted key, environment variable) filled from the environment when the key is unset.
_ENV_FALLBACKS: tuple[tuple[str, str], ...] = (
    ("llm.api_key", "OPENAI_API_KEY"),
    ("llm.base_url", "OPENAI_BASE_URL"),
    ("store.postgres.dsn", "DLGFORGE_POSTGRES_DSN"),
    ("store.postgres.dsn", "DLGFORGE_STORE_DSN"),  # the older name
)


def load_config(
    path: str | Path, *, check_paths: bool = True, require_models: bool = True
) -> DlgforgeConfig:
    """Load, validate and resolve the config at ``path``; raises ConfigError on any mistake.

    ``check_paths=False`` skips the existence check of the knowledge folder;
    ``require_models=False`` skips the model and web search key checks (commands that call
    no LLM, like ``kb``).
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ConfigError(f"{source}: config file not found")
    environ = _environment(path)
    data = _read_yaml(path, source)
    data = interpolate(data, environ, source)
    warnings: list[str] = []
    data = translate(data, source, warnings.append, environ)  # dlgforge's schemas -> native
    data = apply_overrides(data, environ)
    _apply_env_fallbacks(data, environ)
    try:
        cfg = DlgforgeConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(source, err)) from None
    cfg.bind(path, environ)
    for line in warnings:
        cfg.warn(line)
    _resolve_paths(cfg)
    _check(cfg, source, check_paths, require_models)
    return cfg


def _environment(config_path: Path) -> dict[str, str]:
    """``.env`` next to the config under the real environment (which always wins).

    The ``.env`` values are also exported for variables not already set (HF_TOKEN, ...).
    """
    dotenv_file = config_path.parent / ".env"
    from_file: dict[str, str] = {}
    if dotenv_file.is_file():
        from_file = {k: v for k, v in dotenv_values(dotenv_file).items() if v is not None}
        for key, value in from_file.items():
            os.environ.setdefault(key, value)
    return {**from_file, **os.environ}


def _read_yaml(path: Path, source: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: cannot read config file ({err.__class__.__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{source}: {where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections, got {type(data).__name__}")
    # a section whose keys are all commented out reads as null: treat it as empty
    return {key: ({} if value is None else value) for key, value in data.items()}


def _apply_env_fallbacks(data: dict[str, Any], environ: dict[str, str]) -> None:
    store = data.get("store")
    if isinstance(store, dict) and "dsn" in store:  # the older spelling of store.postgres.dsn
        store = data["store"] = dict(store)
        postgres = store["postgres"] = dict(store.get("postgres") or {})
        legacy = store.pop("dsn")
        if postgres.get("dsn") in (None, ""):
            postgres["dsn"] = legacy
    for dotted, var in _ENV_FALLBACKS:
        *parents, key = dotted.split(".")
        node: Any = data
        for name in parents:
            if not isinstance(node, dict):
                break
            if node.get(name) is None:
                node[name] = {}
            node = node[name]
        if isinstance(node, dict) and node.get(key) in (None, "") and environ.get(var):
            node[key] = environ[var]


def _resolve_paths(cfg: DlgforgeConfig) -> None:
    """Make every path key absolute against the config file's folder."""
    cfg.retrieval.knowledge_dir = cfg.knowledge_dir
    cfg.retrieval.index_dir = cfg.index_dir
    cfg.saving.output_dir = cfg.output_dir
    cfg.saving.logs_dir = cfg.logs_dir
    cfg.llm.cache.dir = cfg.cache_dir
    for section, key in (
        (cfg.personas, "path"),
        (cfg.coverage, "seed_topics_path"),
        (cfg.llm.local, "model_path"),
        (cfg.llm.local, "cache_dir"),
    ):
        value = getattr(section, key)
        if value is not None:
            setattr(section, key, cfg.resolve_path(value))


def _store_without_dsn(cfg: DlgforgeConfig) -> None:
    """``store.backend: postgres`` with no DSN on one machine runs on the file store (warned).

    dlgforge's own sample config does exactly that; a distributed run still needs the DSN.
    """
    if cfg.store.backend == "postgres" and not cfg.store.dsn and not cfg.run.distributed.enabled:
        cfg.store.backend = "file"
        cfg.warn("store.backend: postgres has no store.postgres.dsn (nor DLGFORGE_POSTGRES_DSN) "
                 "and run.distributed is off: using the file store in saving.output_dir")


def _check(cfg: DlgforgeConfig, source: str, check_paths: bool, require_models: bool) -> None:
    """Cross-section checks that pydantic cannot express alone."""
    if require_models and cfg.llm.backend in ("openai", "vllm_attach"):
        for agent in cfg.needed_agents():
            if not cfg.resolve_model(agent):
                raise ConfigError(
                    f"{source}: llm.agents.{agent}.model: no model for agent {agent} "
                    f"(set llm.agents.{agent}.model, llm.model, {' or '.join(MODEL_ENV_VARS)})"
                )
    _resolve_web_search_key(cfg, source, required=require_models)
    if require_models:
        for agent in cfg.needed_agents():
            try:
                resolve_agent_endpoint(cfg, agent)
            except AgentEndpointError as err:
                raise ConfigError(f"{source}: {err}") from None
    _store_without_dsn(cfg)
    if cfg.store.backend == "postgres" and not cfg.store.dsn:
        raise ConfigError(f"{source}: store.postgres.dsn: store.backend postgres needs a DSN "
                          "(set store.postgres.dsn or DLGFORGE_POSTGRES_DSN)")
    if cfg.llm.backend == "vllm_attach" and not cfg.llm.routing.endpoints:
        raise ConfigError(f"{source}: llm.routing.endpoints: vllm_attach needs at least one endpoint")
    from dlgforge_core.llm.vllm_managed import check_vllm_config

    check_vllm_config(cfg, source)
    _check_distributed(cfg, source)
    if cfg.cache_dir == cfg.output_dir or cfg.output_dir in cfg.cache_dir.parents:
        raise ConfigError(f"{source}: llm.cache.dir: must not be inside saving.output_dir ({cfg.cache_dir})")
    if check_paths and not cfg.knowledge_dir.is_dir():
        raise ConfigError(
            f"{source}: retrieval.knowledge_dir: folder not found: {cfg.knowledge_dir}"
        )


def _check_distributed(cfg: DlgforgeConfig, source: str) -> None:
    """Shards need a server to share (not the in-process model) and at least one slot each."""
    dist = cfg.run.distributed
    if not dist.enabled:
        return
    if cfg.llm.backend == "local":
        raise ConfigError(f"{source}: run.distributed.enabled: the embedded model (llm.backend: local) "
                          "runs inside one process; shards need an OpenAI-compatible endpoint")
    if dist.shards_per_language > cfg.run.batch_size:
        raise ConfigError(
            f"{source}: run.distributed.shards_per_language: {dist.shards_per_language} shards need "
            f"at least as many slots, but run.batch_size is {cfg.run.batch_size}"
        )


def _resolve_web_search_key(cfg: DlgforgeConfig, source: str, required: bool) -> None:
    """Tavily's / Serper's key: ``retrieval.web_search.api_key``, else ``TAVILY_API_KEY`` /
    ``SERPER_API_KEY``; missing is an error when ``required`` (commands that search the web).

    Each variable is read only for its provider, so a key never goes to another provider.
    """
    web = cfg.retrieval.web_search
    var = WEB_SEARCH_KEY_VARS.get(web.provider or "")
    if not web.enabled or var is None:
        return
    if web.api_key is not None and web.api_key.get_secret_value():
        return
    from_env = cfg.env(var)
    if from_env:
        web.api_key = SecretStr(from_env)
    elif required:
        raise ConfigError(
            f"{source}: retrieval.web_search.api_key: provider {web.provider} needs an API key "
            f"(set retrieval.web_search.api_key or {var})"
        )
