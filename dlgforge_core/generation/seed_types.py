"""The seed question value shared by both seed topics layouts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeedQuestion:
    """A seed question and the topic it belongs to."""

    topic: str
    text: str
