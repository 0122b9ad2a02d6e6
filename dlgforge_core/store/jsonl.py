"""JSON Lines files written as whole lines, with repair of a torn last line after a crash."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dlgforge_core.store.atomic import dumps


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the complete JSON lines of ``path`` (none when it does not exist).

    A torn last line (no newline, or not valid JSON) is skipped, so readers never see a
    half-written record; :func:`repair_torn_tail` removes it for good.
    """
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return
            line = raw.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def append_jsonl(path: Path, rows: Iterable[dict[str, Any]], fsync: bool = True) -> int:
    """Append ``rows`` as whole lines in one write, then flush and fsync; returns the count."""
    lines = [dumps(row) + "\n" for row in rows]
    if not lines:
        return 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        handle.write("".join(lines).encode("utf-8"))
        handle.flush()
        if fsync:
            os.fsync(handle.fileno())
    return len(lines)


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Replace ``path`` with ``rows`` (streamed to a temp file, fsynced, renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.rewrite.tmp")
    count = 0
    try:
        with tmp.open("wb") as handle:
            for row in rows:
                handle.write((dumps(row) + "\n").encode("utf-8"))
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def repair_torn_tail(path: Path) -> bool:
    """Cut a torn last line (a crash mid-append) off ``path``; True when something was cut.

    Only the tail can be torn because every append writes whole lines in one call, so the
    scan walks back from the end to the last newline that ends a valid JSON line.
    """
    path = Path(path)
    if not path.exists():
        return False
    size = path.stat().st_size
    keep = _valid_prefix_length(path, size)
    if keep == size:
        return False
    with path.open("r+b") as handle:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _valid_prefix_length(path: Path, size: int) -> int:
    """Length of the file up to and including its last complete, parseable line.

    Lines never hold a raw newline (JSON escapes them), so a torn append can only leave
    bytes after the last newline; a last complete line that does not parse is cut too.
    """
    end = size
    with path.open("rb") as handle:
        while end > 0:
            cut = _last_newline_before(handle, end)
            if cut < 0:
                return 0
            if cut + 1 < end:  # bytes after the last newline: torn
                end = cut + 1
                continue
            start = _last_newline_before(handle, cut) + 1
            handle.seek(start)
            line = handle.read(cut - start).strip()
            if not line or _parses(line):
                return end
            end = start
    return 0


def _last_newline_before(handle, end: int) -> int:
    """Offset of the last ``\\n`` strictly before ``end``, or -1."""
    block = 1 << 16
    pos = end
    while pos > 0:
        step = min(block, pos)
        pos -= step
        handle.seek(pos)
        found = handle.read(step).rfind(b"\n")
        if found >= 0:
            return pos + found
    return -1


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True
