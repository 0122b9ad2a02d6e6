"""Benchmark: the secrets scan (detect-secrets + the added patterns) on prose.

Generates the same Markdown corpus as `kb_build.py` (sections of ~600 characters), then
times `document_secrets` (what `kb build` runs per new or changed document) and
`find_secrets_many` over the same lines (what the `no_secrets` gate runs over an export).
Prints lines/s, the cost per 600-character chunk, and the share of findings (expected 0:
the corpus holds no secret). Run: .venv/bin/python benchmarks/secrets_scan.py [--files 20]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._corpus import markdown_document  # noqa: E402
from dlgforge_core.export.secrets import document_secrets, find_secrets_many  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--sections", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(42)
    docs = [markdown_document(rng, f"Document {i}", args.sections, 600) for i in range(args.files)]
    lines = [line for doc in docs for line in doc.splitlines() if line.strip()]
    document_secrets("warm-up line")

    started = time.perf_counter()
    found = sum(len(document_secrets(doc)) for doc in docs)
    per_doc = time.perf_counter() - started
    started = time.perf_counter()
    found_lines = sum(1 for hits in find_secrets_many(lines) if hits)
    batch = time.perf_counter() - started

    chunks = args.files * args.sections
    print(f"corpus: {len(docs)} documents, {chunks} chunks, {len(lines)} non-empty lines")
    print(f"kb build scan: {len(lines) / per_doc:.0f} lines/s, {per_doc / chunks * 1000:.2f} ms per chunk, "
          f"{found} findings")
    print(f"export gate scan (one batch): {len(lines) / batch:.0f} lines/s, {found_lines} lines flagged")


if __name__ == "__main__":
    main()
