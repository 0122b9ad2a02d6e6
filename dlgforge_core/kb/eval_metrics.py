"""Ranking metrics of ``dlgforge kb eval``: Recall@K, MRR@10 and nDCG@10 at document level.

A ranked list of chunk hits becomes a ranked list of *items*: a hit whose chunk id is
labelled relevant is that chunk; any other hit is its document. Each item counts once, at
its best (first) position, so a document split into three chunks does not fill three
ranks. Relevance is binary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

CUTOFF = 10  # MRR@10 and nDCG@10


def ranked_items(hits: Iterable[tuple[str, str]], relevant: Iterable[str]) -> list[str]:
    """(chunk_id, source) hits, best first -> distinct items, best first."""
    relevant = set(relevant)
    items: dict[str, None] = {}
    for chunk_id, source in hits:
        items.setdefault(chunk_id if chunk_id in relevant else source, None)
    return list(items)


def recall_at(items: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of the relevant items found in the first ``k``."""
    relevant = set(relevant)
    return len(relevant.intersection(items[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank(items: Sequence[str], relevant: Iterable[str], cutoff: int = CUTOFF) -> float:
    """1 / rank of the first relevant item within ``cutoff``, else 0."""
    relevant = set(relevant)
    for rank, item in enumerate(items[:cutoff], start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def ndcg(items: Sequence[str], relevant: Iterable[str], cutoff: int = CUTOFF) -> float:
    """Binary-gain nDCG: sum of 1/log2(rank+1) over relevant items ÷ its best possible value."""
    relevant = set(relevant)
    gain = sum(1.0 / math.log2(rank + 1)
               for rank, item in enumerate(items[:cutoff], start=1) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), cutoff) + 1))
    return gain / ideal if ideal else 0.0


def question_scores(items: Sequence[str], relevant: Iterable[str], k: int) -> dict[str, float]:
    """The three metrics of one question."""
    relevant = set(relevant)
    return {"recall@k": recall_at(items, relevant, k),
            "mrr@10": reciprocal_rank(items, relevant),
            "ndcg@10": ndcg(items, relevant)}
