"""Incremental index build: embed new and changed documents, drop removed ones.

Unchanged documents cost one ``stat`` (size and mtime match the manifest) or one hash:
they are never re-read, re-chunked or re-embedded. Inside an edited document, chunks whose
content id is unchanged reuse their stored vector. A changed embedding model or chunking
setting (or ``retrieval.rebuild_index: true``) rebuilds the whole table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlgforge_core.errors import KBError
from dlgforge_core.kb.chunking import CHUNKER_VERSION, Chunk, embedding_input, to_chunks
from dlgforge_core.kb.embeddings import Embedder
from dlgforge_core.kb.index import ChunkIndex, build_lock
from dlgforge_core.kb.ingest import SkipFile, SourceFile, extract_pieces, hash_file, read_text
from dlgforge_core.kb.ingest_rules import IngestRules, walk
from dlgforge_core.kb.manifest import (MANIFEST_NAME, ChunkingInfo, EmbeddingInfo, Manifest,
                                       SkippedFile, load_manifest, save_manifest)
from dlgforge_core.kb.snapshot import SNAPSHOT_NAME, remove_snapshot, save_snapshot, snapshot_version

log = logging.getLogger("dlgforge.kb")
_FLUSH_CHUNKS = 1024

Progress = Callable[[str], object] | None


@dataclass
class BuildReport:
    """What a build did. ``skipped`` maps each skipped file (folders end with ``/``) to the
    reason; ``secrets`` maps each indexed document holding secrets to ``(line, kind)``."""

    documents: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_kept: int = 0
    documents_embedded: int = 0
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)
    chunks_embedded: int = 0
    rebuilt: bool = False
    index_version: str = ""
    secrets: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


@dataclass
class BuildSettings:
    knowledge_dir: Path
    index_dir: Path
    chunk_size: int
    chunk_overlap: int
    force: bool = False
    ingest: Any = None  # retrieval.ingest (None: its defaults)
    resident_max_chunks: int = 0  # an index this small also gets its resident snapshot

    @property
    def rules(self) -> IngestRules:
        return IngestRules.from_config(self.ingest) if self.ingest is not None else IngestRules()

    @property
    def scan_secrets(self) -> bool:
        return bool(getattr(self.ingest, "scan_secrets", True))

    @property
    def skip_secret_documents(self) -> bool:
        return getattr(self.ingest, "documents_with_secrets", "report") == "skip"


def build_index(settings: BuildSettings, index: ChunkIndex, embedder: Embedder,
                progress: Progress = None) -> BuildReport:
    """Bring the index at ``settings.index_dir`` up to date with the KB folder."""
    with build_lock(settings.index_dir):
        return _Build(settings, index, embedder, progress).run()


def unchanged_build(settings: BuildSettings, index: ChunkIndex,
                    embedder: Embedder) -> dict[str, str] | None:
    """What ``build_index`` would leave out, when it would change nothing; else None (see
    ``_Build.unchanged``)."""
    return _Build(settings, index, embedder, None).unchanged()


@dataclass
class _Plan:
    old: Manifest | None
    full: bool
    todo: list[SourceFile]
    removed: list[str]
    hashes: dict[str, str]

    @property
    def changes(self) -> bool:
        return bool(self.full or self.todo or self.removed)


class _Build:
    def __init__(self, settings: BuildSettings, index: ChunkIndex, embedder: Embedder,
                 progress: Progress) -> None:
        self.settings, self.index, self.embedder = settings, index, embedder
        self.progress = progress or (lambda message: None)
        self.report = BuildReport()
        backend, _, model = embedder.identity.partition(":")
        self.target = Manifest(
            embedding=EmbeddingInfo(backend=backend, model=model),
            chunking=ChunkingInfo(chunk_size=settings.chunk_size,
                                  chunk_overlap=settings.chunk_overlap,
                                  chunker_version=CHUNKER_VERSION))
        self.buffer: list[Chunk] = []
        self.reusable: dict[str, np.ndarray] = {}

    def run(self) -> BuildReport:
        started = time.perf_counter()
        for name in (MANIFEST_NAME, SNAPSHOT_NAME):  # temp files of a build killed mid-write
            for leftover in self.settings.index_dir.glob(f".{name}.*.tmp"):  # (we hold the lock)
                leftover.unlink(missing_ok=True)
        plan = self._plan()
        old = plan.old
        if plan.changes:
            self._apply(plan.full, old, plan.todo, plan.removed, plan.hashes)
            count = self.index.count()
        else:  # unchanged: LanceDB is not even opened when the manifest knows its row count
            self.target.embedding.dimension = old.embedding.dimension
            count = old.chunks if old.chunks is not None else self.index.count()
        if not self.target.documents:
            raise KBError(f"retrieval.knowledge_dir: no usable text in {self.settings.knowledge_dir}")
        self.target.chunks = count
        self._keep_snapshot(count)
        save_manifest(self.settings.index_dir, self.target)
        self.report.secrets = {s: list(found) for s, found in sorted(self.target.secrets.items())}
        self.report.documents = len(self.target.documents)
        self.report.chunks_kept = count - self.report.chunks_added
        self.report.seconds = time.perf_counter() - started
        self.report.index_version = self.target.index_version()
        return self.report

    def _hash_all(self, files: list[SourceFile], old: Manifest | None) -> dict[str, str]:
        """Content hash per readable file; known-bad files are reported as skipped again."""
        hashes: dict[str, str] = {}
        for file in files:
            known = old is not None and old.file_stats.get(file.source) == (file.size,
                                                                           file.mtime_ns)
            try:
                if known and file.source in old.documents:
                    digest = old.documents[file.source]
                else:
                    digest = hash_file(file.path)
            except SkipFile as err:
                self._skip(file.source, "", str(err))
                continue
            previous = old.skipped.get(file.source) if old is not None else None
            if previous is not None and previous.reason.startswith("holds secrets") and \
                    not self.settings.skip_secret_documents:
                previous = None  # documents_with_secrets is "report" now: index it
            if previous is not None and previous.doc_hash == digest:
                self._skip(file.source, digest, previous.reason)
                continue
            hashes[file.source] = digest
        return hashes

    def _skip(self, source: str, digest: str, reason: str) -> None:
        log.warning("skipped %s: %s", source, reason)
        self.report.skipped[source] = reason
        self.target.skipped[source] = SkippedFile(doc_hash=digest, reason=reason)

    def _apply(self, full: bool, old: Manifest | None, todo: list[SourceFile],
               removed: list[str], hashes: dict[str, str]) -> None:
        """Write a manifest without the documents being touched, then change the table."""
        self.report.rebuilt = full
        pending = self.target.model_copy(deep=True)
        pending.skipped = {}
        save_manifest(self.settings.index_dir, pending)
        remove_snapshot(self.settings.index_dir)
        if full:
            self.progress(f"rebuilding the index ({len(todo)} documents)")
            self.report.chunks_removed = self.index.count()
            self.index.reset(self.embedder.dimension())
        else:
            touched = sorted({*removed, *(f.source for f in todo)})
            self.reusable = self.index.vectors_for(touched)
            self.report.chunks_removed = self.index.delete_sources(touched)
        self.target.embedding.dimension = self.embedder.dimension() if todo or full else \
            old.embedding.dimension
        for number, file in enumerate(todo, start=1):
            self._ingest(file, hashes[file.source])
            if len(self.buffer) >= _FLUSH_CHUNKS:
                self._flush()
                self.progress(f"embedded {number}/{len(todo)} documents")
        self._flush()
        self.progress("updating the full-text index")
        self.index.refresh_fts()

    def unchanged(self) -> dict[str, str] | None:
        """The files a build would leave out (path -> reason) when it would change nothing:
        no document to embed or remove, the same manifest, the resident snapshot in place;
        None otherwise (reads the folder, writes nothing)."""
        plan = self._plan()
        old = plan.old
        if plan.changes or old is None or old.chunks is None or not old.documents:
            return None
        self.target.embedding.dimension = old.embedding.dimension
        self.target.chunks = old.chunks
        if self.target != old or self._snapshot_due(old.chunks):
            return None
        return dict(sorted(self.report.skipped.items()))

    def _plan(self) -> "_Plan":
        """Compare the folder with the manifest: what a build has to embed and remove."""
        kdir = self.settings.knowledge_dir
        if not kdir.is_dir():
            raise KBError(f"retrieval.knowledge_dir: folder not found: {kdir}")
        old = load_manifest(self.settings.index_dir)
        full = (self.settings.force or old is None or not old.settings_match(self.target)
                or not self.index.exists())
        scanned = walk(kdir, self.settings.rules)
        for source, reason in scanned.skipped.items():
            log.warning("skipped %s: %s", source, reason)
        self.report.skipped.update(scanned.skipped)
        files = scanned.files
        hashes = self._hash_all(files, None if full else old)
        unchanged = {} if full else {s: h for s, h in hashes.items() if old.documents.get(s) == h}
        self._carry_secrets(old, [f for f in files if f.source in unchanged])
        if self.settings.skip_secret_documents:  # indexed before "skip" was set: take out
            for source in [s for s in unchanged if s in self.target.secrets]:
                del unchanged[source], self.target.secrets[source]
        todo = [f for f in files if f.source in hashes and f.source not in unchanged]
        removed = [] if full else [s for s in old.documents if s not in unchanged]
        if not full and old.chunks is None:
            # A manifest without a row count was written before it was recorded, or is the
            # interim one of a build that stopped while it changed the table: rows of a
            # document it does not list (one being removed then) must go too.
            removed += sorted(self.index.sources() - set(old.documents) - set(removed))
        self.target.documents = dict(unchanged)
        self.target.file_stats = {f.source: (f.size, f.mtime_ns) for f in files}
        return _Plan(old, full, todo, removed, hashes)

    def _snapshot_due(self, count: int) -> bool:
        return (0 < count <= self.settings.resident_max_chunks
                and snapshot_version(self.settings.index_dir) != self.target.index_version())

    def _keep_snapshot(self, count: int) -> None:
        """The resident snapshot of this version, for an index small enough to be held in
        memory (written once per version; see ``dlgforge_core.kb.snapshot``)."""
        if self._snapshot_due(count):
            try:
                save_snapshot(self.settings.index_dir, self.target.index_version(),
                              self.index.snapshot())
            except OSError as err:  # a cache: searches read LanceDB, the next build tries again
                log.warning("resident snapshot not written (%s): %s", self.settings.index_dir, err)

    def _carry_secrets(self, old: Manifest | None, unchanged: list[SourceFile]) -> None:
        """Secrets found earlier in unchanged documents (scanned now if they never were)."""
        self.target.secrets_scanned = self.settings.scan_secrets
        if not self.settings.scan_secrets:
            return
        for file in unchanged:
            if old is not None and old.secrets_scanned:
                found = old.secrets.get(file.source)
            else:
                try:
                    found = self._secrets_in(file)
                except SkipFile:
                    found = None
            if found:
                self.target.secrets[file.source] = found

    def _secrets_in(self, file: SourceFile) -> list[tuple[int, str]]:
        from dlgforge_core.export.secrets import document_secrets

        found = document_secrets(read_text(file.path))
        for line, kind in found:
            log.warning("secret in %s line %d: %s", file.source, line, kind)
        return found

    def _ingest(self, file: SourceFile, digest: str) -> None:
        try:
            found = self._secrets_in(file) if self.settings.scan_secrets else []
            if found and self.settings.skip_secret_documents:
                where = ", ".join(f"line {line}: {kind}" for line, kind in found[:3])
                more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
                raise SkipFile(f"holds secrets ({where}{more}; "
                               "retrieval.ingest.documents_with_secrets is skip)")
            pieces = extract_pieces(file.path, file.source, self.settings.chunk_size,
                                    self.settings.chunk_overlap)
        except SkipFile as err:
            self._skip(file.source, digest, str(err))
            return
        if found:
            self.target.secrets[file.source] = found
        self.buffer.extend(to_chunks(pieces, file.source, digest))
        self.target.documents[file.source] = digest
        self.report.documents_embedded += 1

    def _flush(self) -> None:
        """Embed the buffered chunks that have no stored vector, and append them all."""
        if not self.buffer:
            return
        chunks, self.buffer = self.buffer, []
        missing = [c for c in chunks if c.chunk_id not in self.reusable]
        fresh = self.embedder.encode([embedding_input(c) for c in missing])
        computed = dict(zip((c.chunk_id for c in missing), fresh))
        vectors = np.stack([computed.get(c.chunk_id, self.reusable.get(c.chunk_id))
                            for c in chunks])
        self.index.add(chunks, vectors)
        self.report.chunks_added += len(chunks)
        self.report.chunks_embedded += len(missing)
