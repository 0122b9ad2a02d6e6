"""dlgforge_core.export: the export folder, stats, plots, card, gates, formats and the Hub push.

The public names load lazily, so importing a light submodule (``export.sharegpt``,
``export.checks``) does not pull in Polars, matplotlib and the Hub client.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "ExportResult": "dlgforge_core.export.prepare",
    "prepare_export": "dlgforge_core.export.prepare",
    "PushResult": "dlgforge_core.export.push",
    "push_export": "dlgforge_core.export.push",
    "compute_stats": "dlgforge_core.export.stats",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'dlgforge_core.export' has no attribute {name!r}")
