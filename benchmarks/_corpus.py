"""Deterministic generated text for the KB benchmarks (no data set needed)."""

from __future__ import annotations

import random

_WORDS = ("sync vault device folder upload schedule conflict quota invoice refund plan team "
          "member passphrase encryption block region server client share link token bucket "
          "retry backoff header daemon service window battery clock signature database "
          "snapshot version policy audit export key owner storage network drive transfer "
          "part checksum gateway probe uptime latency cache index query ranking passage").split()


def sentence(rng: random.Random, words: int = 14) -> str:
    body = " ".join(rng.choice(_WORDS) for _ in range(words))
    return body[0].upper() + body[1:] + f" {rng.randint(1, 9999)}."


def paragraph(rng: random.Random, chars: int) -> str:
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < chars:
        parts.append(sentence(rng))
    return " ".join(parts)[:chars].rsplit(" ", 1)[0] + "."


def markdown_document(rng: random.Random, title: str, sections: int, chars: int) -> str:
    """A Markdown file with ``sections`` headed sections of about ``chars`` characters each."""
    lines = [f"# {title}", ""]
    for index in range(sections):
        lines += [f"## Section {index} {rng.choice(_WORDS)}", "", paragraph(rng, chars), ""]
    return "\n".join(lines)
