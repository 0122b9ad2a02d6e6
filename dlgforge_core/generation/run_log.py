"""``logs/run.log``: progress and drop lines, written by a writer thread."""

from __future__ import annotations

import logging
from pathlib import Path

from dlgforge_core.store.line_log import QueuedFileLog


class RunLog:
    """A line logger whose file writes never run on the caller's (event loop) thread."""

    def __init__(self, log_dir: Path, name: str) -> None:
        self.name = name
        self._file = QueuedFileLog(Path(log_dir) / "run.log",
                                   logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self._logger = self._file.logger

    def info(self, message: str, *args: object) -> None:
        self._logger.info(message, *args)

    def warning(self, message: str, *args: object) -> None:
        self._logger.warning(message, *args)

    def exception(self, message: str, *args: object) -> None:
        self._logger.exception(message, *args)

    def close(self) -> None:
        """Flush the queue and close the file."""
        self._file.close()
