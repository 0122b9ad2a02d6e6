"""The responder's optional web search tool (``retrieval.web_search``), behind a provider interface.

``make_web_search(cfg)`` builds the configured ``WebSearchProvider`` (SearxNG, Tavily or Serper);
``WebSearchTool`` wraps it for the responder's tool loop (failures become notes to the
model, counted and logged). See docs/architecture.md, "Web search".
"""

from dlgforge_core.generation.web_search.base import (
    HTTPWebSearchProvider,
    WebResult,
    WebSearchError,
    WebSearchProvider,
)
from dlgforge_core.generation.web_search.factory import PROVIDERS, make_web_search
from dlgforge_core.generation.web_search.searxng import SearxngProvider
from dlgforge_core.generation.web_search.serper import SerperProvider
from dlgforge_core.generation.web_search.tavily import TavilyProvider
from dlgforge_core.generation.web_search.tool import WebFindings, WebSearchOutcome, WebSearchTool

__all__ = [
    "HTTPWebSearchProvider",
    "PROVIDERS",
    "SearxngProvider",
    "SerperProvider",
    "TavilyProvider",
    "WebFindings",
    "WebResult",
    "WebSearchError",
    "WebSearchOutcome",
    "WebSearchProvider",
    "WebSearchTool",
    "make_web_search",
]
