"""The quality gates a push must pass: fresh checks over the exported data plus the
outcomes Dagster asset checks recorded in ``run_state/quality_gates.json``.

Every gate computed here is recorded too (replacing that gate's older outcome), so the
gate file always reflects the latest look at the data; recorded gates this module does
not compute (custom Dagster checks) still block a push while they fail.
"""

from __future__ import annotations

from typing import Any

from dlgforge_core.export.checks import (
    GateOutcome,
    drop_rate,
    judge_score_threshold,
    schema_valid,
    turn_counts_in_bounds,
    unique_questions,
)
from dlgforge_core.export.language import target_language
from dlgforge_core.export.pii import no_pii
from dlgforge_core.store.gates import read_gates, record_gate


def evaluate_gates(cfg: Any, records: list[dict], dropped_by_reason: dict[str, int],
                   extra_pii: list[str], extra_secrets: list[str] = ()) -> list[GateOutcome]:
    """Every gate outcome for this export: fresh ones first, then other recorded ones.

    ``extra_pii`` / ``extra_secrets``: offending lines found outside the records (the KB
    chunk texts an export ships)."""
    low, high = _turn_bounds(cfg)
    fresh = [
        schema_valid(records),
        unique_questions(records),
        turn_counts_in_bounds(records, low, high),
        judge_score_threshold(records, cfg.judge.min_mean_score),
        drop_rate(len(records), dropped_by_reason, cfg.quality.max_drop_rate),
    ]
    if cfg.quality.pii_check:
        fresh.append(no_pii(records, extra_pii))
    if cfg.quality.language_check:
        fresh.append(target_language(records))
    if cfg.quality.secrets_check:
        from dlgforge_core.export.secrets import no_secrets

        fresh.append(no_secrets(records, extra_secrets))
    if cfg.judge.enabled and cfg.judge.self_check.enabled:
        from dlgforge_core.judge.self_check import self_check_gate

        fresh += self_check_gate(cfg)  # none until a self-check ran
    for outcome in fresh:
        record_gate(cfg, outcome, partition="export")
    names = {outcome.name for outcome in fresh}
    recorded = [GateOutcome(name, rec.passed, rec.description, list(rec.offending))
                for name, rec in sorted(read_gates(cfg).items()) if name not in names]
    return fresh + recorded


def gate_message(failures: list[GateOutcome], shown: int = 3) -> str:
    """One line naming each failing gate and its first offending records."""
    parts = []
    for outcome in failures:
        first = "; ".join(outcome.offending[:shown])
        more = f" (+{len(outcome.offending) - shown} more)" if len(outcome.offending) > shown else ""
        parts.append(f"gate {outcome.name} failed: {outcome.description}"
                     + (f" [{first}{more}]" if first else ""))
    return " | ".join(parts)


def _turn_bounds(cfg: Any) -> tuple[int, int]:
    if cfg.run.n_turns is not None:
        return cfg.run.n_turns, cfg.run.n_turns
    return cfg.run.min_turns, cfg.run.max_turns
