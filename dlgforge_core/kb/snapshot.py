"""The resident copy's file: every row of one index version, in an Arrow IPC file.

A small index (at most ``retrieval.resident_max_chunks`` chunks) is read whole into memory
for search (``ResidentIndex``). Reading it through LanceDB costs ~0.6 s of imports at the
start of every run, so the build also writes the rows to ``<index_dir>/resident.arrow``,
tagged with the index version, and a run on an unchanged index loads them from there
(memory-mapped) without opening LanceDB. A file of another version is never read.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from dlgforge_core.store.atomic import atomic_file

SNAPSHOT_NAME = "resident.arrow"
_VERSION_KEY = b"dlgforge.index_version"


def snapshot_version(index_dir: Path) -> str | None:
    """The index version the snapshot file holds (None: no readable file)."""
    try:
        schema = ipc.open_file(pa.memory_map(str(index_dir / SNAPSHOT_NAME))).schema
    except (OSError, pa.ArrowException):
        return None
    value = (schema.metadata or {}).get(_VERSION_KEY)
    return value.decode("utf-8") if value else None


def load_snapshot(index_dir: Path, version: str) -> pa.Table | None:
    """Every row of index ``version`` (memory-mapped), or None when the file holds another
    version or cannot be read."""
    try:
        reader = ipc.open_file(pa.memory_map(str(index_dir / SNAPSHOT_NAME)))
        if (reader.schema.metadata or {}).get(_VERSION_KEY) != version.encode("utf-8"):
            return None
        return reader.read_all()
    except (OSError, pa.ArrowException):
        return None


def save_snapshot(index_dir: Path, version: str, table: pa.Table) -> None:
    """Write ``table`` as the snapshot of ``version`` atomically (see ``store.atomic``)."""
    metadata = {**(table.schema.metadata or {}), _VERSION_KEY: version.encode("utf-8")}
    table = table.replace_schema_metadata(metadata)
    with atomic_file(index_dir / SNAPSHOT_NAME) as handle:  # streamed: no copy in memory
        with ipc.new_file(handle, table.schema) as writer:
            writer.write_table(table)


def remove_snapshot(index_dir: Path) -> None:
    """Drop the snapshot (the table is about to change)."""
    (index_dir / SNAPSHOT_NAME).unlink(missing_ok=True)
