"""dlgforge's folder in the user's cache: ``$XDG_CACHE_HOME/dlgforge`` (default ``~/.cache``).

It holds what a process can rebuild but should not have to: compiled encoder models, the
language detector's unpacked model. Nothing in it belongs to a project or a run.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(*parts: str) -> Path | None:
    """``<cache>/dlgforge/<parts...>`` (not created); None when there is no home to expand.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG base-directory spec says."""
    configured = os.environ.get("XDG_CACHE_HOME", "")
    try:
        root = Path(configured) if os.path.isabs(configured) else Path.home() / ".cache"
    except RuntimeError:  # no home directory to expand
        return None
    return root.joinpath("dlgforge", *parts)
