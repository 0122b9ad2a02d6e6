"""The KnowledgeBase facade: build, search, and the sampling calls of the generator."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dlgforge_core.errors import KBError
from dlgforge_core.kb.build import BuildReport, BuildSettings, Progress, build_index, unchanged_build
from dlgforge_core.kb.chunking import Chunk
from dlgforge_core.kb.embeddings import make_embedder
from dlgforge_core.kb.fusion import Fusion
from dlgforge_core.kb.index import META_COLUMNS, ChunkIndex
from dlgforge_core.kb.manifest import Manifest, load_manifest
from dlgforge_core.kb.query_batcher import QueryBatcher
from dlgforge_core.kb.query_form import conversation_query
from dlgforge_core.kb.resident import ResidentIndex
from dlgforge_core.kb.search import Reranker, SearchHit, search
from dlgforge_core.kb.snapshot import load_snapshot

if TYPE_CHECKING:
    import pyarrow as pa

_QUERY_CACHE = 512


class _Catalog:
    """The chunk table's non-vector columns, held in memory for fast sampling."""

    def __init__(self, chunks: list[Chunk]) -> None:
        chunks.sort(key=lambda c: (c.source, c.position))
        self.chunks = chunks
        self.by_id: dict[str, Chunk] = {}
        self.by_source: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            self.by_id.setdefault(chunk.chunk_id, chunk)
            self.by_source.setdefault(chunk.source, []).append(chunk)


class KnowledgeBase:
    """The KB of one config: a LanceDB index at ``cfg.index_dir`` over ``cfg.knowledge_dir``."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.retrieval = cfg.retrieval
        self.knowledge_dir = cfg.knowledge_dir
        self.index_dir = cfg.index_dir
        self.embedder = make_embedder(self.retrieval.embeddings, cfg.base_dir)
        self.index = ChunkIndex(self.index_dir)
        self.reranker = self._make_reranker()
        self._fusion = Fusion.from_config(getattr(self.retrieval, "fusion", None))
        self._catalog: _Catalog | None = None
        self._manifest: Manifest | None = None
        self._resident: ResidentIndex | None = None
        self._resident_checked = False
        self._resident_lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        # The query encoder loads on first use (~0.35 s): for a run, at the first search that
        # embeds, on the batcher's thread, so the run's first requests never wait for it.
        self._batcher: tuple[asyncio.AbstractEventLoop, QueryBatcher] | None = None

    def _make_reranker(self) -> Reranker | None:
        rerank = getattr(self.retrieval, "rerank", None)
        if rerank is None or not getattr(rerank, "enabled", False):
            return None
        if not getattr(rerank, "model", None):
            raise KBError("retrieval.rerank.model: required when rerank.enabled is true")
        device = getattr(self.retrieval.embeddings, "device", None) or "cpu"
        return Reranker(rerank.model, self.cfg.base_dir, device=device)

    # building

    def build(self, progress: Progress = None) -> BuildReport:
        """Bring the index up to date (incremental; see ``dlgforge_core.kb.build``)."""
        report = build_index(self._build_settings(), self.index, self.embedder, progress)
        with self._lock:
            self._catalog, self._manifest = None, None
            self.index = ChunkIndex(self.index_dir)
        with self._resident_lock:
            self._resident, self._resident_checked = None, False
        return report

    def unchanged_build(self) -> dict[str, str] | None:
        """The files a build would leave out (path -> reason) when it would change nothing
        (documents, settings, resident snapshot); None when a build has work to do."""
        return unchanged_build(self._build_settings(), self.index, self.embedder)

    def _build_settings(self) -> BuildSettings:
        return BuildSettings(
            knowledge_dir=self.knowledge_dir, index_dir=self.index_dir,
            chunk_size=int(self.retrieval.chunk_size),
            chunk_overlap=int(self.retrieval.chunk_overlap),
            force=bool(getattr(self.retrieval, "rebuild_index", False)),
            ingest=getattr(self.retrieval, "ingest", None),
            resident_max_chunks=self._resident_limit())

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            manifest = load_manifest(self.index_dir)
            if manifest is None or not self.index.exists():
                raise KBError(f"retrieval.index_dir: no index at {self.index_dir} "
                              "(run `dlgforge kb build CONFIG`)")
            self._manifest = manifest
        return self._manifest

    @property
    def index_version(self) -> str:
        """Fingerprint of the built index: document hashes, model and chunking."""
        return self.manifest.index_version()

    # search

    def search(self, query: str, k: int | None = None, sources: Sequence[str] | None = None,
               mode: str | None = None, context: Sequence[str] = (),
               query_turns: int | None = None) -> list[SearchHit]:
        """Top ``k`` (default ``retrieval.default_k``) chunks for ``query``.

        ``mode`` is "hybrid" (vector + full-text, merged as ``retrieval.fusion`` says),
        "vector" or "fts"; by default ``retrieval.search_mode``. ``sources`` restricts
        the search to those documents. ``context``: the earlier user turns of the
        conversation, oldest first: the last ``query_turns - 1`` of them (default
        ``retrieval.fusion.query_turns``) joined with ``query`` make a second query searched
        beside it. With ``retrieval.rerank.enabled`` a cross-encoder re-orders the candidates.
        """
        queries = self._context_queries(query, context, query_turns)
        return self._search(self._encode_query, query, k, sources, self._mode(mode), queries)

    async def asearch(self, query: str, k: int | None = None,
                      sources: Sequence[str] | None = None,
                      mode: str | None = None, context: Sequence[str] = (),
                      query_turns: int | None = None) -> list[SearchHit]:
        """``search`` in a worker thread, so the event loop never blocks on it.

        The query embeddings are computed together with those of concurrent searches
        (see ``QueryBatcher``): one model call serves every slot waiting at that moment.
        """
        mode = self._mode(mode)
        queries = self._context_queries(query, context, query_turns)
        if mode == "fts":
            return await asyncio.to_thread(self._search, self._encode_query, query, k, sources,
                                           mode, queries)
        texts = list(dict.fromkeys([query, *queries]))
        vectors = dict(zip(texts, await asyncio.gather(*(self._aembed(t) for t in texts))))
        return await asyncio.to_thread(self._search, vectors.__getitem__, query, k, sources,
                                       mode, queries)

    async def _aembed(self, text: str) -> np.ndarray:
        vector = self._cached_query(text)
        if vector is None:
            vector = await self._query_batcher().embed(text)
            self._remember_query(text, vector)
        return vector

    def _context_queries(self, query: str, context: Sequence[str],
                         query_turns: int | None) -> list[str]:
        fusion = getattr(self.retrieval, "fusion", None)
        turns = int(query_turns or getattr(fusion, "query_turns", 1) or 1)
        earlier = [t for t in context or () if t and t.strip()]
        if turns <= 1 or not earlier:
            return []
        return [conversation_query(query, earlier, turns)]

    def _mode(self, mode: str | None) -> str:
        return mode or self.retrieval.search_mode

    def _search(self, encode_query, query: str, k: int | None,
                sources: Sequence[str] | None, mode: str,
                queries: Sequence[str] = ()) -> list[SearchHit]:
        self.manifest  # raises when there is no index yet
        k = int(k or self.retrieval.default_k)
        return search(self._searchable(), encode_query, query, k, list(sources or []) or None,
                      mode, self.reranker, self._fusion, queries)

    def _searchable(self) -> ChunkIndex | ResidentIndex:
        """The in-memory copy of the index when it is small enough, else LanceDB on disk.

        Loaded once (on the first search after a build) and shared by every search thread.
        """
        with self._resident_lock:
            if not self._resident_checked:
                table = self._resident_table()
                if table is not None:
                    self._resident = ResidentIndex(table)
                self._resident_checked = True
            return self._resident or self.index

    def _resident_limit(self) -> int:
        return int(getattr(self.retrieval, "resident_max_chunks", 0) or 0)

    def _resident_table(self, columns: Sequence[str] | None = None) -> "pa.Table | None":
        """Every row (or ``columns``) of an index small enough to hold in memory: from the
        build's snapshot file of this version, else from LanceDB; None for a larger index."""
        manifest = self.manifest
        count = manifest.chunks if manifest.chunks is not None else self.index.count()
        if not 0 < count <= self._resident_limit():
            return None
        table = load_snapshot(self.index_dir, manifest.index_version())
        if table is None:
            table = self.index.snapshot()
        return table.select(list(columns)) if columns else table

    def _query_batcher(self) -> QueryBatcher:
        loop = asyncio.get_running_loop()
        if self._batcher is None or self._batcher[0] is not loop:
            limit = getattr(self.embedder, "limit_blas", True)
            self._batcher = (loop, QueryBatcher(self.embedder.encode, limit_blas=limit))
        return self._batcher[1]

    def _cached_query(self, query: str) -> np.ndarray | None:
        with self._lock:
            cached = self._queries.get(query)
            if cached is not None:
                self._queries.move_to_end(query)
            return cached

    def _remember_query(self, query: str, vector: np.ndarray) -> None:
        with self._lock:
            self._queries[query] = vector
            if len(self._queries) > _QUERY_CACHE:
                self._queries.popitem(last=False)

    def clear_query_cache(self) -> None:
        """Forget the cached query embeddings, the embedder's own included (``kb eval``
        times each mode from cold)."""
        with self._lock:
            self._queries.clear()
        clear = getattr(self.embedder, "clear_cache", None)
        if clear is not None:
            clear()

    def _encode_query(self, query: str) -> np.ndarray:
        vector = self._cached_query(query)
        if vector is None:
            vector = self.embedder.encode([query])[0]
            self._remember_query(query, vector)
        return vector

    # sampling (the generator calls these per turn: all from memory)

    @property
    def catalog(self) -> _Catalog:
        with self._lock:
            if self._catalog is None:
                table = self._resident_table(META_COLUMNS)
                if table is None:
                    table = self.index.metadata()
                self._catalog = _Catalog([Chunk(**row) for row in table.to_pylist()])
            return self._catalog

    def sources(self) -> list[str]:
        """Relative paths of the indexed documents, sorted."""
        return sorted(self.catalog.by_source)

    def chunks_for_source(self, source: str) -> list[Chunk]:
        """The chunks of one document, in document order (empty if unknown)."""
        return list(self.catalog.by_source.get(source, []))

    def get_chunks(self, ids: Iterable[str]) -> list[Chunk]:
        """Chunks by id, in the order asked; unknown ids are left out."""
        by_id = self.catalog.by_id
        return [by_id[i] for i in ids if i in by_id]

    def random_chunks(self, n: int, rng: random.Random,
                      sources: Sequence[str] | None = None) -> list[Chunk]:
        """``n`` distinct chunks drawn with ``rng`` (optionally from ``sources`` only)."""
        pool = self.catalog.chunks if not sources else [
            c for s in sources for c in self.catalog.by_source.get(s, [])]
        return rng.sample(pool, min(n, len(pool)))

    def pick_sources(self, n: int, rng: random.Random,
                     usage: Mapping[str, int] | None = None) -> list[str]:
        """``n`` distinct sources, favouring the least used: weight 1 / (1 + uses)."""
        usage = usage or {}
        remaining = self.sources()
        picked: list[str] = []
        while remaining and len(picked) < n:
            weights = [1.0 / (1 + usage.get(s, 0)) for s in remaining]
            choice = rng.choices(range(len(remaining)), weights=weights)[0]
            picked.append(remaining.pop(choice))
        return picked
