"""``make_web_search(cfg)``: the configured provider, or None when web search is off.

Adding a provider: subclass ``WebSearchProvider`` (or ``HTTPWebSearchProvider``), register
it in ``PROVIDERS``, and add its name to ``WebSearchConfig.provider`` (and a default URL
to ``WEB_SEARCH_DEFAULT_URLS`` when it has one).
"""

from __future__ import annotations

from typing import Any

from dlgforge_core.errors import ConfigError
from dlgforge_core.generation.web_search.base import HTTPWebSearchProvider, WebSearchProvider
from dlgforge_core.generation.web_search.searxng import SearxngProvider
from dlgforge_core.generation.web_search.serper import SerperProvider
from dlgforge_core.generation.web_search.tavily import TavilyProvider

PROVIDERS: dict[str, type[HTTPWebSearchProvider]] = {
    "searxng": SearxngProvider,
    "tavily": TavilyProvider,
    "serper": SerperProvider,
}
KEY_REQUIRED = frozenset({"tavily", "serper"})


def make_web_search(cfg: Any) -> WebSearchProvider | None:
    """The provider of ``retrieval.web_search`` (None when disabled); the caller closes it."""
    web = cfg.retrieval.web_search
    if not web.enabled:
        return None
    if web.provider not in PROVIDERS:
        raise ConfigError(f"retrieval.web_search.provider: unknown provider {web.provider!r}")
    if not web.base_url:
        raise ConfigError(f"retrieval.web_search.base_url: required for provider {web.provider}")
    key = web.api_key.get_secret_value() if web.api_key is not None else None
    if web.provider in KEY_REQUIRED and not key:
        raise ConfigError(f"retrieval.web_search.api_key: provider {web.provider} needs an API key")
    return PROVIDERS[web.provider](web.base_url, api_key=key, timeout=web.timeout)
