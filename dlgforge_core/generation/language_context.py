"""What the conversations of one language share, built once per language (or shard):
personas and seed questions, the coverage planner, the online judge, the reply guards."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from dlgforge_core.config.base import AGENTS
from dlgforge_core.generation.conversation import LanguageContext
from dlgforge_core.generation.coverage import Planner
from dlgforge_core.generation.guards import GuardTally, ReplyGuards
from dlgforge_core.generation.memory import LoadedMemory, load_personas_and_seeds



async def language_context(
    cfg: Any, language: str, run_id: str, *, llm: Any, kb: Any, judge: Any | None,
    memory: LoadedMemory, warn: Callable[[str], Any], web_search: Any | None,
    guard_tally: GuardTally,
) -> LanguageContext:
    """The shared context; file reads and the planner's set-up run off the event loop."""
    personas, seed_questions = await asyncio.to_thread(load_personas_and_seeds, cfg, language, warn)
    planner = await asyncio.to_thread(Planner, cfg, language, kb, personas, seed_questions)
    online = cfg.judge.enabled and cfg.judge.mode == "online"
    if online and judge is None:
        from dlgforge_core.judge.judge import Judge

        judge = await asyncio.to_thread(Judge, cfg, llm)  # opens judge.log, starts its writer
    agents = AGENTS if cfg.judge.enabled else AGENTS[:2]
    return LanguageContext(
        cfg=cfg,
        language=language,
        run_id=run_id,
        llm=llm,
        kb=kb,
        planner=planner,
        dedup=memory.dedup,
        near_dup=memory.near_dup,
        judge=judge,
        index_version=kb.index_version,
        models={a: cfg.agent_settings(a).model for a in agents},
        config_hash=cfg.config_hash,  # computed once: hashing the config costs milliseconds
        judge_turns=online and cfg.judge.granularity == "turn",
        judge_conversation=online and cfg.judge.granularity == "conversation",
        web_search=web_search,
        guards=ReplyGuards(cfg.quality.guards, language),
        guard_tally=guard_tally,
    )
