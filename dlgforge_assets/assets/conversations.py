"""Generation stage: conversations per language partition, then the offline judge."""

import asyncio
from typing import TYPE_CHECKING, Any

import dagster as dg

from dlgforge_assets.metadata import content_version, conversation_preview
from dlgforge_core.errors import ConfigError
from resources import (
    DlgforgeConfigResource,
    KBResource,
    LLMBackendResource,
    ProgressResource,
    StoreResource,
)

if TYPE_CHECKING:
    from dlgforge_core.config import DlgforgeConfig

GENERATION_GROUP = "generation"
LLM_POOL = "llm"


def _generate(cfg: "DlgforgeConfig", language: str, llm: LLMBackendResource, kb: KBResource, report,
              context, ray: Any = None) -> tuple[Any, Any]:
    """Run the engine for one language with the resources' client and knowledge base, or its
    shards on Ray (`run.distributed.enabled`: on the Ray the `ray` resource connected), after
    the judge self-check when judging online; returns (summary, self-check result or None).
    Both run against the endpoints `vllm_managed` serves for this run (or `dlgforge run`'s)."""
    from dlgforge_core.llm.vllm_managed import managed_llm

    with managed_llm(cfg) as served:
        check = _self_check(served, llm, kb, context) if served.judge.mode == "online" else None
        return _generate_on(served, language, llm, kb, report, ray), check


def _generate_on(cfg: "DlgforgeConfig", language: str, llm: LLMBackendResource, kb: KBResource, report,
                 ray: Any = None) -> Any:
    from dlgforge_core.generation.engine import generate_language

    if cfg.run.distributed.enabled:
        from dlgforge_core.generation.distributed import run_language_distributed
        from resources.ray import require_connected

        return run_language_distributed(cfg, language, progress=report,
                                        ray_connection=lambda: require_connected(ray))

    knowledge = kb.open(cfg)

    async def _run():
        client = llm.build_client(cfg)
        try:
            return await generate_language(cfg, language, llm=client, kb=knowledge, progress=report)
        finally:
            await client.aclose()

    return asyncio.run(_run())


def _warming_export(cfg: "DlgforgeConfig", report):
    """``report``, which also starts importing the export's libraries in the background once
    the first conversation is accepted (``dlgforge_core.export.warm``): the run waits on the
    endpoint then, and the export after the last answer does not wait for those imports."""
    from dlgforge_core.export.warm import warm_export_libraries

    def reporting(accepted: int, target: int, rate: float, eta: float | None) -> None:
        if rate > 0:  # this run accepted a conversation (not a resumed count)
            warm_export_libraries(cfg)
        report(accepted, target, rate, eta)

    return reporting


def _preview(store, language: str, run_id: str, conversation_id: str | None) -> str:
    for record in store.accepted_records(run_id=run_id, language=language):
        if conversation_id is None or record["conversation_id"] == conversation_id:
            return conversation_preview(record)
    return "_no accepted conversation yet_"


def _language_version(store, language: str, run_id: str) -> dg.DataVersion:
    ids = sorted(r["conversation_id"] for r in store.accepted_records(run_id=run_id, language=language))
    return content_version([language, run_id, *ids])


def build_conversations_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The `conversations` asset over the given language partitions."""

    @dg.asset(
        name="conversations",
        deps=["kb_index"],
        partitions_def=partitions_def,
        group_name=GENERATION_GROUP,
        kinds={"python", "jsonl"},
        pool=LLM_POOL,
    )
    def conversations(
        context: dg.AssetExecutionContext,
        dlgforge_config: DlgforgeConfigResource,
        llm: LLMBackendResource,
        kb: KBResource,
        store: StoreResource,
        progress: ProgressResource,
        ray: dg.ResourceParam[Any],  # dagster-ray's resource, or RayNotUsed (resources/ray_slot.py)
    ) -> dg.MaterializeResult:
        """Accepted conversations of one language (partition key = language code).

        Reads: the KB index, personas, seed topics, the config. Writes: the output folder
        (`synthetic_qa.jsonl`, `conversations/`, `turns.jsonl`, ShareGPT files, run state,
        logs). Resume: generates until the language has `run.total_samples` accepted
        conversations for the run id, continuing from the checkpoint after a failure and
        never regenerating an accepted conversation; a complete partition is a no-op with
        zero LLM calls. With `run.distributed.enabled`, the language's shards run as Ray
        tasks on the Ray the `ray` resource connected to (otherwise it does nothing); with
        the PostgreSQL store they write only to the database and this asset writes the folder. Fails (after writing what it accepted) when it stops short of the
        target for any reason other than the token budget.
        """
        cfg = dlgforge_config.load()
        language = context.partition_key
        if language not in cfg.run.target_languages:
            raise ConfigError(
                f"run.target_languages: partition {language!r} is not in {cfg.run.target_languages}"
            )
        summary, check = _generate(cfg, language, llm, kb,
                                   _warming_export(cfg, progress.reporter(context.log, language)),
                                   context, ray)
        output = store.open(cfg)
        dropped = dict(summary.dropped_by_reason)
        metadata: dict[str, Any] = {
            "language": language,
            "run_id": summary.run_id,
            "accepted": summary.accepted_total,
            "accepted_new": summary.accepted_new,
            "target": summary.target,
            "complete": bool(summary.complete),
            "status": summary.status,
            "dropped": sum(dropped.values()),
            "dropped_by_reason": dg.MetadataValue.json(dropped),
            "guards": dg.MetadataValue.json(summary.guards),
            "tokens_by_agent": dg.MetadataValue.json(summary.usage_by_agent),
            "total_tokens": _total_tokens(summary.usage_by_agent),
            "llm_calls": summary.llm_calls,
            "cached_calls": summary.cached_calls,
            "budget_exhausted": bool(summary.budget_exhausted),
            "preview": dg.MetadataValue.md(
                _preview(output, language, summary.run_id, summary.preview_conversation_id)
            ),
            "path": dg.MetadataValue.path(str(output.path("synthetic_qa.jsonl"))),
        }
        metadata.update(_self_check_metadata(check))
        if summary.budget_reason:
            metadata["budget_reason"] = summary.budget_reason
        if summary.preview_conversation_id:
            metadata["preview_conversation_id"] = summary.preview_conversation_id
        if summary.mean_judge_score is not None:
            metadata["mean_judge_score"] = float(summary.mean_judge_score)
        # A shortfall caused by endpoint failures fails the partition, so that it stays
        # unmaterialized and a re-run resumes; one caused by the content (every retry a
        # duplicate, say) is a finished partition that reports what it could not reach.
        if not summary.complete and not summary.budget_exhausted and dropped.get("llm_error"):
            raise dg.Failure(
                description=(
                    f"conversations[{language}]: {summary.accepted_total}/{summary.target} accepted; "
                    f"stopped early ({summary.status}; dropped: {dropped or 'none'}); re-materialize to resume"
                ),
                metadata=metadata,
            )
        return dg.MaterializeResult(
            metadata=metadata, data_version=_language_version(output, language, summary.run_id)
        )

    return conversations


def _self_check(cfg: "DlgforgeConfig", llm: LLMBackendResource, kb: KBResource, context) -> Any:
    """The judge self-check before online judging (stored: one per judge, KB and seed)."""
    from dlgforge_core.judge.self_check import ensure_self_check

    return ensure_self_check(cfg, make_client=lambda: llm.build_client(cfg), kb=kb.open(cfg),
                             echo=context.log.info)


def _self_check_metadata(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    metadata: dict[str, Any] = {
        "judge_self_check": dg.MetadataValue.json(result.model_dump(exclude={"checked_at"})),
        "judge_self_check_verdict": result.verdict,
    }
    if result.accuracy is not None:
        metadata["judge_self_check_accuracy"] = float(result.accuracy)
    return metadata


def _total_tokens(usage_by_agent: dict[str, dict[str, int]]) -> int:
    return sum(
        int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
        for usage in usage_by_agent.values()
    )


@dg.asset(
    deps=["conversations"],
    group_name=GENERATION_GROUP,
    kinds={"python", "jsonl"},
    pool=LLM_POOL,
)
def judged_conversations(
    context: dg.AssetExecutionContext, dlgforge_config: DlgforgeConfigResource, store: StoreResource
) -> dg.MaterializeResult:
    """Every accepted conversation, judged when `judge.mode: offline`.

    Reads: `synthetic_qa.jsonl` and the KB chunks the answers were grounded on. Writes (offline
    mode): judge fields in the records, `turns.jsonl`, `conversations_sharegpt_judged.jsonl`,
    `logs/judge.log`, atomically. Resume: records already judged with the same judge settings
    are skipped. With the judge off or online (judged inside `conversations`) it is a
    pass-through that reconciles the derived files. The quality checks run on this asset.
    """
    from dlgforge_core.export.checks import judge_scores

    cfg = dlgforge_config.load()
    output = store.open(cfg)
    metadata: dict[str, Any] = {"judge_mode": cfg.judge.mode if cfg.judge.enabled else "off"}
    if cfg.judge.enabled and cfg.judge.mode == "offline":
        from dlgforge_core.judge.offline import run_offline_judge
        from dlgforge_core.llm.vllm_managed import managed_llm

        with managed_llm(cfg) as served:
            summary = run_offline_judge(served, echo=context.log.info)
        metadata.update(judged=summary.judged, skipped=summary.skipped, failed=summary.failed)
    else:
        output.reconcile()
    if cfg.judge.enabled and cfg.judge.self_check.enabled:
        from dlgforge_core.judge.self_check import load_result

        metadata.update(_self_check_metadata(load_result(cfg)))
    records = list(output.accepted_records())
    scores = judge_scores(records)
    metadata["records"] = len(records)
    metadata["languages"] = dg.MetadataValue.json(sorted({r["language"] for r in records}))
    if scores:
        metadata["mean_judge_score"] = sum(scores) / len(scores)
    metadata["path"] = dg.MetadataValue.path(str(output.path("synthetic_qa.jsonl")))
    return dg.MaterializeResult(
        metadata=metadata,
        data_version=content_version(sorted(r["conversation_id"] for r in records) + [str(scores)]),
    )
