"""Benchmark: index build throughput versus the bare embedding model's encode (the NumPy encoder
for the default model, or sentence-transformers with `retrieval.embeddings.runtime: torch`).

Generates a 2,000-chunk Markdown corpus (100 files x 20 sections, each section one chunk),
builds it through the code path of `dlgforge kb build` (load_config + KnowledgeBase.build),
and encodes the same embedding inputs with the bare model in the same run, before and after
the build; the faster of the two bare runs is the denominator (conservative: the first run
also pays one-time kernel set-up per input shape). The model is loaded and warmed up before
any timing. Prints:

- build chunks/s divided by bare encode chunks/s (target >= 0.9)
- no-change rebuild time divided by full build time (target < 0.02)

Run: .venv/bin/python benchmarks/kb_build.py [--files 100 --sections 20]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks._corpus import markdown_document  # noqa: E402
from dlgforge_core.config import load_config  # noqa: E402
from dlgforge_core.kb import KnowledgeBase  # noqa: E402
from dlgforge_core.kb.chunking import embedding_input, to_chunks  # noqa: E402
from dlgforge_core.kb.ingest import extract_pieces, scan  # noqa: E402


def write_corpus(folder: Path, files: int, sections: int) -> None:
    rng = random.Random(42)
    for index in range(files):
        path = folder / f"area{index % 7}" / f"doc{index:03d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown_document(rng, f"Document {index}", sections, 600), "utf-8")


def write_config(root: Path) -> Path:
    path = root / "config.yaml"
    path.write_text("llm:\n  model: bench\nretrieval:\n  knowledge_dir: knowledge\n"
                    "  index_dir: knowledge_index\n  chunk_size: 800\n  chunk_overlap: 100\n")
    return path


def corpus_texts(knowledge: Path, cfg) -> list[str]:
    """The embedding inputs a build produces for the corpus (same chunker, same format)."""
    texts = []
    for file in scan(knowledge):
        pieces = extract_pieces(file.path, file.source, cfg.retrieval.chunk_size,
                                cfg.retrieval.chunk_overlap)
        texts += [embedding_input(c) for c in to_chunks(pieces, file.source, "")]
    return texts


def bare_encode_rate(model, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                 normalize_embeddings=True, show_progress_bar=False)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--sections", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        root = Path(tmp)
        write_corpus(root / "knowledge", args.files, args.sections)
        cfg = load_config(write_config(root))
        kb = KnowledgeBase(cfg)
        model = kb.embedder.model  # load once, outside every timing
        model.encode(["warm up"] * 64, batch_size=64)

        texts = corpus_texts(root / "knowledge", cfg)
        batch = kb.embedder.batch_size
        before = bare_encode_rate(model, texts, batch)
        full = kb.build()
        after = bare_encode_rate(model, texts, batch)
        bare = max(before, after)  # the faster run: the conservative denominator
        build_rate = full.chunks_added / full.seconds

        began = time.perf_counter()  # config load, index open and build, as the CLI does
        noop = KnowledgeBase(load_config(root / "config.yaml")).build()
        noop_seconds = time.perf_counter() - began
        assert noop.documents_embedded == 0, "the no-change rebuild embedded documents"
        print(f"corpus: {full.documents} documents, {full.chunks_added} chunks")
        print(f"full build: {full.seconds:.2f} s, {build_rate:.1f} chunks/s")
        print(f"bare model encode: {bare:.1f} chunks/s "
              f"(before {before:.1f}, after {after:.1f})")
        print(f"ratio build/bare encode: {build_rate / bare:.3f} (target >= 0.9)")
        print(f"no-change rebuild: {noop_seconds * 1000:.1f} ms")
        print(f"ratio no-change rebuild/full build: {noop_seconds / full.seconds:.4f} "
              "(target < 0.02)")


if __name__ == "__main__":
    main()
