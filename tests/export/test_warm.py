"""The export's libraries are imported ahead of time, in the background, once per process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from dlgforge_core.export.warm import export_libraries

REPO = Path(__file__).resolve().parents[2]


def test_the_libraries_follow_what_the_export_will_make(project) -> None:
    assert export_libraries(project()) == ["polars", "dlgforge_core.export.stats", "matplotlib.figure",
                                           "matplotlib.backends.backend_svg"]
    assert export_libraries(project(generate_plots=False)) == ["polars", "dlgforge_core.export.stats"]
    assert export_libraries(project(generate_stats=False)) == []


def test_a_fresh_process_has_them_imported_once_the_thread_is_done(project) -> None:
    cfg = project()
    script = textwrap.dedent(f"""
        import sys, threading
        from dlgforge_core.config import load_config
        from dlgforge_core.export.warm import warm_export_libraries
        cfg = load_config({str(cfg.config_path)!r})
        before = "matplotlib.figure" in sys.modules or "polars" in sys.modules
        warm_export_libraries(cfg)
        warm_export_libraries(cfg)  # a second call starts nothing
        threads = [t for t in threading.enumerate() if t.name == "dlgforge-export-imports"]
        for thread in threads:
            thread.join(120)
        print(before, len(threads), "polars" in sys.modules, "matplotlib.figure" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "1", "True", "True"]
