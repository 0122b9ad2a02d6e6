"""The export folder: where it may live, and its atomic rebuild.

The export folder always lives inside ``saving.output_dir``. It is built under a temporary
name next to its final place and swapped in with renames, so readers see the old folder or
the new one, never a half-written one; the old folder is then deleted. Every delete is
checked to stay inside the output folder, whatever the config says.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dlgforge_core.errors import ExportError
from dlgforge_core.store.locks import exclusive_lock

EXPORT_DIR_KEY = "saving.hf_push.export_dir"
# Folders of the output contract that an export must never replace.
_RESERVED = ("conversations", "run_state", "logs")
_TMP_PREFIX = ".export-tmp-"
_OLD_PREFIX = ".export-old-"
LOCK_FILE = ".export.lock"


def resolve_export_dir(cfg: Any) -> Path:
    """The absolute export folder, refused unless it lies strictly inside ``cfg.output_dir``.

    ``..``, absolute paths elsewhere and symlinks that lead out of the output folder raise
    ExportError naming ``saving.hf_push.export_dir`` and its value.
    """
    value = str(cfg.saving.hf_push.export_dir)
    output_dir = Path(cfg.output_dir).resolve()
    raw = Path(value).expanduser()
    candidate = raw if raw.is_absolute() else output_dir / raw
    resolved = candidate.resolve()
    if not value.strip() or not resolved.is_relative_to(output_dir) or resolved == output_dir:
        raise ExportError(
            f"{EXPORT_DIR_KEY}: {value!r} must name a folder inside saving.output_dir ({output_dir})"
        )
    first = resolved.relative_to(output_dir).parts[0]
    if first in _RESERVED or first.startswith((_TMP_PREFIX, _OLD_PREFIX)):
        raise ExportError(f"{EXPORT_DIR_KEY}: {value!r} would replace the output folder's {first}/")
    if resolved.exists() and not resolved.is_dir():
        raise ExportError(f"{EXPORT_DIR_KEY}: {value!r} exists and is not a folder")
    return resolved


@contextmanager
def export_lock(output_dir: Path) -> Iterator[None]:
    """Serialize exports of one output folder across processes (CLI, Dagster runs)."""
    with exclusive_lock(Path(output_dir) / LOCK_FILE):
        yield


def safe_rmtree(path: Path, root: Path) -> None:
    """Delete the folder ``path`` only if it lies strictly inside ``root`` (else raise)."""
    path, root = Path(path), Path(root).resolve()
    if path.is_symlink() or not path.resolve().is_relative_to(root) or path.resolve() == root:
        raise ExportError(f"refusing to delete {path}: it is not a folder inside {root}")
    shutil.rmtree(path)


@contextmanager
def atomic_folder(target: Path, root: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces ``target`` atomically.

    ``root`` (the output folder) bounds every delete. On an exception the temporary folder
    is removed and ``target`` is left untouched.
    """
    target, root = Path(target), Path(root).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target.parent, root)
    tmp = target.parent / f"{_TMP_PREFIX}{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        safe_rmtree(tmp, root)
        raise
    _fsync_dir(tmp)
    old = None
    if target.exists():
        old = target.parent / f"{_OLD_PREFIX}{uuid.uuid4().hex[:12]}"
        os.rename(target, old)
    os.rename(tmp, target)
    _fsync_dir(target.parent)
    if old is not None:
        safe_rmtree(old, root)


def list_files(folder: Path) -> list[str]:
    """Relative POSIX paths of every file under ``folder``, sorted."""
    folder = Path(folder)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _remove_leftovers(parent: Path, root: Path) -> None:
    """Delete temporary folders a crashed export left behind (they never hold the live export)."""
    for child in parent.iterdir():
        if child.is_dir() and not child.is_symlink() and child.name.startswith((_TMP_PREFIX, _OLD_PREFIX)):
            safe_rmtree(child, root)


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (best effort: some file systems refuse to open folders)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
