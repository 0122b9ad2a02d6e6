"""The table of dlgforge config keys: where each lands in the native schema, or why it has none.

``MOVED`` maps a dlgforge key path to the native key path it sets (same meaning, maybe another
name); ``NO_EFFECT`` lists the keys accepted with one warning, and why. Keys whose translation
needs a rule (``run.turns.*``, ``llm.agents.user``, ``coverage.doc_coverage_mode``, ...) live in
``compat.py``; ``docs/coming-from-dlgforge.md`` documents all of them.
"""

from __future__ import annotations

MOVED: dict[str, str] = {
    # run
    "run.data.seeding.topics.variant": "coverage.seed_topics_variant",
    "run.data.seeding.topics.probability": "coverage.seed_question_probability",
    "run.seed_topics_variant": "coverage.seed_topics_variant",
    "run.seed_topics_probability": "coverage.seed_question_probability",
    # tools.web_search (dlgforge searches with Serper)
    "tools.web_search.serper_num_results": "retrieval.web_search.max_results",
    "tools.web_search.serper_timeout": "retrieval.web_search.timeout",
    "tools.serper_num_results": "retrieval.web_search.max_results",
    "tools.serper_timeout": "retrieval.web_search.timeout",
    # tools.retrieval
    "tools.retrieval.top_k": "retrieval.default_k",
    "tools.retrieval.chunking.chunk_size": "retrieval.chunk_size",
    "tools.retrieval.chunking.chunk_overlap": "retrieval.chunk_overlap",
    "tools.retrieval.index.persist_dir": "retrieval.index_dir",
    "tools.retrieval.index.rebuild": "retrieval.rebuild_index",
    "tools.retrieval.embeddings.backend": "retrieval.embeddings.backend",
    "tools.retrieval.embeddings.model": "retrieval.embeddings.model",
    "tools.retrieval.embeddings.device": "retrieval.embeddings.device",
    "tools.retrieval.reranker.enabled": "retrieval.rerank.enabled",
    "tools.retrieval.reranker.model": "retrieval.rerank.model",
    # the older top-level retrieval and models sections
    "retrieval.overlap": "retrieval.chunk_overlap",
    "retrieval.persist_dir": "retrieval.index_dir",
    "retrieval.embedding_backend": "retrieval.embeddings.backend",
    "retrieval.embedding_model": "retrieval.embeddings.model",
    "retrieval.embedding_device": "retrieval.embeddings.device",
    "models.embedding_model": "retrieval.embeddings.model",
    "models.use_reranker": "retrieval.rerank.enabled",
    "models.reranker_model": "retrieval.rerank.model",
    # saving
    "saving.output_columns.message_with_tools": "saving.output_columns.messages_with_tools",
}

_FALLBACK = ("a model that cannot be loaded is an error here (one line naming the model); "
             "there is no second model to fall back to")
_EMB_KWARGS = "the embedding model is loaded with its own defaults here"
_RERANK = "the reranker here is a sentence-transformers cross-encoder named by retrieval.rerank.model"
_ACTOR = ("shards are Ray tasks of one CPU each here; run.distributed.num_workers sets how many "
          "run at once")
_REPLICAS = ("dlgforge's worker replicas generate nothing (the coordinator does); here "
             "run.distributed.num_workers and shards_per_language set the parallel shards")

NO_EFFECT: dict[str, str] = {
    "run.distributed.spawn.coordinator": "the dlgforge process itself coordinates; nothing is spawned",
    "run.distributed.spawn.workers": "shards are Ray tasks started by the run; nothing is spawned",
    "ray.namespace": "shards are plain Ray tasks; no named actors share a namespace",
    "ray.actor.num_cpus": _ACTOR,
    "ray.actor.num_gpus": "shards need no GPU (a vllm_managed server asks for its own: llm.vllm.num_gpus_per_replica)",
    "ray.actor.coordinator_num_cpus": "the coordinator is the dlgforge process, not a Ray actor",
    "ray.actor.replicas_qa": _REPLICAS,
    "ray.actor.replicas_complete": _REPLICAS,
    "coverage.doc_coverage_fraction": ("documents are taken in a seeded round-robin here, so every "
                                       "document gets the same share; there is no least-covered pool to size"),
    "tools.retrieval.index.skip_if_unchanged": None,  # true: the native incremental build (see compat.py)
    "tools.retrieval.embeddings.fallback_model": _FALLBACK,
    "tools.retrieval.embeddings.fallback_on_cpu": "device auto already picks the CPU when no GPU is present",
    "tools.retrieval.embeddings.model_kwargs": _EMB_KWARGS,
    "tools.retrieval.embeddings.tokenizer_kwargs": _EMB_KWARGS,
    "tools.retrieval.embeddings.encode_kwargs": _EMB_KWARGS,
    "tools.retrieval.reranker.backend": _RERANK,
    "tools.retrieval.reranker.instruction": _RERANK,
    "tools.retrieval.reranker.max_length": _RERANK,
    "tools.retrieval.reranker.candidates": "every hit of a search is re-ranked (retrieval.default_k of them)",
    "tools.retrieval.reranker.batch_size": _RERANK,
    "tools.retrieval.reranker.cmd": "no external reranker command is run here",
    "retrieval.skip_if_unchanged": None,
    "retrieval.fallback_on_cpu": "device auto already picks the CPU when no GPU is present",
    "retrieval.embedding_model_kwargs": _EMB_KWARGS,
    "retrieval.embedding_tokenizer_kwargs": _EMB_KWARGS,
    "retrieval.embedding_encode_kwargs": _EMB_KWARGS,
    "models.fallback_embedding_model": _FALLBACK,
    "models.reranker_backend": _RERANK,
    "models.reranker_instruction": _RERANK,
    "models.reranker_max_length": _RERANK,
    "models.reranker_candidates": "every hit of a search is re-ranked (retrieval.default_k of them)",
    "models.reranker_batch_size": _RERANK,
    "models.qwen3_reranker_cmd": "no external reranker command is run here",
    "llm.routing.endpoints[].name": "endpoints are named by their base URL in logs here",
}
"""Keys accepted with a warning (``None``: handled by a rule in compat.py)."""


def empty(value: object) -> bool:
    """A value dlgforge's configs use for "unset": None, "", {} or []."""
    return value is None or value == "" or value == {} or value == []
