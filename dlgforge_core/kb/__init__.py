"""dlgforge_core.kb: the knowledge base (ingestion, chunking, embeddings, LanceDB, search)."""

from dlgforge_core.kb.build import BuildReport
from dlgforge_core.kb.chunking import Chunk
from dlgforge_core.kb.fingerprint import kb_fingerprint
from dlgforge_core.kb.knowledge_base import KnowledgeBase
from dlgforge_core.kb.search import SearchHit

__all__ = ["BuildReport", "Chunk", "KnowledgeBase", "SearchHit", "kb_fingerprint"]
