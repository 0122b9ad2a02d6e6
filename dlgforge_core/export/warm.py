"""The export's heavy libraries, imported ahead of time on a daemon thread.

The export after a run imports Polars (stats) and matplotlib (plots), and its diversity
statistic embeds the questions with the KB's embedding model: ~0.7 s of CPU, and ~0.35 s more
to load the model in a run that never embedded a query (full-text search), which the user
would otherwise wait for after the last answer. While conversations are generated the
process mostly waits on the endpoint, so the conversations asset starts these imports once
the first conversation is accepted (`warm_export_libraries`). An import that fails here is
left for the export itself to report.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

_started: list[bool] = []  # non-empty once warm_export_libraries has run in this process
_lock = threading.Lock()


def export_libraries(cfg: Any) -> list[str]:
    """The modules the export of ``cfg`` will import (stats and, when on, plots)."""
    hf = cfg.saving.hf_push
    modules = ["polars", "dlgforge_core.export.stats"] if hf.generate_stats else []
    if hf.generate_stats and hf.generate_plots:
        modules += ["matplotlib.figure", "matplotlib.backends.backend_svg"]
    return modules


def warm_export_libraries(cfg: Any) -> None:
    """Import ``export_libraries(cfg)`` on a daemon thread, once per process."""
    with _lock:  # the progress callback calls this at every report: one test, then nothing
        if _started:
            return
        _started.append(True)
    modules = export_libraries(cfg)
    if not modules:
        return

    def load() -> None:
        try:
            for name in modules:
                importlib.import_module(name)
            from dlgforge_core.kb.embeddings import make_embedder

            embedder = make_embedder(cfg.retrieval.embeddings, cfg.base_dir)
            getattr(embedder, "model", None)  # a local model loads (once per process)
        except Exception:  # noqa: BLE001 - the export reports it when it does this for real
            return

    threading.Thread(target=load, name="dlgforge-export-imports", daemon=True).start()
