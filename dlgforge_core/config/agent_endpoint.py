"""Where one agent's requests go: model name, base URL and key, from its provider.

The provider of an agent is, first found: ``llm.agents.<agent>.provider``, the provider prefix
of its model (``gemini/gemini-2.0-flash``), ``llm.provider``. With none, the agent uses
``base_url`` / ``api_key`` as before (``llm.*`` defaults, ``OPENAI_BASE_URL``,
``OPENAI_API_KEY``). With one (``openai`` backend only):

- the model is sent without the prefix when the prefix names that provider, except an
  ``openai/`` prefix sent to a base URL other than OpenAI's (a local server's model id, such
  as LM Studio's ``openai/gpt-oss-20b``, is forwarded unchanged, as dlgforge does);
- the base URL is the agent's ``base_url`` (or ``llm.base_url`` when the provider is
  ``openai``, ``llm.provider`` or a self-hosted server), else the provider's OpenAI-compatible URL;
- the key is the agent's ``api_key``, else the provider's usual variable (``GEMINI_API_KEY``),
  else ``llm.api_key`` for ``openai`` / ``llm.provider`` only: a key is never sent to another
  provider than the one it was given for. A missing key is an error only for the provider's
  own URL (a base URL override may be a local proxy that needs none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from dlgforge_core.config.providers import (
    PASSTHROUGH_PREFIX,
    PROVIDERS,
    ProviderError,
    key_from_env,
    provider_named,
    split_prefix,
)
from dlgforge_core.errors import ConfigError


_DLGFORGE_ROLE = {"qa_generator": "user", "kb_responder": "assistant", "qa_judge": "judge"}


@dataclass(frozen=True)
class AgentEndpoint:
    """Resolved model, base URL, key and provider name (None: no provider given)."""

    model: str | None
    base_url: str | None
    api_key: str | None
    provider: str | None


class AgentEndpointError(ConfigError):
    """An agent whose provider cannot be used; the message starts with the key path (a
    ConfigError, so a command that meets it late still prints one line and exits 2)."""


def _secret(value: Any) -> str | None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value or None


def resolve_agent_endpoint(cfg: Any, agent: str) -> AgentEndpoint:
    """The endpoint of ``agent`` (``qa_generator``, ``kb_responder``, ``qa_judge``)."""
    over = getattr(cfg.llm.agents, agent)
    llm = cfg.llm
    model = cfg.resolve_model(agent)
    default = AgentEndpoint(model, over.base_url or llm.base_url,
                            _secret(over.api_key) or _secret(llm.api_key), None)
    if llm.backend != "openai":
        return default
    where = f"llm.agents.{agent}"
    named_agent = f"{agent} ({_DLGFORGE_ROLE[agent]})"  # dlgforge's name of the agent too
    try:
        prefix, bare = split_prefix(model) if model else (None, model)
        named = over.provider or prefix or llm.provider
        if not named:
            return default
        provider = provider_named(named)
    except ProviderError as err:
        key = "provider" if over.provider else ("model" if model and "/" in model else "provider")
        path = f"{where}.{key}" if over.provider or key == "model" else "llm.provider"
        raise AgentEndpointError(f"{path}: agent {named_agent}: {err}") from None

    # llm.base_url is the default of openai, of llm.provider and of the self-hosted servers
    # (vLLM, LM Studio, Ollama); llm.api_key (OPENAI_API_KEY) of openai and llm.provider only
    global_ok = provider.name in (PASSTHROUGH_PREFIX, (llm.provider or "").lower())
    explicit_url = over.base_url or (llm.base_url if global_ok or not provider.key_required else None)
    if prefix == provider.name:
        local = bool(explicit_url) and explicit_url.rstrip("/") != PROVIDERS["openai"].base_url
        if not (prefix == PASSTHROUGH_PREFIX and local):
            model = bare
    base_url = explicit_url or provider.base_url
    if not base_url:
        raise AgentEndpointError(
            f"{where}.base_url: agent {named_agent}: provider {provider.name} is self-hosted: "
            "set the server's base_url")
    api_key = (_secret(over.api_key) or key_from_env(provider, cfg.env)
               or (_secret(llm.api_key) if global_ok else None))
    if not api_key and provider.key_required and base_url == provider.base_url:
        raise AgentEndpointError(
            f"{where}: agent {named_agent}: provider {provider.name} needs an API key "
            f"(set {' or '.join(provider.key_vars)})")
    return AgentEndpoint(model, base_url, api_key, provider.name)
