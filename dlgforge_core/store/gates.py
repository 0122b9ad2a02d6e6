"""Recorded quality-gate outcomes: `<output_dir>/run_state/quality_gates.json`.

Dagster asset checks record every outcome here because a failed blocking check still leaves
a partition marked materialized; `dlgforge push` reads this file and refuses on a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from dlgforge_core.errors import GateError
from dlgforge_core.store.atomic import write_json_atomic
from dlgforge_core.store.locks import exclusive_lock

if TYPE_CHECKING:
    from dlgforge_core.export.checks import GateOutcome

GATES_FILE = "quality_gates.json"


class GateRecord(BaseModel):
    """One gate's last recorded outcome."""

    model_config = ConfigDict(extra="forbid")

    passed: bool
    description: str
    offending: list[str] = []
    checked_at: str
    partition: str | None = None


def gates_path(cfg: Any) -> Path:
    """Where the gate outcomes of this output folder live."""
    return Path(cfg.output_dir) / "run_state" / GATES_FILE


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialize read-modify-write of the gate file across processes (checks run in parallel)."""
    with exclusive_lock(path.with_suffix(".lock")):
        yield


def _read(path: Path) -> dict[str, GateRecord]:
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {name: GateRecord.model_validate(value) for name, value in raw.items()}
    except (json.JSONDecodeError, AttributeError, ValidationError) as err:
        raise GateError(f"{path}: unreadable quality gate file ({type(err).__name__})") from None


def record_gate(cfg: Any, outcome: GateOutcome, partition: str | None = None) -> GateRecord:
    """Store `outcome` under its name, replacing that gate's previous outcome."""
    path = gates_path(cfg)
    record = GateRecord(
        passed=outcome.passed,
        description=outcome.description,
        offending=list(outcome.offending),
        checked_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        partition=partition,
    )
    with _locked(path):
        gates = _read(path)
        gates[outcome.name] = record
        write_json_atomic(path, {name: value.model_dump() for name, value in sorted(gates.items())})
    return record


def read_gates(cfg: Any) -> dict[str, GateRecord]:
    """Every recorded gate outcome, by gate name (empty when none were recorded)."""
    return _read(gates_path(cfg))


def failed_gates(cfg: Any) -> dict[str, GateRecord]:
    """The recorded gates whose last outcome failed."""
    return {name: record for name, record in read_gates(cfg).items() if not record.passed}
