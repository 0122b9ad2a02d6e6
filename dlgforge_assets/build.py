"""`build_definitions(config_path)`: the whole Dagster graph for one dlgforge config."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dlgforge_assets.assets.conversations import build_conversations_asset, judged_conversations
from dlgforge_assets.assets.export import dataset_export, dataset_stats, hf_dataset, sharegpt_export
from dlgforge_assets.assets.kb import kb_documents, kb_index
from dlgforge_assets.automation import build_jobs, build_schedule, build_sensor
from dlgforge_assets.checks import QUALITY_CHECKS
from dlgforge_assets.project import ProjectShape, read_shape
from resources import (
    DlgforgeConfigResource,
    HubResource,
    KBResource,
    ProgressResource,
    StoreResource,
    llm_resource_for,
    ray_resource_for,
)


def language_partitions(languages: list[str]) -> dg.StaticPartitionsDefinition:
    """One partition per `run.target_languages` entry: a new language is a new partition."""
    return dg.StaticPartitionsDefinition(list(languages))


def build_resources(shape: ProjectShape, echo_progress: bool = False) -> dict[str, object]:
    """The resources every asset of this code location uses."""
    return {
        "dlgforge_config": DlgforgeConfigResource(config_path=str(shape.config_path)),
        "llm": llm_resource_for(shape.llm_backend),
        "kb": KBResource(),
        "store": StoreResource(),
        "progress": ProgressResource(echo=echo_progress),
        "hub": HubResource(token=dg.EnvVar("HF_TOKEN")),
        "ray": ray_resource_for(shape.ray_address, shape.ray_num_cpus, connect=shape.distributed),
    }


def build_assets(languages: list[str]) -> list:
    """Every asset of the graph, with `conversations` partitioned over `languages`."""
    return [
        kb_documents,
        kb_index,
        build_conversations_asset(language_partitions(languages)),
        judged_conversations,
        sharegpt_export,
        dataset_stats,
        dataset_export,
        hf_dataset,
    ]


def build_definitions(config_path: str | Path, echo_progress: bool = False) -> dg.Definitions:
    """Everything Dagster needs for the config at `config_path` (read from local disk)."""
    shape = read_shape(Path(config_path).expanduser().resolve())
    jobs = build_jobs()
    return dg.Definitions(
        assets=build_assets(shape.languages),
        asset_checks=QUALITY_CHECKS,
        jobs=jobs,
        schedules=[build_schedule(shape.schedule_cron, shape.languages)],
        sensors=[build_sensor(str(shape.config_path), shape.languages, shape.sensor_interval_s, jobs)],
        resources=build_resources(shape, echo_progress),
    )
