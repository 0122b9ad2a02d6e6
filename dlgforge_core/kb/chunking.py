"""Text chunking: Markdown split on headings first, then by size with overlap.

A chunk's id is a content hash of its normalized text and heading trail, independent of
the file it came from, so an unchanged chunk keeps its id across rebuilds (and renames).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

CHUNKER_VERSION = 1
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


@dataclass(frozen=True)
class Chunk:
    """One indexed passage of a document."""

    chunk_id: str
    text: str
    source: str
    position: int
    heading: str
    doc_hash: str = ""


@dataclass(frozen=True)
class Piece:
    """A chunk before it is tied to a document: text plus heading trail."""

    text: str
    heading: str = ""
    trail: tuple[str, ...] = field(default=())


def normalize(text: str) -> str:
    """Collapse whitespace so that reflowing a paragraph does not change chunk ids."""
    return " ".join(text.split())


def chunk_id(text: str, heading: str, occurrence: int = 0) -> str:
    """Content hash of a chunk (the n-th repeat of the same text in a document differs)."""
    payload = f"{normalize(heading)}\n{normalize(text)}\n{occurrence}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def split_by_size(text: str, size: int, overlap: int) -> list[str]:
    """Split ``text`` into pieces of at most ``size`` characters at natural breaks.

    Consecutive pieces share up to ``overlap`` characters (starting on a word boundary).
    """
    text = text.strip()
    if not text:
        return []
    if len(text) <= size:
        return [text]
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            end = _best_break(text, start, end)
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        if end >= len(text):
            break
        start = _overlap_start(text, start, end, overlap)
    return pieces


def _best_break(text: str, start: int, end: int) -> int:
    """The last natural break in text[start:end] past its first half, else ``end``."""
    floor = start + (end - start) // 2
    for sep in _BREAKS:
        cut = text.rfind(sep, floor, end)
        if cut != -1:
            return cut + len(sep)
    return end


def _overlap_start(text: str, start: int, end: int, overlap: int) -> int:
    if overlap <= 0:
        return end
    back = max(end - overlap, start + 1)
    space = text.find(" ", back, end)
    return space + 1 if space != -1 else back


def markdown_sections(text: str) -> list[tuple[tuple[str, ...], str]]:
    """Split Markdown into (heading trail, body) sections; fenced code never splits."""
    sections: list[tuple[tuple[str, ...], str]] = []
    trail: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        joined = "\n".join(body).strip()
        if joined:
            sections.append((tuple(title for _, title in trail), joined))
        body.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            trail = [(lvl, title) for lvl, title in trail if lvl < level]
            trail.append((level, match.group(2).strip()))
            continue
        body.append(line)
    flush()
    return sections


def chunk_markdown(text: str, size: int, overlap: int) -> list[Piece]:
    """Chunk Markdown (and plain text, which is Markdown without headings)."""
    pieces: list[Piece] = []
    for trail, body in markdown_sections(text):
        heading = " > ".join(trail)
        for part in split_by_size(body, size, overlap):
            pieces.append(Piece(text=part, heading=heading, trail=trail))
    return pieces


def to_chunks(pieces: list[Piece], source: str, doc_hash: str) -> list[Chunk]:
    """Give pieces their ids and positions (document order)."""
    seen: dict[str, int] = {}
    chunks: list[Chunk] = []
    for position, piece in enumerate(pieces):
        key = f"{piece.heading}\n{normalize(piece.text)}"
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        chunks.append(
            Chunk(
                chunk_id=chunk_id(piece.text, piece.heading, occurrence),
                text=piece.text,
                source=source,
                position=position,
                heading=piece.heading,
                doc_hash=doc_hash,
            )
        )
    return chunks


def embedding_input(chunk: Chunk) -> str:
    """What gets embedded: the heading trail gives a short passage its context."""
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text
