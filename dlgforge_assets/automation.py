"""Jobs per stage, the regeneration schedule and the KB/config change sensor.

The schedule and the sensor start STOPPED; turn them on in the UI (Automation) or with
`dagster schedule start regeneration_schedule` / `dagster sensor start kb_change_sensor`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import dagster as dg

KB_JOB = "kb_job"
CONVERSATIONS_JOB = "conversations_job"
EXPORT_JOB = "export_job"
PUBLISH_JOB = "publish_job"

EXPORT_ASSETS = ["judged_conversations", "sharegpt_export", "dataset_stats", "dataset_export"]


def build_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    """One job per stage; the conversations job takes the language partitions of its asset."""
    return [
        dg.define_asset_job(
            KB_JOB,
            selection=dg.AssetSelection.assets("kb_documents", "kb_index"),
            description="Observe the KB folder and update the LanceDB index.",
        ),
        dg.define_asset_job(
            CONVERSATIONS_JOB,
            selection=dg.AssetSelection.assets("conversations"),
            description="Generate (or resume) the conversations of one language partition.",
        ),
        dg.define_asset_job(
            EXPORT_JOB,
            selection=dg.AssetSelection.assets(*EXPORT_ASSETS),
            description="Offline judge, quality checks, ShareGPT files, stats and the export folder.",
        ),
        dg.define_asset_job(
            PUBLISH_JOB,
            selection=dg.AssetSelection.assets("hf_dataset"),
            description="Push the export folder to the Hub (refused while a quality gate failed).",
        ),
    ]


def build_schedule(cron: str, languages: Sequence[str]) -> dg.ScheduleDefinition:
    """Periodic regeneration: one conversations run per language (a complete one is a no-op)."""

    @dg.schedule(
        name="regeneration_schedule",
        cron_schedule=cron,
        job_name=CONVERSATIONS_JOB,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Regenerate every language partition on `automation.schedule_cron`.",
    )
    def regeneration_schedule(context: dg.ScheduleEvaluationContext):
        stamp = context.scheduled_execution_time.isoformat()
        return [dg.RunRequest(run_key=f"{language}-{stamp}", partition_key=language) for language in languages]

    return regeneration_schedule


def build_sensor(
    config_path: str, languages: Sequence[str], interval_s: int, jobs: Sequence[dg.UnresolvedAssetJobDefinition]
) -> dg.SensorDefinition:
    """A sensor on the KB folder's content hash and the config hash (kept in its cursor).

    KB changed: request `kb_index` and every conversation partition. Config changed only:
    request the conversation partitions. Unchanged: skip.
    """

    @dg.sensor(
        name="kb_change_sensor",
        jobs=[job for job in jobs if job.name in (KB_JOB, CONVERSATIONS_JOB)],
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Watches the KB content hash and the config hash; requests the affected assets.",
    )
    def kb_change_sensor(context: dg.SensorEvaluationContext):
        from dlgforge_core.config import load_config
        from dlgforge_core.kb import kb_fingerprint
        from dlgforge_core.kb.ingest_rules import IngestRules

        cfg = load_config(config_path)
        current = {"kb": kb_fingerprint(cfg.knowledge_dir, IngestRules.from_config(cfg)), "config": cfg.config_hash}
        previous = json.loads(context.cursor) if context.cursor else {}
        if previous == current:
            return dg.SkipReason("KB folder and config unchanged")
        tag = f"{current['kb'][:12]}-{current['config'][:12]}"
        requests = []
        if previous.get("kb") != current["kb"]:
            requests.append(dg.RunRequest(run_key=f"kb-{tag}", job_name=KB_JOB))
        requests += [
            dg.RunRequest(run_key=f"{language}-{tag}", job_name=CONVERSATIONS_JOB, partition_key=language)
            for language in languages
        ]
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True))

    return kb_change_sensor
