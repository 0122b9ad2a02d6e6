"""``logs/run.log``: progress and drop lines, written by a queue listener thread."""

from __future__ import annotations

import logging
import logging.handlers
import queue
from pathlib import Path


class RunLog:
    """A line logger whose file writes never run on the caller's (event loop) thread."""

    def __init__(self, log_dir: Path, name: str) -> None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        handler = logging.FileHandler(Path(log_dir) / "run.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self._listener = logging.handlers.QueueListener(self._queue, handler)
        self._handler = handler
        self._logger = logging.getLogger(f"dlgforge.run.{name}.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._logger.addHandler(logging.handlers.QueueHandler(self._queue))
        self._listener.start()

    def info(self, message: str, *args: object) -> None:
        self._logger.info(message, *args)

    def warning(self, message: str, *args: object) -> None:
        self._logger.warning(message, *args)

    def exception(self, message: str, *args: object) -> None:
        self._logger.exception(message, *args)

    def close(self) -> None:
        """Flush the queue and close the file."""
        self._listener.stop()
        self._handler.close()
        for handler in list(self._logger.handlers):
            self._logger.removeHandler(handler)
