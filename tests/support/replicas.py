"""Managed vLLM replicas as the tests see them: their pids (from run.log) and whether they live."""

from __future__ import annotations

import os
import re
from pathlib import Path


def replica_pids(logs_dir: Path) -> list[int]:
    """The pid of every replica ``vllm_managed`` started, as ``logs/run.log`` names them."""
    log = (logs_dir / "run.log").read_text(encoding="utf-8")
    return [int(pid) for pid in re.findall(r"\[vllm\] replica \d+: pid (\d+)", log)]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its parent."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())
