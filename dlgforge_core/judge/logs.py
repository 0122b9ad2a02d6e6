"""The judge's own log file, ``logs/judge.log``, written off the event loop thread.

Each output folder gets one dedicated logger whose records are buffered and written by
a writer thread that owns the file (``dlgforge_core.store.line_log``), so a judge call
never blocks the event loop on disk I/O. Lines hold ids, scores and labels only,
never prompts or answers.
"""

from __future__ import annotations

import atexit
import logging
import threading
from pathlib import Path

from dlgforge_core.store.line_log import QueuedFileLog

_LOCK = threading.Lock()
_LOGS: dict[Path, QueuedFileLog] = {}


def judge_logger(log_dir: Path) -> logging.Logger:
    """Return the logger that appends to ``<log_dir>/judge.log`` (created on first use)."""
    path = (Path(log_dir) / "judge.log").resolve()
    with _LOCK:
        if path not in _LOGS:
            _LOGS[path] = QueuedFileLog(path, logging.Formatter(
                "%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
        return _LOGS[path].logger


def flush_judge_logs() -> None:
    """Write every judge log's buffered lines now (the logs stay open)."""
    with _LOCK:
        logs = list(_LOGS.values())
    for log in logs:
        log.flush()


def close_judge_logs() -> None:
    """Flush and close every judge log; a later :func:`judge_logger` call reopens."""
    with _LOCK:
        logs = list(_LOGS.values())
        _LOGS.clear()
    for log in logs:
        log.close()


atexit.register(close_judge_logs)
