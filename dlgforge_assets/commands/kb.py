"""`dlgforge kb build`, `kb search` and `kb eval` (in kb_eval.py): check the KB before spending tokens."""

from __future__ import annotations

from pathlib import Path

import click

_PREVIEW_CHARS = 200


@click.group()
def kb() -> None:
    """Build and query the knowledge base index."""


@kb.command()
@click.argument("config", type=click.Path(path_type=Path))
def build(config: Path) -> None:
    """Index the KB folder of CONFIG (incremental: only new and changed documents)."""
    from dlgforge_core.config import load_config
    from dlgforge_core.kb import KnowledgeBase

    cfg = load_config(config, require_models=False)
    report = KnowledgeBase(cfg).build(progress=lambda line: click.echo(f"  {line}"))
    click.echo(f"documents: {report.documents}")
    click.echo(f"chunks: {report.chunks_added} added, {report.chunks_removed} removed, "
               f"{report.chunks_kept} kept")
    click.echo(f"embedded documents: {report.documents_embedded} "
               f"({report.chunks_embedded} chunks embedded)")
    if report.rebuilt:
        click.echo("index rebuilt from scratch")
    click.echo(f"index version: {report.index_version}")
    click.echo(f"seconds: {report.seconds:.2f}")
    click.echo(f"skipped files: {len(report.skipped)}")
    for source, reason in sorted(report.skipped.items()):
        click.echo(f"  skipped {source}: {reason}")
    if report.secrets:
        click.echo(f"documents with secrets: {len(report.secrets)} "
                   "(indexed; the export's no_secrets gate checks what they lead to)")
        for source, found in report.secrets.items():
            for line, kind in found:
                click.echo(f"  secret in {source} line {line}: {kind}")


@kb.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(min=1), default=None,
              help="Number of results (default: retrieval.default_k).")
@click.option("--mode", type=click.Choice(["hybrid", "vector", "fts"]), default=None,
              help="Retrieval mode (default: retrieval.search_mode).")
@click.option("--source", "sources", multiple=True,
              help="Only search this document (relative path); repeatable.")
def search(config: Path, query: str, k: int | None, mode: str | None,
           sources: tuple[str, ...]) -> None:
    """Print the ranked chunks that QUERY retrieves from the index of CONFIG."""
    from dlgforge_core.config import load_config
    from dlgforge_core.kb import KnowledgeBase

    cfg = load_config(config, require_models=False)
    hits = KnowledgeBase(cfg).search(query, k=k, sources=list(sources) or None, mode=mode)
    if not hits:
        click.echo("no results")
    for rank, hit in enumerate(hits, start=1):
        preview = " ".join(hit.text.split())
        if len(preview) > _PREVIEW_CHARS:
            preview = preview[:_PREVIEW_CHARS].rstrip() + "..."
        heading = f" [{hit.heading}]" if hit.heading else ""
        click.echo(f"{rank}. score={hit.score:.4f} {hit.source}{heading} ({hit.chunk_id})")
        click.echo(f"   {preview}")


def _register() -> None:
    from dlgforge_assets.commands.kb_eval import eval_command

    kb.add_command(eval_command)


_register()
