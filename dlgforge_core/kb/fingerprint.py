"""A cheap, stable content hash of a KB folder (for the observable asset and the sensor)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from dlgforge_core.errors import KBError
from dlgforge_core.kb.ingest import SkipFile, hash_file, scan
from dlgforge_core.kb.ingest_rules import IngestRules

_seen: dict[str, tuple[int, int, str]] = {}
_seen_lock = threading.Lock()


def kb_fingerprint(knowledge_dir: Path | str, rules: IngestRules | None = None) -> str:
    """sha256 over (relative path, content hash) of every file under ``knowledge_dir`` that
    ingestion reads under ``rules`` (``retrieval.ingest``; its defaults when None).

    Within one process a file whose size and mtime are unchanged is not hashed again.
    Moving the folder keeps the fingerprint; editing, adding, removing or renaming a
    file changes it.
    """
    folder = Path(knowledge_dir)
    if not folder.is_dir():
        raise KBError(f"retrieval.knowledge_dir: folder not found: {folder}")
    digest = hashlib.sha256()
    for file in scan(folder, rules):
        key = str(file.path.resolve())
        with _seen_lock:
            cached = _seen.get(key)
        if cached is not None and cached[:2] == (file.size, file.mtime_ns):
            content = cached[2]
        else:
            try:
                content = hash_file(file.path)
            except SkipFile:
                content = "unreadable"
            with _seen_lock:
                _seen[key] = (file.size, file.mtime_ns, content)
        digest.update(f"{file.source}\0{content}\n".encode("utf-8"))
    return digest.hexdigest()[:32]
