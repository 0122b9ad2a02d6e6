"""Quality checks on `judged_conversations`, gating the export and the push.

Each check runs a core gate over every accepted record and records the outcome with
`record_gate`, where `hf_dataset` and `dlgforge push` read it. The data-integrity checks
block the export; the PII and language checks warn (the local export still happens, and
`saving.hf_push.redact_pii` can clean it) but a failure still blocks the push. The secrets
check blocks (unless `saving.hf_push.redact_secrets` will clean the export); the judge
self-check warns, or blocks with `judge.self_check.blocking`.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

import dagster as dg

from dlgforge_core.export import checks as gates
from resources import DlgforgeConfigResource, StoreResource

if TYPE_CHECKING:
    from dlgforge_core.config import DlgforgeConfig
    from dlgforge_core.export.checks import GateOutcome

CHECKED_ASSET = "judged_conversations"
SHOWN_OFFENDING = 20


def _result(cfg: "DlgforgeConfig", outcome: "GateOutcome", severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    """Record the outcome for the push, then report it to Dagster."""
    from dlgforge_core.store.gates import record_gate

    record_gate(cfg, outcome)
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata={
            "offending_count": len(outcome.offending),
            "offending": dg.MetadataValue.json(outcome.offending[:SHOWN_OFFENDING]),
        },
    )


def _records(cfg: "DlgforgeConfig", store: StoreResource) -> list[dict]:
    return list(store.open(cfg).accepted_records())


def _turn_bounds(cfg: "DlgforgeConfig") -> tuple[int, int]:
    if cfg.run.n_turns:
        return cfg.run.n_turns, cfg.run.n_turns
    return cfg.run.min_turns, cfg.run.max_turns


def _drops(cfg: "DlgforgeConfig") -> tuple[int, dict[str, int]]:
    """Accepted and dropped-by-reason counts of the current run id, from its checkpoints."""
    from dlgforge_core.store.run_state import RunStateStore

    states = RunStateStore(cfg.output_dir)
    accepted, dropped = 0, {}
    for language in cfg.run.target_languages:
        for state in states.of_language(cfg.run.effective_run_id, language):  # one per shard
            accepted += state.accepted
            for reason, count in state.dropped_by_reason().items():
                dropped[reason] = dropped.get(reason, 0) + count
    return accepted, dropped


def _pii(cfg: "DlgforgeConfig", store: StoreResource) -> "GateOutcome":
    from dlgforge_core.export.pii import no_pii

    if not cfg.quality.pii_check:
        return gates.GateOutcome("no_pii", True, "skipped: quality.pii_check is false")
    return no_pii(_records(cfg, store))


def _language(cfg: "DlgforgeConfig", store: StoreResource) -> "GateOutcome":
    from dlgforge_core.export.language import target_language

    if not cfg.quality.language_check:
        return gates.GateOutcome("target_language", True, "skipped: quality.language_check is false")
    return target_language(_records(cfg, store))


def _secrets(cfg: "DlgforgeConfig", store: StoreResource) -> "GateOutcome":
    from dlgforge_core.export.secrets import no_secrets

    if not cfg.quality.secrets_check:
        return gates.GateOutcome("no_secrets", True, "skipped: quality.secrets_check is false")
    outcome = no_secrets(_records(cfg, store))
    if outcome.passed or not cfg.saving.hf_push.redact_secrets:
        return outcome
    return gates.GateOutcome("no_secrets", True, f"{len(outcome.offending)} texts hold secrets; "
                             "saving.hf_push.redact_secrets replaces them in the export", outcome.offending)


def _check(
    name: str,
    description: str,
    gate: Callable[["DlgforgeConfig", StoreResource], "GateOutcome"],
    blocking: bool = True,
):
    severity = dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN

    @dg.asset_check(asset=CHECKED_ASSET, name=name, blocking=blocking, description=description)
    def _run(dlgforge_config: DlgforgeConfigResource, store: StoreResource) -> dg.AssetCheckResult:
        cfg = dlgforge_config.load()
        return _result(cfg, gate(cfg, store), severity)

    return _run


schema_valid_check = _check(
    "schema_valid",
    "Every accepted record has ids, a language and non-empty turns matching n_turns.",
    lambda cfg, store: gates.schema_valid(_records(cfg, store)),
)
unique_questions_check = _check(
    "unique_questions",
    "No two user questions are equal after lowercasing and collapsing whitespace.",
    lambda cfg, store: gates.unique_questions(_records(cfg, store)),
)
turn_counts_check = _check(
    "turn_counts_in_bounds",
    "Every conversation has between run.min_turns and run.max_turns turns (or run.n_turns).",
    lambda cfg, store: gates.turn_counts_in_bounds(_records(cfg, store), *_turn_bounds(cfg)),
)
judge_score_check = _check(
    "judge_score_threshold",
    "The mean judge score is at least judge.min_mean_score (passes when it is not set).",
    lambda cfg, store: gates.judge_score_threshold(_records(cfg, store), cfg.judge.min_mean_score),
)
drop_rate_check = _check(
    "drop_rate",
    "Dropped / attempted conversations of the run is at most quality.max_drop_rate.",
    lambda cfg, store: gates.drop_rate(*_drops(cfg), cfg.quality.max_drop_rate),
)

no_pii_check = _check(
    "no_pii",
    "No email, phone, card, IBAN, IP address or national id in any message (quality.pii_check).",
    _pii,
    blocking=False,
)
target_language_check = _check(
    "target_language",
    "Messages are in their conversation's language (quality.language_check).",
    _language,
    blocking=False,
)

no_secrets_check = _check(
    "no_secrets",
    "No API key, private key, token or password in any message (detect-secrets; quality.secrets_check).",
    _secrets,
)


@dg.asset_check(
    asset=CHECKED_ASSET, name="judge_self_check", blocking=True,
    description="The judge ranks a KB-grounded answer above an unrelated one on contrastive probes "
                "(judge.self_check.min_accuracy); warns, or blocks with judge.self_check.blocking.",
)
def judge_self_check_check(dlgforge_config: DlgforgeConfigResource) -> dg.AssetCheckResult:
    from dlgforge_core.judge.self_check import load_result, self_check_gate
    from dlgforge_core.store.gates import record_gate

    cfg = dlgforge_config.load()
    result = load_result(cfg) if cfg.judge.enabled and cfg.judge.self_check.enabled else None
    if result is None:
        return dg.AssetCheckResult(passed=True, description="no judge self-check ran (judge or "
                                   "judge.self_check off, or no KB chunks to probe)")
    (outcome,) = self_check_gate(cfg)
    record_gate(cfg, outcome)
    good = outcome.passed and not outcome.description.startswith("warning:")
    blocking = cfg.judge.self_check.blocking
    return dg.AssetCheckResult(
        passed=good,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={"accuracy": float(result.accuracy) if result.accuracy is not None else -1.0,
                  "probes": result.probes, "constant_judge": result.constant,
                  "verdict": result.verdict},
    )


QUALITY_CHECKS = [
    schema_valid_check,
    unique_questions_check,
    turn_counts_check,
    judge_score_check,
    drop_rate_check,
    no_pii_check,
    target_language_check,
    no_secrets_check,
    judge_self_check_check,
]
