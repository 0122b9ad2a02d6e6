"""LLM access: ``LLMClient`` (structured calls) over pluggable ``ChatBackend`` transports.

Names are imported lazily so that ``dlgforge_core.llm.backends`` (used by the embedded
backend) does not pull in the HTTP client.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "LLMClient": "dlgforge_core.llm.client",
    "LLMResult": "dlgforge_core.llm.client",
    "LLMCallError": "dlgforge_core.llm.errors",
    "TokenUsage": "dlgforge_core.llm.usage",
    "RetryPolicy": "dlgforge_core.llm.retry",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dlgforge_core.llm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
