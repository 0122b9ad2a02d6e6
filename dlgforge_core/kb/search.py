"""Retrieval: vector search, full-text search, their fusion (``kb.fusion``), optional rerank."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dlgforge_core.errors import KBError
from dlgforge_core.kb.fusion import Fusion, Ranked, fuse

MODES = ("hybrid", "vector", "fts")
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


def _hit(row: dict, score: float) -> SearchHit:
    return SearchHit(chunk_id=row["chunk_id"], text=row["text"], source=row["source"],
                     position=int(row["position"]), heading=row["heading"], score=float(score))


def _vector_half(index: SearchableIndex, encode_query: Callable[[str], np.ndarray], text: str,
                 limit: int, sources: Sequence[str] | None) -> Ranked:
    return [(r, 1.0 - r["_distance"]) for r in index.vector_search(encode_query(text), limit, sources)]


def _fts_half(index: SearchableIndex, text: str, limit: int,
              sources: Sequence[str] | None) -> Ranked:
    return [(r, r["_score"]) for r in index.fts_search(text, limit, sources)]


def search(index: SearchableIndex, encode_query: Callable[[str], np.ndarray], query: str, k: int,
           sources: Sequence[str] | None = None, mode: str = "hybrid",
           reranker: "Reranker | None" = None, fusion: Fusion | None = None,
           queries: Sequence[str] = ()) -> list[SearchHit]:
    """Top ``k`` chunks for ``query``: see ``KnowledgeBase.search``.

    ``queries``: more query texts (e.g. the conversation so far) searched beside ``query``;
    every query weighs the same and the lists are merged by ``fusion`` (see ``kb.fusion``).
    """
    if mode not in MODES:
        raise KBError(f"search mode: {mode!r} is not one of {', '.join(MODES)}")
    fusion = fusion or Fusion()
    texts = list(dict.fromkeys(t for t in (query, *queries) if t and t.strip())) or [query]
    if mode != "hybrid" and len(texts) == 1:  # one list: its own order and scores
        pool = max(4 * k, 20) if reranker else k
        ranked = (_vector_half(index, encode_query, query, pool, sources) if mode == "vector"
                  else _fts_half(index, query, pool, sources))
    else:
        pool = max(fusion.candidates, k)
        lists: list[tuple[Ranked, float]] = []
        for text in texts:
            if mode in ("hybrid", "vector"):
                weight = fusion.vector_weight if mode == "hybrid" else 1.0
                lists.append((_vector_half(index, encode_query, text, pool, sources), weight))
            if mode in ("hybrid", "fts"):
                weight = 1.0 - fusion.vector_weight if mode == "hybrid" else 1.0
                lists.append((_fts_half(index, text, pool, sources), weight))
        ranked = fuse(lists, fusion)
    if reranker is None:
        return [_hit(row, score) for row, score in ranked[:k]]
    hits = [_hit(row, score) for row, score in ranked]
    return reranker.rerank(query, hits)[:k] if hits else []


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
