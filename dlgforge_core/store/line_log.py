"""Log files written by a listener thread, so callers on the event loop never touch the disk."""

from __future__ import annotations

import logging
import queue
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path


class QueuedFileLog:
    """A private logger (never registered globally, nothing reaches root handlers) whose
    records are appended to ``path`` by a ``QueueListener`` thread."""

    def __init__(self, path: Path, formatter: logging.Formatter) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.path, encoding="utf-8", delay=True)
        handler.setFormatter(formatter)
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener: QueueListener | None = QueueListener(records, handler)
        self._listener.start()
        self.logger = logging.Logger(f"dlgforge.file.{self.path}", logging.INFO)
        self.logger.addHandler(QueueHandler(records))

    def close(self) -> None:
        """Write what is queued, stop the thread and close the file (idempotent)."""
        if self._listener is None:
            return
        self._listener.stop()
        for handler in self._listener.handlers:
            handler.close()
        self._listener = None
