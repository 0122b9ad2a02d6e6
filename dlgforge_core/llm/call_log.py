"""``logs/llm.log``: one line per LLM call, written by a queue listener thread.

The event loop only formats a short line and puts it on a queue; the file is written by the
listener's thread. Lines carry agent, model, endpoint (credentials stripped), latency,
tokens and outcome, never prompts, replies or keys.
"""

from __future__ import annotations

import logging
import queue
import time
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path

LOG_FILE = "llm.log"


class CallLog:
    """Writes call lines to ``<log_dir>/llm.log``; with ``log_dir=None`` it writes nothing."""

    def __init__(self, log_dir: Path | None):
        self.path: Path | None = None
        self._logger: logging.Logger | None = None
        self._listener: QueueListener | None = None
        if log_dir is None:
            return
        self.path = Path(log_dir) / LOG_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.path, encoding="utf-8")
        formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(message)s",
                                      "%Y-%m-%dT%H:%M:%S")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener = QueueListener(records, handler)
        self._listener.start()
        # A private logger (not registered globally): nothing propagates to root handlers.
        self._logger = logging.Logger(f"dlgforge.llm.calls.{id(self)}", logging.INFO)
        self._logger.addHandler(QueueHandler(records))

    def record(self, agent: str, model: str, endpoint: str, latency_ms: float,
               prompt_tokens: int, completion_tokens: int, outcome: str) -> None:
        """Log one call; ``outcome`` is ok, cached, repair, retry:<why> or error:<why>."""
        if self._logger is None:
            return
        self._logger.info(
            "agent=%s model=%s endpoint=%s latency_ms=%.1f prompt_tokens=%d "
            "completion_tokens=%d outcome=%s", agent, model, endpoint, latency_ms,
            prompt_tokens, completion_tokens, outcome)

    def close(self) -> None:
        """Flush pending lines and stop the listener thread."""
        if self._listener is not None:
            self._listener.stop()
            for handler in self._listener.handlers:
                handler.close()
            self._listener = None
            self._logger = None
