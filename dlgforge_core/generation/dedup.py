"""Exact question dedup on the normalized text, across the whole output folder.

The memory is a set of 16-byte digests: unbounded by design (every accepted question of
every language and run in the folder), but about 60 bytes per question. Questions of
conversations still in flight are *reserved* by their owner and released if it drops.
Questions another process committed to the same folder meanwhile are *absorbed* at commit
time (from the writer thread, hence the lock); an owner holding such a question is marked
conflicted and is not committed.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable


def normalize_question(text: str) -> str:
    """Lowercase with whitespace collapsed: the dedup identity of a question."""
    return " ".join(text.lower().split())


def question_key(text: str) -> bytes:
    """Digest of the normalized question (what the index stores)."""
    return hashlib.blake2b(normalize_question(text).encode("utf-8"), digest_size=16).digest()


class QuestionIndex:
    """Accepted questions plus in-flight reservations (thread-safe)."""

    def __init__(self) -> None:
        self._accepted: set[bytes] = set()
        self._reserved: dict[bytes, str] = {}
        self._owners: dict[str, list[bytes]] = {}
        self._conflicted: set[str] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._accepted) + len(self._reserved)

    def load_records(self, records: Iterable[dict]) -> int:
        """Add every user message of accepted ``records``; returns how many were read."""
        count = 0
        for record in records:
            for turn in record.get("turns", []):
                self._accepted.add(question_key(turn["user_message"]))
                count += 1
        return count

    def seen(self, question: str) -> bool:
        """True when the normalized question is accepted or reserved."""
        key = question_key(question)
        return key in self._accepted or key in self._reserved

    def reserve(self, question: str, owner: str) -> bool:
        """Reserve ``question`` for conversation ``owner``; False when it is already taken."""
        key = question_key(question)
        with self._lock:
            if key in self._accepted or key in self._reserved:
                return False
            self._reserved[key] = owner
            self._owners.setdefault(owner, []).append(key)
            return True

    def absorb(self, question: str) -> str | None:
        """Add a question another process committed; returns the owner it conflicts with."""
        key = question_key(question)
        with self._lock:
            self._accepted.add(key)
            owner = self._reserved.get(key)
            if owner is not None:
                self._conflicted.add(owner)
            return owner

    def conflicted(self, owner: str) -> bool:
        """True when another process committed one of ``owner``'s questions first."""
        with self._lock:
            return owner in self._conflicted

    def confirm(self, owner: str) -> None:
        """The owner was accepted: its questions become permanent."""
        with self._lock:
            for key in self._owners.pop(owner, []):
                self._reserved.pop(key, None)
                self._accepted.add(key)

    def release(self, owner: str) -> None:
        """The owner was dropped: its questions may be asked again."""
        with self._lock:
            self._conflicted.discard(owner)
            for key in self._owners.pop(owner, []):
                if self._reserved.get(key) == owner:
                    self._reserved.pop(key, None)
