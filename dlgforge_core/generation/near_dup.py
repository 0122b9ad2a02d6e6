"""Optional near-duplicate filter (``coverage.near_dup``): MinHash-LSH on normalized questions.

Runs after the exact check. Character 4-gram shingles of the normalized question make the
Jaccard estimate robust to small rewordings and punctuation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from dlgforge_core.generation.dedup import normalize_question

_SHINGLE = 4


def shingles(question: str) -> set[bytes]:
    """Character 4-grams of the normalized question (the whole text when shorter)."""
    text = normalize_question(question)
    if len(text) <= _SHINGLE:
        return {text.encode("utf-8")}
    return {text[i : i + _SHINGLE].encode("utf-8") for i in range(len(text) - _SHINGLE + 1)}


class NearDupFilter:
    """Accepted and reserved questions in a MinHash-LSH index with a Jaccard threshold."""

    def __init__(self, threshold: float, num_perm: int) -> None:
        # imported here: datasketch pulls in SciPy (about 1.5 s), needed only when the filter is on
        from datasketch import MinHash, MinHashLSH

        self.num_perm = num_perm
        self._minhash_type = MinHash
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._owners: dict[str, list[str]] = {}
        self._count = 0
        self.store_watermark = 0  # highest signature id read from a database store (PostgreSQL)
        self._lock = threading.Lock()  # the store's commit (writer thread) absorbs while slots check
        template = MinHash(num_perm=num_perm)
        self._dtype = template.hashvalues.dtype
        scheme = getattr(template, "scheme", None)  # datasketch 2 wants the scheme of stored values
        self._scheme = {"scheme": scheme} if scheme is not None else {}

    def signature(self, question: str) -> bytes:
        """The question's MinHash signature as bytes (what a database store keeps)."""
        return self._minhash(question).hashvalues.astype("<u8").tobytes()

    def absorb_signature(self, signature: bytes, ident: int) -> None:
        """Index a signature another worker committed (``ident``: its id in the store)."""
        import numpy as np

        values = np.frombuffer(signature, dtype="<u8").astype(self._dtype)
        sketch = self._minhash_type(num_perm=self.num_perm, hashvalues=values, **self._scheme)
        key = f"db{ident}"
        with self._lock:
            if key not in self._lsh:
                self._lsh.insert(key, sketch)

    def near_stored(self, question: str) -> bool:
        """True when ``question`` is near a signature absorbed from the store."""
        sketch = self._minhash(question)
        with self._lock:
            keys = self._lsh.query(sketch)
        return any(str(key).startswith("db") for key in keys)

    def _minhash(self, question: str) -> Any:
        sketch = self._minhash_type(num_perm=self.num_perm)
        sketch.update_batch(list(shingles(question)))
        return sketch

    def load_records(self, records: Iterable[dict], skip: Callable[[str], bool] | None = None) -> None:
        """Index every user message of accepted ``records`` (but those ``skip`` says are indexed)."""
        for record in records:
            for turn in record.get("turns", []):
                if skip is None or not skip(turn["user_message"]):
                    self._insert(turn["user_message"], owner=None)

    def is_near_duplicate(self, question: str) -> bool:
        """True when an indexed question is estimated above the Jaccard threshold."""
        sketch = self._minhash(question)
        with self._lock:
            return bool(self._lsh.query(sketch))

    def reserve(self, question: str, owner: str) -> None:
        """Index ``question`` for in-flight conversation ``owner``."""
        self._insert(question, owner)

    def confirm(self, owner: str) -> None:
        """The owner was accepted: keep its questions indexed for good."""
        with self._lock:
            self._owners.pop(owner, None)

    def release(self, owner: str) -> None:
        """The owner was dropped: remove its questions from the index."""
        with self._lock:
            for key in self._owners.pop(owner, []):
                self._lsh.remove(key)

    def _insert(self, question: str, owner: str | None) -> None:
        sketch = self._minhash(question)
        with self._lock:
            self._count += 1
            key = f"q{self._count}"
            self._lsh.insert(key, sketch)
            if owner is not None:
                self._owners.setdefault(owner, []).append(key)
