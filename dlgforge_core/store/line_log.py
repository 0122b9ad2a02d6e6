"""Log files written by a writer thread, so callers on the event loop never touch the disk.

Callers only append the log record to an in-memory buffer (no lock hand-off, no thread
wake-up per line: at hundreds of LLM calls a second a per-line wake-up of a listener thread
cost more CPU than the rest of the logging). The writer thread drains the buffer every
``FLUSH_INTERVAL`` seconds and on close.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path

FLUSH_INTERVAL = 0.1


class _Buffer(logging.Handler):
    """Keeps records for the writer thread (deque appends are atomic)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: deque[logging.LogRecord] = deque()

    def handle(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() bypasses it
        self.records.append(record)


class QueuedFileLog:
    """A private logger (never registered globally, nothing reaches root handlers) whose
    records are appended to ``path`` by a writer thread."""

    def __init__(self, path: Path, formatter: logging.Formatter) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = logging.FileHandler(self.path, encoding="utf-8", delay=True)
        self._file.setFormatter(formatter)
        self._buffer = _Buffer()
        self.logger = logging.Logger(f"dlgforge.file.{self.path}", logging.INFO)
        self.logger.addHandler(self._buffer)
        self._stop = threading.Event()
        self._draining = threading.Lock()
        self._writer: threading.Thread | None = threading.Thread(
            target=self._run, name=f"log-writer:{self.path.name}", daemon=True)
        self._writer.start()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL):
            self._drain()
        self._drain()

    def _drain(self) -> None:
        records = self._buffer.records
        with self._draining:
            while records:
                self._file.handle(records.popleft())

    def flush(self) -> None:
        """Write what is buffered now, from the calling thread."""
        self._drain()

    def close(self) -> None:
        """Write what is buffered, stop the thread and close the file (idempotent)."""
        if self._writer is None:
            return
        self._stop.set()
        self._writer.join()
        self._writer = None
        self._file.close()
