"""`dlgforge kb eval CONFIG --questions FILE`: retrieval quality of the KB on labelled questions."""

from __future__ import annotations

import json
from pathlib import Path

import click

_MODES = ("hybrid", "vector", "fts")


@click.command(name="eval")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--questions", "questions_file", required=True, type=click.Path(path_type=Path),
              help="JSONL: {question, relevant: [document paths or chunk ids], history?}.")
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True,
              help="The K of Recall@K.")
@click.option("--mode", type=click.Choice([*_MODES, "all"]), default="all", show_default=True,
              help="Retrieval mode to score (all: the three side by side).")
@click.option("--query-turns", type=click.IntRange(min=1), default=None,
              help="User turns joined into the search query (default: retrieval.query_turns).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def eval_command(config: Path, questions_file: Path, k: int, mode: str,
                 query_turns: int | None, as_json: bool) -> None:
    """Recall@K, MRR@10 and nDCG@10 (document level) and ms per question, per mode.

    Uses the index of CONFIG as `kb search` does (build it first with `kb build`).
    """
    from dlgforge_core.config import load_config
    from dlgforge_core.kb import KnowledgeBase
    from dlgforge_core.kb.eval_questions import load_questions
    from dlgforge_core.kb.evaluation import evaluate, report, table, unknown_labels

    questions = load_questions(questions_file)
    cfg = load_config(config, require_models=False)
    kb = KnowledgeBase(cfg)
    modes = list(_MODES) if mode == "all" else [mode]
    results = evaluate(kb, questions, k, modes, query_turns)
    unknown = unknown_labels(kb, questions)
    if as_json:
        click.echo(json.dumps(report(results, len(questions), k)))
    else:
        for line in table(results, len(questions), k):
            click.echo(line)
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        click.echo(f"warning: {len(unknown)} relevant entries are neither an indexed document "
                   f"nor a chunk id (they can never be found): {shown}", err=True)
