"""Model providers: each one's OpenAI-compatible base URL and the variables holding its key.

One table serves the ``provider`` key of ``llm`` / ``llm.agents.<agent>`` and the provider
prefix of a model name (``gemini/gemini-2.0-flash``, ``openrouter/meta-llama/...``), the
spellings dlgforge configs use. ``docs/coming-from-dlgforge.md`` lists the same table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    """One provider reachable through the OpenAI chat completions API."""

    name: str
    base_url: str | None  # None: no public endpoint (a self-hosted server): base_url required
    key_vars: tuple[str, ...]  # variables holding the key, first set wins
    key_required: bool = True  # local servers accept any key (or none)


PROVIDERS: dict[str, Provider] = {p.name: p for p in (
    Provider("openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",)),
    Provider("gemini", "https://generativelanguage.googleapis.com/v1beta/openai", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    Provider("anthropic", "https://api.anthropic.com/v1", ("ANTHROPIC_API_KEY",)),
    Provider("mistral", "https://api.mistral.ai/v1", ("MISTRAL_API_KEY",)),
    Provider("groq", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",)),
    Provider("together_ai", "https://api.together.xyz/v1", ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY")),
    Provider("openrouter", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",)),
    Provider("deepseek", "https://api.deepseek.com/v1", ("DEEPSEEK_API_KEY",)),
    Provider("xai", "https://api.x.ai/v1", ("XAI_API_KEY",)),
    Provider("fireworks_ai", "https://api.fireworks.ai/inference/v1", ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY")),
    Provider("deepinfra", "https://api.deepinfra.com/v1/openai", ("DEEPINFRA_API_KEY",)),
    Provider("cerebras", "https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",)),
    Provider("perplexity", "https://api.perplexity.ai", ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY")),
    Provider("hosted_vllm", None, ("HOSTED_VLLM_API_KEY",), key_required=False),
    Provider("lm_studio", "http://localhost:1234/v1", ("LM_STUDIO_API_KEY",), key_required=False),
    Provider("ollama", "http://localhost:11434/v1", ("OLLAMA_API_KEY",), key_required=False),
)}

# Providers dlgforge (through LiteLLM) can name but that have no OpenAI-compatible chat API
# this product could call with a key alone (request signing, deployments, regions).
NO_OPENAI_API: dict[str, str] = {
    "bedrock": "AWS request signing",
    "sagemaker": "AWS request signing",
    "vertex_ai": "Google Cloud service-account auth",
    "azure": "per-deployment URLs and api-version",
    "azure_ai": "per-deployment URLs",
    "watsonx": "IBM Cloud IAM tokens",
    "cloudflare": "account-scoped URLs",
    "replicate": "its own prediction API",
    "huggingface": "its own inference API",
    "palm": "a retired API",
    "cohere_chat": "its own chat API",
}

# The ``openai/`` prefix in front of a model sent to a local server (LM Studio, vLLM) is part
# of the served model's name there (``openai/gpt-oss-20b``): dlgforge forwards it unchanged.
PASSTHROUGH_PREFIX = "openai"


class ProviderError(ValueError):
    """A provider name this product cannot reach (message names the problem, not the agent)."""


def provider_named(name: str) -> Provider:
    """The provider called ``name``; ProviderError when unknown or not OpenAI-compatible."""
    key = name.strip().lower()
    if key in PROVIDERS:
        return PROVIDERS[key]
    if key in NO_OPENAI_API:
        raise ProviderError(f"provider {key} has no OpenAI-compatible API ({NO_OPENAI_API[key]})")
    known = ", ".join(sorted(PROVIDERS))
    raise ProviderError(f"unknown provider {key!r} (known: {known})")


def split_prefix(model: str) -> tuple[str | None, str]:
    """``("gemini", "gemini-2.0-flash")`` for ``gemini/gemini-2.0-flash``; no prefix -> (None, model).

    Only a known provider name counts as a prefix (``Qwen/Qwen2.5-7B`` is a model id); a prefix
    naming a provider without an OpenAI-compatible API raises ProviderError.
    """
    head, sep, rest = model.partition("/")
    if not sep or not rest:
        return None, model
    key = head.strip().lower()
    if key in NO_OPENAI_API:
        provider_named(key)
    return (key, rest) if key in PROVIDERS else (None, model)


def key_from_env(provider: Provider, env) -> str | None:
    """The first of the provider's key variables that is set (``env`` is a callable)."""
    return next((value for var in provider.key_vars if (value := env(var))), None)
