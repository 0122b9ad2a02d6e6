"""Crash-safe whole-file writes: write a temp file in the same folder, then rename over."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


@contextlib.contextmanager
def atomic_file(path: Path, fsync: bool = True) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` when the block ends without an error, so readers
    see the old or the new file, never a torn one (written to a temp file beside it, then
    renamed over; on an error the temp file is removed and ``path`` left as it was)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` (see ``atomic_file``)."""
    with atomic_file(path, fsync=fsync) as handle:
        handle.write(data)


def write_text_atomic(path: Path, text: str, fsync: bool = True) -> None:
    """Atomically replace ``path`` with UTF-8 ``text``."""
    write_bytes_atomic(path, text.encode("utf-8"), fsync=fsync)


def dumps(obj: Any) -> str:
    """The one JSON encoding used for every output file (UTF-8, no ASCII escaping)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_json_atomic(path: Path, obj: Any, fsync: bool = True, indent: int | None = 2) -> None:
    """Atomically replace ``path`` with ``obj`` encoded as JSON."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    write_text_atomic(path, text + "\n", fsync=fsync)


def read_json(path: Path) -> Any:
    """Read a JSON file written by :func:`write_json_atomic`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
