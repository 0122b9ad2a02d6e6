"""The judge's own log file, ``logs/judge.log``, written off the event loop thread.

Each output folder gets one dedicated logger whose records go through a
``QueueHandler`` to a ``QueueListener`` thread that owns the file, so a judge call
never blocks the event loop on disk I/O. Lines hold ids, scores and labels only,
never prompts or answers.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import threading
from pathlib import Path

_LOCK = threading.Lock()
_LISTENERS: dict[Path, tuple[logging.Logger, logging.handlers.QueueListener]] = {}


def judge_logger(log_dir: Path) -> logging.Logger:
    """Return the logger that appends to ``<log_dir>/judge.log`` (created on first use)."""
    path = (Path(log_dir) / "judge.log").resolve()
    with _LOCK:
        if path in _LISTENERS:
            return _LISTENERS[path][0]
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
        )
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(records, file_handler)
        listener.start()
        logger = logging.getLogger(f"dlgforge.judge.{len(_LISTENERS)}")
        logger.handlers = [logging.handlers.QueueHandler(records)]
        logger.setLevel(logging.INFO)
        logger.propagate = False
        _LISTENERS[path] = (logger, listener)
        return logger


def close_judge_logs() -> None:
    """Flush and close every judge log; a later :func:`judge_logger` call reopens."""
    with _LOCK:
        entries = list(_LISTENERS.values())
        _LISTENERS.clear()
    for logger, listener in entries:
        listener.stop()
        for handler in listener.handlers:
            handler.close()
        logger.handlers = []


atexit.register(close_judge_logs)
