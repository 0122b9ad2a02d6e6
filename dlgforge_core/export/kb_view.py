"""A read-only view of the knowledge base for exports: documents, chunks, fingerprint.

Opens the LanceDB index only when it exists (an export never builds one). Without an
index, documents come from the knowledge folder listing and chunk counts are unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from dlgforge_core.errors import DlgforgeError


@dataclass(frozen=True)
class ChunkText:
    """One KB chunk as exports need it."""

    chunk_id: str
    source: str
    text: str


class KBView:
    """Lazy access to the KB of a config, for stats, the card and the RAFT export."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @cached_property
    def kb(self) -> Any | None:
        """The KnowledgeBase when its index exists, else None."""
        index_dir = Path(self.cfg.index_dir)
        if not index_dir.is_dir() or not any(index_dir.iterdir()):
            return None
        from dlgforge_core.kb import KnowledgeBase

        return KnowledgeBase(self.cfg)

    @cached_property
    def fingerprint(self) -> str | None:
        """Content hash of the knowledge folder (None when the folder is missing)."""
        if not Path(self.cfg.knowledge_dir).is_dir():
            return None
        from dlgforge_core.kb import kb_fingerprint
        from dlgforge_core.kb.ingest_rules import IngestRules

        try:
            return kb_fingerprint(self.cfg.knowledge_dir, IngestRules.from_config(self.cfg))
        except DlgforgeError:
            return None

    @cached_property
    def index_version(self) -> str | None:
        """The index fingerprint (documents, model, chunking), when an index exists."""
        return self.kb.index_version if self.kb is not None else None

    @cached_property
    def sources(self) -> list[str]:
        """Relative paths of the KB documents: the index's, else the folder listing."""
        if self.kb is not None:
            return sorted(self.kb.sources())
        folder = Path(self.cfg.knowledge_dir)
        if not folder.is_dir():
            return []
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                      if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))

    @cached_property
    def chunks(self) -> list[ChunkText] | None:
        """Every indexed chunk in document order (None without an index)."""
        if self.kb is None:
            return None
        return [ChunkText(str(c.chunk_id), str(c.source), str(c.text))
                for source in self.sources for c in self.kb.chunks_for_source(source)]

    def get_chunks(self, ids: list[str]) -> dict[str, ChunkText]:
        """The chunks with these ids that the index holds, by id."""
        if self.kb is None or not ids:
            return {}
        return {str(c.chunk_id): ChunkText(str(c.chunk_id), str(c.source), str(c.text))
                for c in self.kb.get_chunks(list(ids))}
