"""``logs/llm.log``: one line per LLM call, written by a writer thread.

The event loop only appends a log record to a buffer; the file is written by the writer
thread (see ``dlgforge_core.store.line_log``). Lines carry agent, model, endpoint (credentials stripped), latency,
tokens and outcome, never prompts, replies or keys.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from dlgforge_core.store.line_log import QueuedFileLog

LOG_FILE = "llm.log"


class CallLog:
    """Writes call lines to ``<log_dir>/llm.log``; with ``log_dir=None`` it writes nothing."""

    def __init__(self, log_dir: Path | None):
        self.path: Path | None = None
        self._file: QueuedFileLog | None = None
        if log_dir is None:
            return
        formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(message)s", "%Y-%m-%dT%H:%M:%S")
        formatter.converter = time.gmtime
        self._file = QueuedFileLog(Path(log_dir) / LOG_FILE, formatter)
        self.path = self._file.path

    def record(self, agent: str, model: str, endpoint: str, latency_ms: float,
               prompt_tokens: int, completion_tokens: int, outcome: str) -> None:
        """Log one call; ``outcome`` is ok, cached, repair, retry:<why> or error:<why>."""
        if self._file is None:
            return
        self._file.logger.info(
            "agent=%s model=%s endpoint=%s latency_ms=%.1f prompt_tokens=%d "
            "completion_tokens=%d outcome=%s", agent, model, endpoint, latency_ms,
            prompt_tokens, completion_tokens, outcome)

    def close(self) -> None:
        """Flush pending lines and stop the writer thread."""
        if self._file is not None:
            self._file.close()
            self._file = None
