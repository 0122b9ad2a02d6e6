"""Diversity of user questions: distinct n-gram ratios and mean pairwise embedding similarity."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np

from dlgforge_core.errors import DlgforgeError

EMBEDDING_SAMPLE = 256
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """Lowercased word tokens (``\\w+``), the unit of the distinct-n ratios."""
    return _WORD.findall(text.lower())


def distinct_n(texts: list[str], n: int) -> float | None:
    """Distinct n-grams / all n-grams over ``texts`` (n-grams never cross texts)."""
    grams: list[tuple[str, ...]] = []
    for text in texts:
        tokens = words(text)
        grams.extend(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return round(len(set(grams)) / len(grams), 6) if grams else None


def embedding_sample(texts: list[str], size: int = EMBEDDING_SAMPLE) -> list[str]:
    """A deterministic sample of ``texts`` (seeded; the input order is kept)."""
    if len(texts) <= size:
        return list(texts)
    picked = sorted(random.Random(0).sample(range(len(texts)), size))
    return [texts[i] for i in picked]


def mean_pairwise_cosine(cfg: Any, texts: list[str]) -> dict[str, Any]:
    """Mean cosine similarity of all pairs of a sample, embedded with the KB's embedder.

    Returns ``{"sample_size", "mean_pairwise_cosine", "model"}``; the mean is None when
    fewer than two texts exist or the model cannot be loaded (``error`` says why).
    """
    sample = embedding_sample(texts)
    result: dict[str, Any] = {"sample_size": len(sample), "mean_pairwise_cosine": None, "model": None}
    if len(sample) < 2:
        return result
    from dlgforge_core.kb.embeddings import make_embedder

    try:
        embedder = make_embedder(cfg.retrieval.embeddings, cfg.base_dir)
        result["model"] = embedder.identity
        vectors = np.asarray(embedder.encode(sample), dtype=np.float64)
    except DlgforgeError as err:
        result["error"] = str(err)
        return result
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    sims = vectors @ vectors.T
    n = len(sample)
    off_diagonal = (sims.sum() - np.trace(sims)) / (n * (n - 1))
    result["mean_pairwise_cosine"] = round(float(off_diagonal), 4)
    return result
