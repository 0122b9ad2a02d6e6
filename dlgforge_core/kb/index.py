"""The LanceDB chunk table on disk, its full-text index, and the build lock."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from dlgforge_core.kb.chunking import Chunk
from dlgforge_core.store.locks import exclusive_lock

TABLE_NAME = "chunks"
LOCK_NAME = ".build.lock"
META_COLUMNS = ["chunk_id", "text", "source", "position", "heading", "doc_hash"]
_DELETE_BATCH = 500


def quote(value: str) -> str:
    """A SQL string literal for LanceDB filters."""
    return "'" + value.replace("'", "''") + "'"


def sources_filter(sources: Sequence[str]) -> str:
    return f"source IN ({', '.join(quote(s) for s in sources)})"


def fts_terms(query: str) -> str:
    """Plain search terms: full-text query syntax characters are dropped."""
    return " ".join(re.findall(r"\w+", query))


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive lock on ``<index_dir>/.build.lock`` for the duration of a build.

    ``flock`` is held per open file, so two processes (or two threads with their own
    KnowledgeBase) building the same index run one after the other.
    """
    with exclusive_lock(index_dir / LOCK_NAME):
        yield


def _schema(dimension: int) -> pa.Schema:
    return pa.schema([
        ("chunk_id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("position", pa.int32()),
        ("heading", pa.string()),
        ("doc_hash", pa.string()),
        ("vector", pa.list_(pa.float32(), dimension)),
    ])


class ChunkIndex:
    """The ``chunks`` table in ``index_dir``: rows of chunk metadata plus a vector."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        index_dir.mkdir(parents=True, exist_ok=True)
        self._connection = None
        self._table = None
        self._fts: bool | None = None

    @property
    def _db(self):
        """The LanceDB connection, opened (and LanceDB imported, ~0.6 s) on first use: a run
        on an unchanged index searched from memory never needs it."""
        if self._connection is None:
            from dlgforge_core.kb.lancedb_import import import_lancedb

            self._connection = import_lancedb().connect(str(self.index_dir))
        return self._connection

    @property
    def table(self):
        """The open table, or None when it does not exist yet."""
        if self._table is None and self.exists():
            self._table = self._db.open_table(TABLE_NAME)
        return self._table

    def exists(self) -> bool:
        """Whether the table exists: LanceDB keeps a local table in ``<name>.lance/``."""
        return (self.index_dir / f"{TABLE_NAME}.lance").is_dir()

    def reset(self, dimension: int) -> None:
        """Drop the table (if any) and create an empty one for ``dimension``-d vectors."""
        if self.exists():
            self._db.drop_table(TABLE_NAME)
        self._table = self._db.create_table(TABLE_NAME, schema=_schema(dimension))
        self._fts = None

    def count(self) -> int:
        return self.table.count_rows() if self.table is not None else 0

    def delete_sources(self, sources: Sequence[str]) -> int:
        """Delete every chunk of ``sources``; returns how many rows went."""
        if not sources or self.table is None:
            return 0
        before = self.table.count_rows()
        for start in range(0, len(sources), _DELETE_BATCH):
            self.table.delete(sources_filter(sources[start:start + _DELETE_BATCH]))
        return before - self.table.count_rows()

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Append chunks with their vectors (one row each)."""
        if not chunks:
            return
        dimension = vectors.shape[1]
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
        columns = {
            "chunk_id": [c.chunk_id for c in chunks],
            "text": [c.text for c in chunks],
            "source": [c.source for c in chunks],
            "position": pa.array([c.position for c in chunks], type=pa.int32()),
            "heading": [c.heading for c in chunks],
            "doc_hash": [c.doc_hash for c in chunks],
            "vector": pa.FixedSizeListArray.from_arrays(flat, dimension),
        }
        self.table.add(pa.table(columns, schema=_schema(dimension)))

    def refresh_fts(self) -> None:
        """(Re)build the native full-text index over chunk text."""
        if self.table is not None and self.table.count_rows():
            from lancedb.index import FTS

            self.table.create_index("text", config=FTS(), replace=True)
            self._fts = True

    def metadata(self) -> pa.Table:
        """Every row's non-vector columns."""
        if self.table is None:
            return pa.table({name: [] for name in META_COLUMNS})
        return self.table.search().select(META_COLUMNS).limit(None).to_arrow()

    def sources(self) -> set[str]:
        """The documents that have rows in the table."""
        if self.table is None:
            return set()
        rows = self.table.search().select(["source"]).limit(None).to_arrow()
        return set(rows.column("source").to_pylist())

    def snapshot(self) -> pa.Table:
        """Every row, vectors included (for ``ResidentIndex``)."""
        if self.table is None:
            return pa.table({name: [] for name in [*META_COLUMNS, "vector"]})
        return self.table.to_arrow()

    def vector_search(self, vector: np.ndarray, limit: int,
                      sources: Sequence[str] | None = None) -> list[dict]:
        """Nearest chunks by cosine distance; rows carry ``_distance``."""
        if self.table is None:
            return []
        query = self.table.search(vector, query_type="vector").distance_type("cosine")
        if sources:
            query = query.where(sources_filter(sources), prefilter=True)
        return query.select([*META_COLUMNS, "_distance"]).limit(limit).to_list()

    def fts_search(self, text: str, limit: int,
                   sources: Sequence[str] | None = None) -> list[dict]:
        """BM25 matches of the query's terms; rows carry ``_score``."""
        terms = fts_terms(text)
        if self.table is None or not terms or not self._has_fts():
            return []
        query = self.table.search(terms, query_type="fts")
        if sources:
            query = query.where(sources_filter(sources), prefilter=True)
        return query.select([*META_COLUMNS, "_score"]).limit(limit).to_list()

    def _has_fts(self) -> bool:
        if self._fts is None:
            self._fts = any(ix.index_type == "FTS" for ix in self.table.list_indices())
        return self._fts

    def vectors_for(self, sources: Sequence[str]) -> dict[str, np.ndarray]:
        """chunk_id -> stored vector for the chunks of ``sources`` (reused on edits)."""
        if not sources or self.table is None:
            return {}
        rows = (self.table.search().where(sources_filter(sources)).select(["chunk_id", "vector"])
                .limit(None).to_arrow())
        ids = rows.column("chunk_id").to_pylist()
        if not ids:
            return {}
        vectors = np.stack(rows.column("vector").to_numpy(zero_copy_only=False))
        return dict(zip(ids, vectors))
