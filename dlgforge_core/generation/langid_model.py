"""py3langid's model, memory-mapped from an unpacked copy in the user's cache.

py3langid ships its model LZMA-compressed and unpacks it into each process's memory: ~80 MB
(a 28 MB float16 feature table, a 39 MB byte automaton, and Python lists of them), the
largest single part of a generation process after its libraries. Unpacked once into
``$XDG_CACHE_HOME/dlgforge/langid`` (default ``~/.cache``) and memory-mapped instead, those
pages are backed by the file: only the pages the checked texts touch become resident, the
kernel can drop them under pressure, and the processes of one machine (shards, Dagster runs)
share one copy. The arrays are the package's own, so the scores are identical.

The folder is keyed by the packaged model's content and py3langid's version, and written
under a temporary name then renamed, so a reader never sees half of it. Anything that goes
wrong (no home or a read-only cache, a changed model layout, a copy that does not rank a
probe sentence as English) falls back to py3langid's own loader.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import lzma
import os
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from dlgforge_core.user_cache import user_cache_dir

_LAYOUT = "1"  # raise when the files written here change
_ARRAYS = ("ptc", "pc", "nextmove", "nextmove_row", "out_feat")
_FILES = (*(f"{name}.npy" for name in _ARRAYS), "classes.json")
_STALE_STAGING = 3600  # seconds: a staging folder this old was left by a killed process
_PROBE = ("This is plainly an English sentence about returning a rented bike.", "en")


def load_identifier() -> Any:
    """A ``py3langid`` ``LanguageIdentifier`` (normalized probabilities) on the mapped model,
    or py3langid's own in-memory one when the mapped copy cannot be had or does not answer
    a probe sentence as the package does."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    try:
        folder = _unpacked(Path(MODEL_DIR) / MODEL_FILE)
        if folder is not None:
            identifier = _mapped(folder, LanguageIdentifier)
            if identifier.rank(_PROBE[0])[0][0] == _PROBE[1]:
                return identifier
    except Exception:  # noqa: BLE001 - any problem with the copy: the package's loader still works
        pass
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in _FILES)


def _unpacked(model: Path) -> Path | None:
    """The folder holding ``model`` unpacked (written now if missing); None without a cache.

    Keyed by the packed file's content (4.5 MB, hashed in milliseconds), so every install
    of the same model shares one folder."""
    root = user_cache_dir("langid")
    if root is None:
        return None
    digest = hashlib.sha256(f"{_LAYOUT}\0{metadata.version('py3langid')}\0".encode())
    digest.update(model.read_bytes())
    key = digest.hexdigest()[:32]
    folder = root / key
    if _complete(folder):
        return folder
    root.mkdir(parents=True, exist_ok=True)
    _sweep_staging(root)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        with tempfile.TemporaryFile(dir=root) as npz:
            with lzma.open(model) as packed:
                shutil.copyfileobj(packed, npz, length=1 << 20)
            npz.seek(0)
            with np.load(npz, allow_pickle=False) as data:
                for name in _ARRAYS:
                    np.save(staging / f"{name}.npy", np.ascontiguousarray(data[name]))
                classes = data["classes"].tolist()
        (staging / "classes.json").write_text(json.dumps(classes))
        if folder.exists() and not _complete(folder):  # damaged: replaced by this copy
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rename(staging, folder)
        except OSError:  # another process put it in place first: use theirs
            pass
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder if _complete(folder) else None


def _sweep_staging(root: Path) -> None:
    """Remove staging folders an unpack killed midway left behind (the detector loads on a
    daemon thread, which dies with its process)."""
    cutoff = time.time() - _STALE_STAGING
    for staging in root.glob(".*"):
        with contextlib.suppress(OSError):
            if staging.is_dir() and staging.stat().st_mtime < cutoff:
                shutil.rmtree(staging, ignore_errors=True)


def _mapped(folder: Path, identifier_class: Any) -> Any:
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
              for name in _ARRAYS}
    classes = json.loads((folder / "classes.json").read_text())
    # The automaton (39 MB) is walked one byte at a time in Python: a memoryview over the
    # mapped file indexes a little slower than py3langid's array.array, without the copy.
    # The output table stays a list, as py3langid keeps it (memoryview indexing is ~2.4x
    # slower there, the hottest lookup), and the feature table a plain ndarray view (a
    # memmap subclass adds per-index overhead): ~3 % slower per check than the package.
    return identifier_class(arrays["ptc"].view(np.ndarray), np.array(arrays["pc"]), classes,
                            memoryview(arrays["nextmove"]), arrays["out_feat"].tolist(),
                            norm_probs=True, tk_row=memoryview(arrays["nextmove_row"]))
