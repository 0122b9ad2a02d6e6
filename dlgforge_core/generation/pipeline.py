"""``run_generation``: build the KB index, generate every language, judge offline, summarize."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from dlgforge_core.generation.engine import generate_language
from dlgforge_core.generation.summary import LanguageSummary, format_summary, judge_mean_and_preview
from dlgforge_core.store.outputs import OutputStore

Echo = Callable[[str], Any]


def run_generation(cfg: Any, languages: list[str] | None = None, echo: Echo = print) -> list[LanguageSummary]:
    """Everything ``dlgforge run`` does before export: returns one summary per language."""
    from dlgforge_core.kb import KnowledgeBase

    kb = KnowledgeBase(cfg)
    report = kb.build(progress=echo)
    echo(f"knowledge base: {report.documents} documents, index {kb.index_version}")
    targets = list(languages or cfg.run.target_languages)
    from dlgforge_core.llm.vllm_managed import managed_llm

    with managed_llm(cfg, echo=echo) as served:  # vllm_managed: the servers live for the run
        if cfg.judge.enabled and cfg.judge.mode == "online":
            from dlgforge_core.judge.self_check import ensure_self_check

            ensure_self_check(served, kb=kb, echo=echo)
        summaries = asyncio.run(_generate_all(served, kb, targets, echo))
        if cfg.judge.enabled and cfg.judge.mode == "offline":
            from dlgforge_core.judge.offline import run_offline_judge

            run_offline_judge(served, echo=echo)
        store = OutputStore(cfg)
        for summary in summaries:
            summary.mean_judge_score, _ = judge_mean_and_preview(store, summary.run_id, summary.language)
    echo(format_summary(summaries, cfg))
    return summaries


async def _generate_all(cfg: Any, kb: Any, languages: list[str], echo: Echo) -> list[LanguageSummary]:
    from dlgforge_core.llm.client import LLMClient

    client = LLMClient(cfg, log_dir=cfg.logs_dir)
    summaries = []
    try:
        for language in languages:
            echo(f"[{language}] generating {cfg.run.total_samples} conversations")
            progress = _progress_printer(language, echo)
            if cfg.run.distributed.enabled:
                from dlgforge_core.generation.distributed import run_language_distributed

                summaries.append(await asyncio.to_thread(run_language_distributed, cfg, language, progress, echo))
                continue
            summaries.append(await generate_language(cfg, language, llm=client, kb=kb, progress=progress))
    finally:
        await client.aclose()
    return summaries


def _progress_printer(language: str, echo: Echo) -> Callable[[int, int, float, float | None], None]:
    def report(accepted: int, target: int, rate: float, eta: float | None) -> None:
        eta_text = f", eta {eta:.0f}s" if eta is not None else ""
        echo(f"[{language}] {accepted}/{target} accepted, {rate:.2f} conv/s{eta_text}")

    return report
