"""What a language run loads before it starts: dedup memory, accepted indices, personas, seeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dlgforge_core.generation.dedup import QuestionIndex, question_key
from dlgforge_core.generation.near_dup import NearDupFilter
from dlgforge_core.generation.personas import PersonaSet, load_personas
from dlgforge_core.generation.seeds import SeedQuestion, load_seed_topics


@dataclass
class LoadedMemory:
    """Dedup memory over the whole output folder, and what this language already accepted."""

    dedup: QuestionIndex
    near_dup: NearDupFilter | None
    accepted_indices: set[int] = field(default_factory=set)


def load_memory(store: Any, cfg: Any, run_id: str, language: str) -> LoadedMemory:
    """One streaming pass over the store's dedup scope (the file store: every language and run
    of the folder; PostgreSQL: the run).

    Blocking (file I/O): call it through ``asyncio.to_thread``.
    """
    near_cfg = cfg.coverage.near_dup
    memory = LoadedMemory(
        dedup=QuestionIndex(),
        near_dup=NearDupFilter(near_cfg.threshold, near_cfg.num_perm) if near_cfg.enabled else None,
    )
    stored: set[bytes] = set()  # questions whose signatures the store keeps (PostgreSQL)
    if memory.near_dup is not None and hasattr(store, "near_dup_memory"):
        stored = store.near_dup_memory(run_id, memory.near_dup)
    for record in store.memory_records(run_id):  # later commits are absorbed at commit time
        memory.dedup.load_records([record])
        if memory.near_dup is not None:
            memory.near_dup.load_records([record], skip=(lambda q: question_key(q) in stored) if stored else None)
        if record.get("run_id") == run_id and record.get("language") == language:
            memory.accepted_indices.add(int(record["conversation_index"]))
    return memory


def load_personas_and_seeds(
    cfg: Any, language: str, warn: Callable[[str], None]
) -> tuple[PersonaSet | None, list[SeedQuestion]]:
    """The persona set (None when ``personas.enabled`` is false) and the language's seed questions."""
    personas = None
    if cfg.personas.enabled:
        path = cfg.resolve_path(cfg.personas.path) if cfg.personas.path else None
        personas = load_personas(path, warn)
    seeds: list[SeedQuestion] = []
    if cfg.coverage.seed_topics_path:
        topics = load_seed_topics(cfg.resolve_path(cfg.coverage.seed_topics_path))
        seeds = topics.questions(language, getattr(cfg.coverage, "seed_topics_variant", None))
    return personas, seeds
