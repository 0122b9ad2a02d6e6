"""The knowledge-base resource: opens the LanceDB index described by the config."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dlgforge_core.config import DlgforgeConfig
    from dlgforge_core.kb import KnowledgeBase


class KBResource(dg.ConfigurableResource):
    """Builds `KnowledgeBase(cfg)` and fingerprints the KB folder."""

    def open(self, cfg: DlgforgeConfig) -> KnowledgeBase:
        """The knowledge base of `cfg` (index at `retrieval.index_dir`)."""
        from dlgforge_core.kb import KnowledgeBase

        return KnowledgeBase(cfg)

    def fingerprint(self, cfg: DlgforgeConfig) -> str:
        """Content hash of `retrieval.knowledge_dir`."""
        from dlgforge_core.kb import kb_fingerprint
        from dlgforge_core.kb.ingest_rules import IngestRules

        return kb_fingerprint(cfg.knowledge_dir, IngestRules.from_config(cfg))
