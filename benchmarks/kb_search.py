"""Benchmark: search latency (p50, p95) at 100,000 chunks.

To save time the table is filled directly (documented shortcut): generated texts with
random unit vectors are appended through ChunkIndex.add, a manifest is written, and the
full-text index is built, exactly as a build leaves it. Queries go through
KnowledgeBase.search (the real MiniLM model embeds every query; each query is distinct,
so the query cache never answers). Prints p50/p95 in milliseconds per mode, and for
hybrid search with a source filter, twice: searching LanceDB on disk
(``retrieval.resident_max_chunks: 0``) and the in-memory copy (vector matrix + RAM
full-text index; the time to load it is printed too).

Run: .venv/bin/python benchmarks/kb_search.py [--chunks 100000 --queries 200]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks._corpus import paragraph, sentence  # noqa: E402
from dlgforge_core.config import load_config  # noqa: E402
from dlgforge_core.kb import KnowledgeBase  # noqa: E402
from dlgforge_core.kb.chunking import CHUNKER_VERSION, Chunk, chunk_id  # noqa: E402
from dlgforge_core.kb.index import ChunkIndex  # noqa: E402
from dlgforge_core.kb.manifest import (ChunkingInfo, EmbeddingInfo, Manifest,  # noqa: E402
                                       save_manifest)

_BATCH = 10_000
_CHUNKS_PER_SOURCE = 50


def fill_index(index_dir: Path, total: int, identity: str, dimension: int) -> None:
    rng, np_rng = random.Random(1), np.random.default_rng(1)
    index = ChunkIndex(index_dir)
    index.reset(dimension)
    for start in range(0, total, _BATCH):
        chunks = []
        for number in range(start, min(start + _BATCH, total)):
            text = paragraph(rng, 300)
            source = f"docs/doc{number // _CHUNKS_PER_SOURCE:05d}.md"
            chunks.append(Chunk(chunk_id(text, "", number), text, source,
                                number % _CHUNKS_PER_SOURCE, "", "bench"))
        vectors = np_rng.standard_normal((len(chunks), dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index.add(chunks, vectors)
    index.refresh_fts()
    backend, _, model = identity.partition(":")
    sources = {f"docs/doc{i:05d}.md": "bench" for i in range(total // _CHUNKS_PER_SOURCE)}
    save_manifest(index_dir, Manifest(
        embedding=EmbeddingInfo(backend=backend, model=model, dimension=dimension),
        chunking=ChunkingInfo(chunk_size=800, chunk_overlap=100,
                              chunker_version=CHUNKER_VERSION),
        documents=sources))


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[94]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-search-bench-") as tmp:
        root = Path(tmp)
        (root / "knowledge").mkdir()
        kb = KnowledgeBase(load_config(write_config(root, 0)))
        dimension = kb.embedder.dimension()
        started = time.perf_counter()
        fill_index(kb.index_dir, args.chunks, kb.embedder.identity, dimension)
        print(f"filled {args.chunks} chunks in {time.perf_counter() - started:.1f} s")
        for where, resident in (("on disk", 0), ("in memory", args.chunks)):
            kb = KnowledgeBase(load_config(write_config(root, resident)))
            rng = random.Random(7)
            started = time.perf_counter()
            kb.search(sentence(rng), k=4, mode="fts")  # opens the table; loads the in-memory copy
            print(f"[{where}] first search {time.perf_counter() - started:.1f} s")
            kb.search(sentence(rng), k=4, mode="vector")  # the model is loaded by now
            measure(kb, rng, args, where)


def write_config(root: Path, resident_max_chunks: int) -> Path:
    path = root / "config.yaml"
    path.write_text("llm:\n  model: bench\nretrieval:\n  knowledge_dir: knowledge\n"
                    f"  index_dir: knowledge_index\n  resident_max_chunks: {resident_max_chunks}\n")
    return path


def measure(kb: KnowledgeBase, rng: random.Random, args: argparse.Namespace, where: str) -> None:
    runs = [("hybrid", None), ("vector", None), ("fts", None),
            ("hybrid", ["docs/doc00042.md", "docs/doc01234.md"])]
    for mode, sources in runs:
        samples = []
        for _ in range(args.queries):
            query = sentence(rng, words=8)
            began = time.perf_counter()
            hits = kb.search(query, k=4, mode=mode, sources=sources)
            samples.append((time.perf_counter() - began) * 1000)
            assert hits, f"{mode} search returned nothing for {query!r}"
        p50, p95 = percentiles(samples)
        label = mode + (" + source filter" if sources else "")
        print(f"[{where}] {label:>24}: p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   "
              f"({args.queries} queries, k=4, {args.chunks} chunks)", flush=True)


if __name__ == "__main__":
    main()
