"""Export stage: ShareGPT files, stats, the export folder and the Hub dataset."""

import tempfile
from pathlib import Path
from typing import Any

import dagster as dg

from dlgforge_assets.metadata import content_version, file_digest, svg_markdown, table_from_rows
from dlgforge_core.errors import GateError
from resources import DlgforgeConfigResource, HubResource, StoreResource

EXPORT_GROUP = "export"
SHAREGPT_FILES = ("conversations_sharegpt.jsonl", "conversations_sharegpt_judged.jsonl")


@dg.asset(deps=["judged_conversations"], group_name=EXPORT_GROUP, kinds={"jsonl"})
def sharegpt_export(dlgforge_config: DlgforgeConfigResource, store: StoreResource) -> dg.MaterializeResult:
    """The ShareGPT JSONL files (plain and judged) of every accepted conversation.

    Reads: `synthetic_qa.jsonl`. Writes: `conversations_sharegpt.jsonl` and, when judging
    ran, `conversations_sharegpt_judged.jsonl`, repaired to agree with the accepted records.
    Resume: derived from the records, so re-running is cheap and idempotent.
    """
    cfg = dlgforge_config.load()
    output = store.open(cfg)
    output.reconcile()
    metadata: dict[str, Any] = {}
    digests = []
    for name in SHAREGPT_FILES:
        path = output.path(name)
        key = name.removesuffix(".jsonl").removeprefix("conversations_")
        metadata[f"{key}_rows"] = _count_lines(path)
        if path.exists():
            metadata[f"{key}_path"] = dg.MetadataValue.path(str(path))
        digests.append(file_digest(path))
    return dg.MaterializeResult(metadata=metadata, data_version=content_version(digests))


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


@dg.asset(deps=[sharegpt_export], group_name=EXPORT_GROUP, kinds={"polars", "json"})
def dataset_stats(
    context: dg.AssetExecutionContext, dlgforge_config: DlgforgeConfigResource, store: StoreResource
) -> dg.MaterializeResult:
    """Dataset statistics computed with Polars from the accepted records and exports.

    Reads: the records, run state (drop reasons) and KB. Writes: the stats JSON
    (`saving.hf_push.stats_file`). Metadata: the stats as JSON, a per-language table and
    the plots inline (SVG). Resume: recomputed from the files each time.
    """
    from dlgforge_assets.stats_table import language_table  # Polars: loaded when stats are made
    from dlgforge_core.export import compute_stats
    from dlgforge_core.export.stats import stats_path

    cfg = dlgforge_config.load()
    output = store.open(cfg)
    records = list(output.accepted_records())
    stats = compute_stats(cfg, records=records)
    rows = language_table(output.path("synthetic_qa.jsonl"))
    metadata: dict[str, Any] = {
        "stats": dg.MetadataValue.json(_jsonable(stats)),
        "by_language": table_from_rows(rows),
        "stats_file": dg.MetadataValue.path(str(stats_path(cfg))),
    }
    if cfg.saving.hf_push.generate_plots and records:
        metadata["plots"] = dg.MetadataValue.md(_plots_markdown(stats, records))
    context.log.info(f"dataset_stats: {len(records)} records, {len(rows)} languages")
    return dg.MaterializeResult(
        metadata=metadata, data_version=content_version([file_digest(output.path("synthetic_qa.jsonl"))])
    )


def _plots_markdown(stats: dict, records: list[dict]) -> str:
    """Render the export's plots into a scratch folder and inline them as Markdown."""
    from dlgforge_core.export.plots import render_plots

    with tempfile.TemporaryDirectory(prefix="dlgforge-plots-") as scratch:
        return svg_markdown(render_plots(stats, records, Path(scratch)))


@dg.asset(deps=[dataset_stats], group_name=EXPORT_GROUP, kinds={"folder"})
def dataset_export(context: dg.AssetExecutionContext, dlgforge_config: DlgforgeConfigResource) -> dg.Output:
    """The export folder (`saving.hf_push.export_dir` inside the output folder).

    Reads: records, ShareGPT files, stats, plots. Writes: the folder (data files, card,
    manifest with dataset version and parent version), swapped in atomically. Resume: an
    unchanged dataset gets the same version hash. Its value (the ExportResult) feeds
    `hf_dataset`.
    """
    from dlgforge_core.export import prepare_export

    cfg = dlgforge_config.load()
    result = prepare_export(cfg)
    files = [str(name) for name in result.files]
    context.log.info(f"dataset_export: {len(files)} files in {result.export_dir}, version {result.version}")
    return dg.Output(
        result,
        metadata={
            "export_dir": dg.MetadataValue.path(str(result.export_dir)),
            "files": dg.MetadataValue.json(files),
            "version": str(result.version),
            "parent_version": str(result.parent_version or "-"),
            "regressions": dg.MetadataValue.json(_jsonable(result.regressions or [])),
            "gate_failures": dg.MetadataValue.json(_jsonable(result.gate_failures or [])),
        },
        data_version=dg.DataVersion(str(result.version)),
    )


def _jsonable(value: Any) -> Any:
    """Plain JSON data for metadata (GateOutcome and other objects via to_dict/str)."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    return str(value)


@dg.asset(group_name=EXPORT_GROUP, kinds={"huggingface"})
def hf_dataset(
    context: dg.AssetExecutionContext,
    dlgforge_config: DlgforgeConfigResource,
    hub: HubResource,
    dataset_export,
) -> dg.MaterializeResult:
    """The dataset on the Hugging Face Hub (`saving.hf_push.repo_id`).

    Reads: the prepared export folder and the recorded quality gates. Writes: one Hub commit
    with the whole folder. Refuses (GateError) while any recorded gate failed, because a
    failed blocking check still leaves upstream partitions marked materialized.
    `dlgforge run` materializes it only with `saving.hf_push.auto_push_on_run: true`.
    """
    from dlgforge_core.store.gates import failed_gates

    cfg = dlgforge_config.load()
    failed = failed_gates(cfg)
    if failed:
        name, record = next(iter(failed.items()))
        raise GateError(f"quality gate {name} failed: {record.description}; push refused")
    result = hub.push(cfg, dataset_export)
    context.log.info(f"hf_dataset: pushed to {result.url}")
    return dg.MaterializeResult(
        metadata={"url": dg.MetadataValue.url(str(result.url)), "commit": str(result.commit)}
    )
