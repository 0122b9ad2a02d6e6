"""Retrieval: vector search, full-text search, reciprocal rank fusion, optional rerank."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dlgforge_core.errors import KBError

MODES = ("hybrid", "vector", "fts")
RRF_K = 60
_rerankers: dict[str, Any] = {}
_rerankers_lock = threading.Lock()


class SearchableIndex(Protocol):
    """What ``search`` needs: ``ChunkIndex`` (LanceDB on disk) and ``ResidentIndex`` (memory)."""

    def vector_search(self, vector: np.ndarray, limit: int,
                      sources: Sequence[str] | None = None) -> list[dict]: ...

    def fts_search(self, text: str, limit: int, sources: Sequence[str] | None = None) -> list[dict]: ...


@dataclass(frozen=True)
class SearchHit:
    """One retrieved chunk and its score (higher is better; its scale depends on the mode)."""

    chunk_id: str
    text: str
    source: str
    position: int
    heading: str
    score: float


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> dict[str, float]:
    """sum over rankings of 1 / (k + rank), rank starting at 1."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return fused


def _hit(row: dict, score: float) -> SearchHit:
    return SearchHit(chunk_id=row["chunk_id"], text=row["text"], source=row["source"],
                     position=int(row["position"]), heading=row["heading"], score=float(score))


def search(index: SearchableIndex, encode_query: Callable[[str], np.ndarray], query: str, k: int,
           sources: Sequence[str] | None = None, mode: str = "hybrid",
           reranker: "Reranker | None" = None) -> list[SearchHit]:
    """Top ``k`` chunks for ``query``: see ``KnowledgeBase.search``."""
    if mode not in MODES:
        raise KBError(f"search mode: {mode!r} is not one of {', '.join(MODES)}")
    pool = max(4 * k, 20) if (mode == "hybrid" or reranker) else k
    hits: list[SearchHit] = []
    if mode == "vector":
        rows = index.vector_search(encode_query(query), pool, sources)
        hits = [_hit(r, 1.0 - r["_distance"]) for r in rows]
    elif mode == "fts":
        hits = [_hit(r, r["_score"]) for r in index.fts_search(query, pool, sources)]
    else:
        vector_rows = index.vector_search(encode_query(query), pool, sources)
        fts_rows = index.fts_search(query, pool, sources)
        rows = {r["chunk_id"]: r for r in [*fts_rows, *vector_rows]}
        fused = reciprocal_rank_fusion([[r["chunk_id"] for r in vector_rows],
                                        [r["chunk_id"] for r in fts_rows]])
        order = sorted(fused, key=lambda cid: (-fused[cid], cid))
        hits = [_hit(rows[cid], fused[cid]) for cid in order]
    if reranker is not None and hits:
        hits = reranker.rerank(query, hits)
    return hits[:k]


class Reranker:
    """A sentence-transformers cross-encoder, loaded once per process and path."""

    def __init__(self, model: str, base_dir: Path, device: str = "cpu") -> None:
        path = Path(model).expanduser()
        path = path if path.is_absolute() else base_dir / path
        self.local = path.exists()
        self.location = str(path.resolve()) if self.local else model
        self.device = device

    @property
    def model(self):
        with _rerankers_lock:
            if self.location not in _rerankers:
                _rerankers[self.location] = self._load()
            return _rerankers[self.location]

    def _load(self):
        from sentence_transformers import CrossEncoder

        try:
            return CrossEncoder(self.location, device=self.device, local_files_only=self.local)
        except Exception as err:  # a bad path or model is the user's set-up problem
            raise KBError(f"retrieval.rerank.model: cannot load {self.location!r} "
                          f"({type(err).__name__})") from err

    def rerank(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
        """Hits re-ordered by cross-encoder score (which becomes their score)."""
        scores = self.model.predict([(query, hit.text) for hit in hits], show_progress_bar=False)
        rescored = [SearchHit(**{**hit.__dict__, "score": float(s)}) for hit, s in zip(hits, scores)]
        return sorted(rescored, key=lambda h: -h.score)
