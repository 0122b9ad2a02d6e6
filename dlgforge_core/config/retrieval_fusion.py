"""``retrieval.fusion``: how hybrid search merges its two halves, and the conversation query."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dlgforge_core.config.base import Section


class FusionConfig(Section):
    """``retrieval.fusion``: the hybrid merge of vector and full-text candidates.

    ``convex`` (default): each half's scores are min-max normalised over its candidates
    and summed with weights ``vector_weight`` and ``1 - vector_weight``; ``rrf``: weighted
    reciprocal rank fusion (``rrf_k``). ``level: document`` fuses per document (a document
    scores its best chunk in each half), then orders its chunks; ``chunk`` fuses chunks.
    ``query_turns``: user turns of the conversation joined into a second search query
    (the question alone is the first; their scores are averaged); 1 searches with the
    question alone.
    """

    method: Literal["convex", "rrf"] = "convex"
    level: Literal["document", "chunk"] = "document"
    vector_weight: float = Field(default=0.6, ge=0.0, le=1.0)
    candidates: int = Field(default=50, ge=1)
    rrf_k: int = Field(default=60, ge=1)
    query_turns: int = Field(default=3, ge=1)
