"""`dlgforge run` through Dagster: materialize the stage jobs in-process, in order.

One run for the KB assets, one per language partition, then the export assets (and the
push when `saving.hf_push.auto_push_on_run`). Every run is recorded in the persistent
instance, so a CLI run shows up in `dagster dev` with its partitions and metadata.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from dlgforge_assets.automation import CONVERSATIONS_JOB, EXPORT_JOB, KB_JOB, PUBLISH_JOB
from dlgforge_assets.build import build_definitions
from dlgforge_assets.instance import dagster_home_for, open_instance
from dlgforge_core.errors import ConfigError, DlgforgeError, GateError
from dlgforge_core.llm.vllm_managed import managed_llm

# The CLI user did not write these APIs' call sites: Dagster's beta/preview notices are noise
# on their terminal (the UI and `dagster` commands still show them to developers).
for _category in (dg.BetaWarning, dg.PreviewWarning):
    warnings.filterwarnings("ignore", category=_category)

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
_DATA_VERSION_TAG = "dagster/data_version"  # where a materialization records its data version


class RunFailed(Exception):
    """A Dagster run failed for a reason other than a user error; the message is one line."""


class LanguageIncomplete(RunFailed):
    """A language partition stopped short of its target; `metadata` is what it recorded."""

    def __init__(self, message: str, metadata: dict[str, Any]) -> None:
        super().__init__(message)
        self.metadata = metadata


def run_through_dagster(config_path: Path, echo: Callable[[str], None] = print) -> list[Any]:
    """Materialize the whole graph for `config_path`, print the summary, return the summaries.

    The summary is printed even when the export run fails (a blocking check), since the
    generated outputs are written by then.
    """
    from dlgforge_core.config import load_config
    from dlgforge_core.generation.summary import format_summary

    cfg = load_config(config_path)
    defs = build_definitions(cfg.config_path, echo_progress=True)
    home = dagster_home_for(cfg.base_dir)
    with open_instance(home) as instance, contextlib.ExitStack() as scope:
        echo(f"dagster instance: {home}")
        current = _kb_index_current(cfg, instance)
        if current:
            echo(f"kb_index: up to date (index version {current}), not materialized again")
        else:
            _execute(defs, KB_JOB, instance)
        scope.enter_context(managed_llm(cfg, echo=echo))  # vllm_managed: servers for every job
        summaries, incomplete = [], []
        for language in cfg.run.target_languages:
            try:
                result = _execute(defs, CONVERSATIONS_JOB, instance, partition_key=language)
            except LanguageIncomplete as err:
                incomplete.append(str(err))
                summaries.append(_summary_from(err.metadata))
                continue
            materialization = result.get_asset_materialization_events()[0].materialization
            summary = _summary_from(materialization.metadata)
            summaries.append(summary)
            if not summary.complete and not summary.budget_exhausted:
                echo(f"warning: {language}: {summary.accepted_total}/{summary.target} accepted; "
                     f"stopped on {summary.status} (see the drop reasons in the summary)")
        try:
            exported = _execute(defs, EXPORT_JOB, instance)
            from dlgforge_core.store.gates import failed_gates

            refused = failed_gates(cfg)
            for evaluation in exported.get_asset_check_evaluations():
                if not evaluation.passed:
                    echo(f"warning: check {evaluation.check_name} failed: {evaluation.description}"
                         + (" (the push refuses until it passes)" if evaluation.check_name in refused else ""))
            if cfg.judge.enabled and cfg.judge.mode == "offline":
                _refresh_judge_scores(cfg, summaries)
            if cfg.saving.hf_push.auto_push_on_run:
                _execute(defs, PUBLISH_JOB, instance)
        finally:
            echo(format_summary(summaries, cfg))
    if incomplete:
        raise RunFailed("; ".join(incomplete))
    return summaries


def _kb_index_current(cfg: Any, instance: dg.DagsterInstance) -> str | None:
    """The index version when the KB folder, settings and index are as `kb_index`'s latest
    materialization in this instance left them (a build would change nothing); else None.

    A KB job on an unchanged index only records that nothing changed, and its Dagster run
    costs a run's bookkeeping (~0.4 s) at the start of every `dlgforge run`.
    """
    from dlgforge_core.kb import KnowledgeBase

    try:
        knowledge = KnowledgeBase(cfg)
        left_out = knowledge.unchanged_build()
        if left_out is None:
            return None
        version = knowledge.index_version
    except Exception:  # noqa: BLE001 - whatever it is, the KB job reports it with its run
        return None
    event = instance.get_latest_materialization_event(dg.AssetKey("kb_index"))
    materialization = event.asset_materialization if event is not None else None
    if materialization is None or materialization.tags.get(_DATA_VERSION_TAG) != version:
        return None
    recorded = materialization.metadata.get("skipped")
    if getattr(recorded, "value", None) != left_out:  # a file newly left out (or back in)
        return None
    return version


def _execute(
    defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, partition_key: str | None = None
) -> dg.ExecuteInProcessResult:
    """Run one job in-process; turn a failure into the error the user should see."""
    try:
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, partition_key=partition_key, run_config=QUIET_LOGS, raise_on_error=False
        )
    except dg.DagsterInvalidConfigError as err:
        missing = re.search(r'environment variable "([^"]+)" which is not set', str(err))
        if missing:
            raise ConfigError(f"{missing.group(1)}: environment variable is not set; {job_name} needs it") from None
        raise
    if not result.success:
        _raise_failure(result, job_name)
    return result


def _raise_failure(result: dg.ExecuteInProcessResult, job_name: str) -> None:
    """Failed blocking checks -> GateError; a user error in an asset -> that DlgforgeError."""
    failed_checks = [e for e in result.get_asset_check_evaluations()
                     if not e.passed and e.severity != dg.AssetCheckSeverity.WARN]
    for event in result.get_step_failure_events():
        _raise_step_error(event)
    if failed_checks:
        names = ", ".join(e.check_name for e in failed_checks)
        descriptions = "; ".join(f"{e.check_name}: {e.description}" for e in failed_checks)
        raise GateError(
            f"quality checks failed ({names}): {descriptions}; outputs are written, export and push were blocked"
        )
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            root = error.cause or error
            user_error = _as_dlgforge_error(root.message)
            if user_error is not None:
                raise user_error
            raise RunFailed(f"{job_name}: {root.message.strip().splitlines()[0]}")
    raise RunFailed(f"{job_name}: Dagster run {result.run_id} failed")


def _raise_step_error(event: dg.DagsterEvent) -> None:
    data = event.step_failure_data
    if data.user_failure_data is not None:
        message = data.user_failure_data.description or f"{event.step_key} failed"
        if "accepted" in data.user_failure_data.metadata:
            raise LanguageIncomplete(message, dict(data.user_failure_data.metadata))
        raise RunFailed(message)
    error = data.error.cause or data.error
    user_error = _as_dlgforge_error(error.message)
    if user_error is not None:
        raise user_error
    if error.cls_name == "DagsterAssetCheckFailedError":
        return
    raise RunFailed(f"{event.step_key} failed:\n{data.error.to_string()}")


def _as_dlgforge_error(message: str) -> DlgforgeError | None:
    """Rebuild `module.ClassName: text` as that DlgforgeError subclass, when it is one."""
    head, _, text = message.partition(": ")
    module_name, _, class_name = head.rpartition(".")
    if not module_name.startswith("dlgforge"):
        return None
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return None
    if not (isinstance(cls, type) and issubclass(cls, DlgforgeError)):
        return None
    text = text.strip().splitlines()[0] if text.strip() else class_name
    try:
        return cls(text)
    except TypeError:
        return DlgforgeError(text)


def _summary_from(recorded: dict[str, Any]) -> Any:
    """The LanguageSummary the `conversations` asset recorded in its metadata."""
    from dlgforge_core.generation.summary import LanguageSummary

    metadata = {k: getattr(v, "value", v) for k, v in recorded.items()}
    return LanguageSummary(
        language=metadata["language"],
        run_id=metadata["run_id"],
        target=metadata["target"],
        accepted_total=metadata["accepted"],
        accepted_new=metadata["accepted_new"],
        dropped_by_reason=dict(metadata["dropped_by_reason"]),
        usage_by_agent=dict(metadata["tokens_by_agent"]),
        llm_calls=metadata["llm_calls"],
        cached_calls=metadata["cached_calls"],
        mean_judge_score=metadata.get("mean_judge_score"),
        budget_exhausted=metadata["budget_exhausted"],
        complete=metadata["complete"],
        preview_conversation_id=metadata.get("preview_conversation_id"),
        status=metadata.get("status", "complete"),
        budget_reason=metadata.get("budget_reason"),
        guards=dict(metadata.get("guards") or {}),
    )


def _refresh_judge_scores(cfg: Any, summaries: list[Any]) -> None:
    """After the offline judge, the mean judge score per language comes from the records."""
    from dlgforge_core.export.checks import judge_scores
    from dlgforge_core.store.outputs import OutputStore

    store = OutputStore(cfg)
    for summary in summaries:
        scores = judge_scores(store.accepted_records(run_id=summary.run_id, language=summary.language))
        summary.mean_judge_score = sum(scores) / len(scores) if scores else None
