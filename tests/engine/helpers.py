"""Running one language of the engine against the in-process fake endpoint."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from dlgforge_core.generation.engine import generate_language
from dlgforge_core.generation.summary import LanguageSummary
from dlgforge_core.llm.client import LLMClient


def run_languages(cfg: Any, kb: Any, languages: list[str]) -> list[LanguageSummary]:
    """Generate ``languages`` one after another with one client, as the pipeline does."""

    async def main() -> list[LanguageSummary]:
        client = LLMClient(cfg, log_dir=cfg.logs_dir)
        try:
            return [await generate_language(cfg, lang, llm=client, kb=kb) for lang in languages]
        finally:
            await client.aclose()

    return asyncio.run(main())


def records(cfg: Any) -> list[dict]:
    """Every line of ``synthetic_qa.jsonl``."""
    path = Path(cfg.output_dir) / "synthetic_qa.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def questions(cfg: Any) -> list[str]:
    """Every normalized user question of the accepted records."""
    return [" ".join(t["user_message"].lower().split()) for r in records(cfg) for t in r["turns"]]
