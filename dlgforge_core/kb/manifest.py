"""The index manifest: what the LanceDB table was built from.

It sits next to the table (``<index_dir>/manifest.json``) and records the embedding
backend/model/dimension, the chunking settings, the schema version and one content hash
per source document. ``index_version`` hashes everything except file stats, so touching a
file without changing it keeps the version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dlgforge_core.store.atomic import write_text_atomic

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


class EmbeddingInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: str
    model: str
    dimension: int = 0


class ChunkingInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chunk_size: int
    chunk_overlap: int
    chunker_version: int


class SkippedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc_hash: str
    reason: str


class Manifest(BaseModel):
    """Contents of ``manifest.json``."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = SCHEMA_VERSION
    embedding: EmbeddingInfo
    chunking: ChunkingInfo
    documents: dict[str, str] = Field(default_factory=dict)
    file_stats: dict[str, tuple[int, int]] = Field(default_factory=dict)
    skipped: dict[str, SkippedFile] = Field(default_factory=dict)
    # (line, kind) of each secret found per document; never the secret itself
    secrets: dict[str, list[tuple[int, str]]] = Field(default_factory=dict)
    secrets_scanned: bool = False
    chunks: int | None = None  # rows in the table (None: written before this was recorded)

    def settings_match(self, other: "Manifest") -> bool:
        """Same schema, model and chunking: the table's rows are still valid."""
        same_model = (self.embedding.backend, self.embedding.model) == \
            (other.embedding.backend, other.embedding.model)
        return self.schema_version == other.schema_version and same_model and \
            self.chunking == other.chunking

    def index_version(self) -> str:
        """Fingerprint of the index: documents, model and chunking."""
        payload = self.model_dump(include={"schema_version", "embedding", "chunking", "documents"})
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def load_manifest(index_dir: Path) -> Manifest | None:
    """The stored manifest, or None when missing or unreadable (forces a rebuild)."""
    path = index_dir / MANIFEST_NAME
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError):
        return None


def save_manifest(index_dir: Path, manifest: Manifest) -> None:
    """Write the manifest atomically (see ``store.atomic``)."""
    write_text_atomic(index_dir / MANIFEST_NAME, manifest.model_dump_json(indent=2))
