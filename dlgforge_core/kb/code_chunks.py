"""Source code chunking with tree-sitter at function and class boundaries.

Top-level definitions (with the comments right above them, and their decorators) are packed
greedily into chunks of at most ``chunk_size`` characters. Docstrings live inside their
function's node, so they always stay with it. A class too big for one chunk is split at its
member boundaries (the class header with its docstring and fields, then its methods), under
the heading ``class <Name>``. A single function larger than ``chunk_size`` is kept whole as
one oversized chunk: a function is never cut. Code chunks have no overlap.
"""

from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass

from dlgforge_core.kb.chunking import Piece, chunk_markdown

log = logging.getLogger("dlgforge.kb")

LANGUAGE_BY_SUFFIX = {
    ".py": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
}
# grammar package and the function in it that returns the language pointer
_GRAMMARS = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
}
_CLASS_TYPES = {"class_definition", "class_declaration", "abstract_class_declaration", "class"}
_WRAPPERS = {"decorated_definition": "definition", "export_statement": "declaration"}
_MEMBER_SKIP = {"{", "}", ";", ":"}


@dataclass
class _Unit:
    start: int
    end: int
    node: object | None = None


@functools.lru_cache(maxsize=None)
def _parser(language: str):
    """A tree-sitter parser for ``language``, or None when no grammar is installed."""
    import tree_sitter

    module_name, func = _GRAMMARS[language]
    try:
        module = importlib.import_module(module_name)
        return tree_sitter.Parser(tree_sitter.Language(getattr(module, func)()))
    except ImportError:
        pass
    try:
        from tree_sitter_language_pack import get_parser

        return get_parser(language)
    except Exception:  # the pack may try to download grammars; we are offline
        return None


def language_for(suffix: str) -> str | None:
    """The tree-sitter language name for a file suffix, or None for non-code files."""
    return LANGUAGE_BY_SUFFIX.get(suffix.lower())


def chunk_code(text: str, language: str, size: int, source: str = "") -> list[Piece]:
    """Split source code into pieces at definition boundaries (see module docstring)."""
    parser = _parser(language)
    if parser is None:
        log.warning("no tree-sitter grammar for %s; chunking %s as plain text", language, source)
        return chunk_markdown(text, size, 0)
    data = text.encode("utf-8")
    root = parser.parse(data).root_node
    units = _units(data, list(root.children))
    pieces: list[Piece] = []
    for group, oversized in _pack(units, size, data):
        if oversized and _class_body(group[0].node) is not None:
            pieces.extend(_split_class(data, group[0], size))
        else:
            pieces.append(Piece(text=_slice(data, group[0].start, group[-1].end)))
    return [piece for piece in pieces if piece.text.strip()]


def _units(data: bytes, nodes: list) -> list[_Unit]:
    """One unit per node; comments right above a node join it."""
    units: list[_Unit] = []
    pending: int | None = None
    for node in nodes:
        if node.type in _MEMBER_SKIP:
            continue
        if node.type == "comment":
            pending = node.start_byte if pending is None else pending
            continue
        start = pending if pending is not None else node.start_byte
        units.append(_Unit(_line_start(data, start), node.end_byte, node))
        pending = None
    if pending is not None:
        end = nodes[-1].end_byte
        units.append(_Unit(_line_start(data, pending), end, None))
    return units


def _pack(units: list[_Unit], size: int, data: bytes):
    """Greedy groups of consecutive units within ``size``; yields (group, oversized)."""
    group: list[_Unit] = []
    for unit in units:
        if unit.end - unit.start > size:
            if group:
                yield group, False
                group = []
            yield [unit], True
            continue
        if group and unit.end - group[0].start > size:
            yield group, False
            group = []
        group.append(unit)
    if group:
        yield group, False


def _class_body(node):
    """The member list of a class node (also when decorated or exported), else None."""
    if node is None:
        return None
    if node.type in _WRAPPERS:
        inner = node.child_by_field_name(_WRAPPERS[node.type])
        return _class_body(inner)
    if node.type in _CLASS_TYPES:
        return node.child_by_field_name("body")
    return None


def _class_name(node) -> str:
    if node.type in _WRAPPERS:
        return _class_name(node.child_by_field_name(_WRAPPERS[node.type]))
    name = node.child_by_field_name("name")
    return name.text.decode("utf-8", "replace") if name is not None else "?"


def _split_class(data: bytes, unit: _Unit, size: int) -> list[Piece]:
    """The header (up to the first method) and the methods, packed within ``size``.

    The last piece runs to the end of the class (a closing brace stays in).
    """
    body = _class_body(unit.node)
    heading = f"class {_class_name(unit.node)}"
    members = _units(data, list(body.children))
    first_method = next((i for i, m in enumerate(members) if _is_function(m.node)), len(members))
    header_end = members[first_method].start if first_method < len(members) else unit.end
    units = [_Unit(unit.start, header_end), *members[first_method:]]
    units[-1] = _Unit(units[-1].start, max(units[-1].end, unit.end), units[-1].node)
    pieces = []
    for group, _ in _pack(units, size, data):
        text = _slice(data, group[0].start, group[-1].end)
        pieces.append(Piece(text=text, heading=heading, trail=(heading,)))
    return pieces


def _is_function(node) -> bool:
    if node is None:
        return False
    if node.type in _WRAPPERS:
        return _is_function(node.child_by_field_name(_WRAPPERS[node.type]))
    return "function" in node.type or "method" in node.type


def _line_start(data: bytes, offset: int) -> int:
    """Move ``offset`` back to its line start when only indentation precedes it."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return line_start if not data[line_start:offset].strip() else offset


def _slice(data: bytes, start: int, end: int) -> str:
    return data[start:end].decode("utf-8", "replace").rstrip()
