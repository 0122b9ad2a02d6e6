"""Ingestion: find the KB's files, hash them, and extract their text.

Hashing is separate from extraction so an incremental build parses only the documents
whose content changed. Files that cannot give text (binary, empty, unreadable, not UTF-8,
a PDF without a text layer) raise :class:`SkipFile`; the builder warns once per file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dlgforge_core.kb.chunking import Piece, chunk_markdown
from dlgforge_core.kb.code_chunks import chunk_code, language_for

if TYPE_CHECKING:
    from dlgforge_core.kb.ingest_rules import IngestRules

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdx"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
_SNIFF_BYTES = 8192
_BLOCK_TAGS = ["p", "div", "li", "tr", "pre", "blockquote", "section", "article", "table",
               "ul", "ol", "dl", "dt", "dd", "header", "footer", "main", "nav", "aside"]


class SkipFile(Exception):
    """This file gives no usable text; ``str(err)`` says why."""


@dataclass(frozen=True)
class SourceFile:
    """A file of the KB: its path, path relative to the KB folder, and stat."""

    path: Path
    source: str
    size: int
    mtime_ns: int


def scan(knowledge_dir: Path, rules: "IngestRules | None" = None) -> list[SourceFile]:
    """Every file of ``knowledge_dir`` that ingestion reads (recursively, sorted by path).

    ``rules`` (default: ``retrieval.ingest``'s defaults) leave out links that leave the
    folder, secret-bearing files, ignored paths and hidden files: see ``kb.ingest_rules``,
    whose ``walk`` also says why each path was left out.
    """
    from dlgforge_core.kb.ingest_rules import walk

    return walk(knowledge_dir, rules).files


def hash_file(path: Path) -> str:
    """sha256 of the file's bytes (raises SkipFile when it cannot be read)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise SkipFile(f"unreadable ({err.strerror or err})") from err
    return digest.hexdigest()


def extract_pieces(path: Path, source: str, size: int, overlap: int) -> list[Piece]:
    """Read a file and chunk it by kind; raises SkipFile when there is no usable text."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        text = _pdf_text(path)
        return _require(chunk_markdown(text, size, overlap))
    text = _decode(_read(path))
    if suffix in HTML_SUFFIXES:
        return _require(chunk_markdown(_html_text(text), size, overlap))
    language = language_for(suffix)
    if language is not None:
        return _require(chunk_code(text, language, size, source))
    return _require(chunk_markdown(text, size, overlap))


def read_text(path: Path) -> str:
    """The text a document's secrets are looked for in: the file's text, a PDF's text layer
    (raises SkipFile when there is none)."""
    if path.suffix.lower() in PDF_SUFFIXES:
        return _pdf_text(path)
    return _decode(_read(path))


def _require(pieces: list[Piece]) -> list[Piece]:
    if not pieces:
        raise SkipFile("no text")
    return pieces


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SkipFile(f"unreadable ({err.strerror or err})") from err
    if not data.strip():
        raise SkipFile("empty")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise SkipFile("binary")
    return data


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SkipFile(f"not valid UTF-8 (byte {err.start})") from err


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if path.stat().st_size == 0:
        raise SkipFile("empty")
    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, OSError, ValueError, KeyError) as err:
        raise SkipFile(f"unreadable PDF ({type(err).__name__})") from err
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise SkipFile("PDF has no text layer")
    return text


def _html_text(html: str) -> str:
    """Visible text of an HTML page, headings kept as Markdown headings for chunking."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head", "svg"]):
        tag.decompose()
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            title = " ".join(tag.get_text(" ").split())
            tag.replace_with(f"\n\n{'#' * level} {title}\n\n" if title else "")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    text = soup.get_text()
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
