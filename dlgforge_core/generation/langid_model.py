"""py3langid's model, memory-mapped from an unpacked copy in the user's cache.

py3langid ships its model LZMA-compressed and unpacks it into each process's memory: ~80 MB
(a 28 MB float16 feature table, a 39 MB byte automaton, and Python lists of them), the
largest single part of a generation process after its libraries. Unpacked once into
``$XDG_CACHE_HOME/dlgforge/langid`` (default ``~/.cache``) and memory-mapped instead, those
pages are backed by the file: only the pages the checked texts touch become resident, the
kernel can drop them under pressure, and the processes of one machine (shards, Dagster runs)
share one copy. The arrays are the package's own, so the scores are identical.

The folder is keyed by the packaged model file and py3langid's version, and written under a
temporary name then renamed, so a reader never sees half of it. Anything that goes wrong
(no home or a read-only cache, a changed model layout) falls back to py3langid's own loader.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from dlgforge_core.user_cache import user_cache_dir

_LAYOUT = "1"  # raise when the files written here change
_ARRAYS = ("ptc", "pc", "nextmove", "nextmove_row", "out_feat")


def load_identifier() -> Any:
    """A ``py3langid`` ``LanguageIdentifier`` (normalized probabilities) on the mapped model,
    or py3langid's own in-memory one when the mapped copy cannot be had."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    try:
        folder = _unpacked(Path(MODEL_DIR) / MODEL_FILE)
        if folder is not None:
            return _mapped(folder, LanguageIdentifier)
    except Exception:  # noqa: BLE001 - any problem with the copy: the package's loader still works
        pass
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _unpacked(model: Path) -> Path | None:
    """The folder holding ``model`` unpacked (written now if missing); None without a cache."""
    root = user_cache_dir("langid")
    if root is None:
        return None
    stat = model.stat()
    key = hashlib.sha256(
        f"{_LAYOUT}\0{metadata.version('py3langid')}\0{model.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
        .encode()).hexdigest()[:32]
    folder = root / key
    if (folder / "classes.json").is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
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
        (staging / "classes.json").write_text(json.dumps(classes))  # written last: the marker
        try:
            os.rename(staging, folder)
        except OSError:  # another process put it in place first: use theirs
            pass
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder if (folder / "classes.json").is_file() else None


def _mapped(folder: Path, identifier_class: Any) -> Any:
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
              for name in _ARRAYS}
    classes = json.loads((folder / "classes.json").read_text())
    # the automaton is walked one byte at a time in Python: a memoryview indexes as fast as
    # the array.array py3langid builds, without copying the 39 MB table
    return identifier_class(arrays["ptc"], np.array(arrays["pc"]), classes,
                            memoryview(arrays["nextmove"]), memoryview(arrays["out_feat"]),
                            norm_probs=True, tk_row=memoryview(arrays["nextmove_row"]))
