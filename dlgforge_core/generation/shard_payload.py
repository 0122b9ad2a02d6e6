"""What a shard on any Ray node needs from the driver, sent through Ray (not a shared path).

With a database store the driver packs the built KB index (the LanceDB folder) into bytes
that go to the object store once; each shard unpacks them into a scratch folder of its own
node, and runs with a copy of the config whose output folder, LLM cache and index live in
that scratch folder. The shard then writes only to the database; the driver writes the
output folder (``dlgforge_core.store.view``).
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def pack_dir(folder: Path) -> bytes:
    """``folder``'s files as an uncompressed tar (index files hardly compress)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(str(folder), arcname=".")
    return buffer.getvalue()


def unpack_dir(data: bytes, dest: Path) -> Path:
    """Unpack what ``pack_dir`` made into ``dest`` (created); returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(dest, filter="data")
    return dest


@dataclass
class ShardSandbox:
    """A shard's node-local copy of what the driver sent, and the configs that point at it."""

    root: Path
    cfg: Any  # the engine's: output folder and LLM cache in the scratch folder
    kb_cfg: Any  # the KB's: the same, with the index in the scratch folder

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def open_sandbox(cfg: Any, index: bytes) -> ShardSandbox:
    """Unpack ``index`` on this node and make the shard's configs (the config hash is unchanged:
    output and cache locations are not part of it, and only the KB's copy moves the index)."""
    root = Path(tempfile.mkdtemp(prefix="dlgforge-shard-"))
    index_dir = unpack_dir(index, root / "index")
    engine_cfg = cfg.model_copy(deep=True)
    engine_cfg.saving.output_dir = str(root / "output")
    engine_cfg.llm.cache.dir = str(root / "cache")
    kb_cfg = engine_cfg.model_copy(deep=True)
    kb_cfg.retrieval.index_dir = str(index_dir)
    return ShardSandbox(root=root, cfg=engine_cfg, kb_cfg=kb_cfg)
