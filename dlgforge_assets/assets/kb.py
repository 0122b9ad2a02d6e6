"""Knowledge-base stage: the KB folder (observed) and its LanceDB index."""

import warnings

import dagster as dg

from resources import DlgforgeConfigResource, KBResource

KB_GROUP = "knowledge_base"

warnings.filterwarnings("ignore", message=".*observable_source_asset.*", category=dg.BetaWarning)


@dg.observable_source_asset(
    group_name=KB_GROUP,
    required_resource_keys={"dlgforge_config", "kb"},
    tags={"dagster/kind/folder": ""},
)
def kb_documents(context) -> dg.ObserveResult:
    """The documents under `retrieval.knowledge_dir`.

    Reads: the KB folder (paths, sizes, mtimes, then content hashes). Writes nothing.
    Its data version is `kb_fingerprint(knowledge_dir)`, so a changed document makes
    `kb_index` stale in the UI and trips the KB sensor. Metadata: the documents read and
    every path left out with its reason (links leaving the folder, secret-bearing files,
    `.dlgforgeignore`, hidden files; see `retrieval.ingest`).
    """
    from dlgforge_core.kb.ingest_rules import IngestRules, walk

    cfg = context.resources.dlgforge_config.load()
    fingerprint = context.resources.kb.fingerprint(cfg)
    scanned = walk(cfg.knowledge_dir, IngestRules.from_config(cfg))
    context.log.info(f"kb_documents {cfg.knowledge_dir}: fingerprint {fingerprint[:16]}, "
                     f"{len(scanned.files)} files, {len(scanned.skipped)} left out")
    return dg.ObserveResult(
        data_version=dg.DataVersion(fingerprint),
        metadata={"files": len(scanned.files), "skipped_count": len(scanned.skipped),
                  "skipped": dg.MetadataValue.json(dict(sorted(scanned.skipped.items())))},
    )


@dg.asset(
    deps=[kb_documents],
    group_name=KB_GROUP,
    kinds={"lancedb", "python"},
)
def kb_index(
    context: dg.AssetExecutionContext, dlgforge_config: DlgforgeConfigResource, kb: KBResource
) -> dg.MaterializeResult:
    """The LanceDB index of the KB at `retrieval.index_dir`.

    Reads: the KB folder. Writes: the index and its manifest. Resume: incremental, so only
    added or changed documents are embedded again and removed ones are deleted; an unchanged
    KB is a fast no-op. Metadata: documents, chunks added/removed/kept, index version, the
    files skipped with their reasons, and the documents holding secrets (line and kind).
    """
    cfg = dlgforge_config.load()
    knowledge = kb.open(cfg)
    report = knowledge.build(progress=context.log.info)
    return dg.MaterializeResult(
        metadata={
            "documents": report.documents,
            "documents_embedded": report.documents_embedded,
            "chunks_added": report.chunks_added,
            "chunks_removed": report.chunks_removed,
            "chunks_kept": report.chunks_kept,
            "seconds": float(report.seconds),
            "index_dir": dg.MetadataValue.path(str(cfg.index_dir)),
            "index_version": knowledge.index_version,
            "skipped_count": len(report.skipped),
            "skipped": dg.MetadataValue.json(dict(sorted(report.skipped.items()))),
            "documents_with_secrets": len(report.secrets),
            "secrets": dg.MetadataValue.json(
                {source: [f"line {line}: {kind}" for line, kind in found]
                 for source, found in report.secrets.items()}),
        },
        data_version=dg.DataVersion(knowledge.index_version[:16]),
    )
