"""The chunk table held in memory for fast search: a vector matrix and a RAM full-text index.

LanceDB stays the index on disk (builds, incremental updates, large KBs). But each LanceDB
query costs milliseconds of CPU even on a tiny table (query planning, Arrow conversion), and
a generation run searches once per turn from hundreds of concurrent slots: the search, not
the LLM endpoint, became the limit. For a KB of up to ``retrieval.resident_max_chunks``
chunks the whole table is loaded once into

- a float32 matrix of the normalized vectors: exact cosine search is one matrix product,
  the same ranking as LanceDB's brute-force (un-indexed) vector search;
- a tantivy index in RAM over the chunk text, with the same analysis LanceDB's native FTS
  applies by default (simple tokenizer, tokens over 40 bytes dropped, lower case, English
  stop words, English stemming, ASCII folding), scored by BM25.

Rows come back in the shape ``ChunkIndex`` returns (metadata plus ``_distance`` or
``_score``), so ``search()`` runs unchanged on either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from dlgforge_core.kb.index import META_COLUMNS, fts_terms

_ANALYZER = "dlgforge_fts"
_WRITER_HEAP = 15_000_000  # tantivy's minimum: the arena is resident memory while indexing


def _analyzer():
    import tantivy

    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(40))
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.stopword("english"))
            .filter(tantivy.Filter.stemmer("english"))
            .filter(tantivy.Filter.ascii_fold())
            .build())


class ResidentIndex:
    """Every chunk of one index version, searchable without touching LanceDB."""

    def __init__(self, table: pa.Table) -> None:
        self.rows: list[dict] = table.select(META_COLUMNS).to_pylist()
        self._sources = np.array([row["source"] for row in self.rows], dtype=object)
        if self.rows:
            vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            self._vectors = vectors / np.maximum(norms, 1e-12)
        else:
            self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._fts_index, self._schema = self._build_fts()
        self._searcher = self._fts_index.searcher()

    def __len__(self) -> int:
        return len(self.rows)

    def _build_fts(self):
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_text_field("text", stored=False, tokenizer_name=_ANALYZER)
        builder.add_text_field("source", stored=False, tokenizer_name="raw")
        builder.add_integer_field("row", stored=True, indexed=False)
        schema = builder.build()
        index = tantivy.Index(schema)  # no path: held in RAM
        index.register_tokenizer(_ANALYZER, _analyzer())
        writer = index.writer(_WRITER_HEAP, 1)
        for number, row in enumerate(self.rows):
            writer.add_document(tantivy.Document(text=row["text"], source=row["source"], row=number))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        return index, schema

    def _source_mask(self, sources: Sequence[str] | None) -> np.ndarray | None:
        return None if not sources else np.isin(self._sources, list(sources))

    def vector_search(self, vector: np.ndarray, limit: int,
                      sources: Sequence[str] | None = None) -> list[dict]:
        """Nearest chunks by cosine distance; rows carry ``_distance`` (1 - cosine)."""
        if not self.rows or limit <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        similarity = self._vectors @ query
        mask = self._source_mask(sources)
        candidates = np.arange(len(self.rows)) if mask is None else np.flatnonzero(mask)
        if candidates.size == 0:
            return []
        scores = similarity[candidates]
        if candidates.size > limit:
            keep = np.argpartition(-scores, limit - 1)[:limit]
            candidates, scores = candidates[keep], scores[keep]
        order = np.lexsort((candidates, -scores))
        return [{**self.rows[int(candidates[i])], "_distance": float(1.0 - scores[i])} for i in order]

    def fts_search(self, text: str, limit: int,
                   sources: Sequence[str] | None = None) -> list[dict]:
        """BM25 matches of the query's terms; rows carry ``_score``."""
        import tantivy

        terms = fts_terms(text).lower()
        if not self.rows or not terms or limit <= 0:
            return []
        try:
            query = self._fts_index.parse_query(terms, ["text"])
        except ValueError:
            return []
        if sources:
            query = tantivy.Query.boolean_query([
                (tantivy.Occur.Must, query),
                (tantivy.Occur.Must, tantivy.Query.term_set_query(self._schema, "source", list(sources))),
            ])
        hits = self._searcher.search(query, limit).hits
        found = [(score, self._searcher.doc(address)["row"][0]) for score, address in hits]
        found.sort(key=lambda pair: (-pair[0], pair[1]))
        return [{**self.rows[row], "_score": float(score)} for score, row in found]
