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
def kb_documents(context) -> dg.DataVersion:
    """The documents under `retrieval.knowledge_dir`.

    Reads: the KB folder (paths, sizes, mtimes, then content hashes). Writes nothing.
    Its data version is `kb_fingerprint(knowledge_dir)`, so a changed document makes
    `kb_index` stale in the UI and trips the KB sensor.
    """
    cfg = context.resources.dlgforge_config.load()
    fingerprint = context.resources.kb.fingerprint(cfg)
    context.log.info(f"kb_documents {cfg.knowledge_dir}: fingerprint {fingerprint[:16]}")
    return dg.DataVersion(fingerprint)


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
    KB is a fast no-op. Metadata: documents, chunks added/removed/kept, index version.
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
        },
        data_version=dg.DataVersion(knowledge.index_version[:16]),
    )
