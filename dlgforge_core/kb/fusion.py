"""Merging ranked candidate lists: the two halves of hybrid search, and several queries.

Every list is a list of rows (``chunk_id``, ``source``, ... ) with a raw score, best first.
A list's scores are min-max normalised over its own candidates (the best becomes 1, the
worst 0), so that a cosine similarity and a BM25 score can be added: a chunk that only
one half found keeps its full weight in that half, unlike reciprocal rank fusion, where
the top hit of one half loses to anything ranked fairly well by both.

At ``document`` level a document takes, in each list, the score of its best chunk there:
the half that found its second chunk still counts for it. Documents are ranked by their
fused score, which their chunks carry; the chunks of one document follow each other in the
order of their own fused scores (so the top ``k`` hits are the best chunks of the best
documents: ``kb eval`` measured this ordering slightly better than mixing a chunk's own
score in, which let weak documents' single good chunks cut in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Ranked = list[tuple[dict, float]]  # rows with their raw score, best first
Key = tuple[str, str]  # (chunk_id, source): a chunk id is a content hash, so the same
# boilerplate text in several documents is one id in several rows; each row counts once


@dataclass(frozen=True)
class Fusion:
    """How lists are merged (``retrieval.fusion``)."""

    method: str = "convex"
    level: str = "document"
    vector_weight: float = 0.6
    candidates: int = 50
    rrf_k: int = 60

    @classmethod
    def from_config(cls, fusion) -> "Fusion":
        if fusion is None:
            return cls()
        return cls(method=fusion.method, level=fusion.level,
                   vector_weight=float(fusion.vector_weight), candidates=int(fusion.candidates),
                   rrf_k=int(fusion.rrf_k))


def _key(row: dict) -> Key:
    return row["chunk_id"], row["source"]


def _normalised(ranked: Ranked) -> dict[Key, float]:
    """Row key -> min-max normalised score (a single candidate, or equal scores: 1)."""
    if not ranked:
        return {}
    scores = [score for _, score in ranked]
    low, high = min(scores), max(scores)
    span = high - low
    normalised: dict[Key, float] = {}
    for row, score in ranked:
        normalised.setdefault(_key(row), (score - low) / span if span > 0 else 1.0)
    return normalised


def _reciprocal(ranked: Ranked, rrf_k: int) -> dict[Key, float]:
    """Row key -> 1 / (rrf_k + rank), scaled so that rank 1 scores 1."""
    reciprocal: dict[Key, float] = {}
    for rank, (row, _) in enumerate(ranked, start=1):
        reciprocal.setdefault(_key(row), (rrf_k + 1) / (rrf_k + rank))
    return reciprocal


def _by_document(scores: dict[Key, float]) -> dict[str, float]:
    documents: dict[str, float] = {}
    for (_, source), score in scores.items():
        documents[source] = max(documents.get(source, 0.0), score)
    return documents


def fuse(lists: Sequence[tuple[Ranked, float]], fusion: Fusion) -> Ranked:
    """Weighted merge of ``(ranked list, weight)`` pairs; rows with their fused score, best first.

    A row missing from a list scores 0 there. Ties are broken by chunk id and source
    (stable output).
    """
    rows: dict[Key, dict] = {}
    per_list: list[tuple[dict[Key, float], float]] = []
    for ranked, weight in lists:
        for row, _ in ranked:
            rows.setdefault(_key(row), row)
        scores = (_reciprocal(ranked, fusion.rrf_k) if fusion.method == "rrf"
                  else _normalised(ranked))
        per_list.append((scores, weight))
    total = sum(weight for _, weight in per_list) or 1.0
    chunk_fused = dict.fromkeys(rows, 0.0)
    for scores, weight in per_list:
        share = weight / total
        for key, score in scores.items():
            chunk_fused[key] += share * score
    if fusion.level == "document":
        doc_fused: dict[str, float] = {}
        for scores, weight in per_list:
            for source, score in _by_document(scores).items():
                doc_fused[source] = doc_fused.get(source, 0.0) + weight * score / total
        order = sorted(rows, key=lambda key: (-doc_fused[key[1]], -chunk_fused[key], key))
        return [(rows[key], doc_fused[key[1]]) for key in order]
    order = sorted(rows, key=lambda key: (-chunk_fused[key], key))
    return [(rows[key], chunk_fused[key]) for key in order]
