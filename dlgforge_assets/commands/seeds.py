"""`dlgforge seeds-migrate CONFIG --source-file F --dest-file F [--overwrite]`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("seeds-migrate")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--source-file", required=True, type=click.Path(path_type=Path),
              help="Legacy JSON seeds: {topic: {variant: [questions]}} or {topic: [questions]}.")
@click.option("--dest-file", required=True, type=click.Path(path_type=Path),
              help="YAML seed topics file to write.")
@click.option("--overwrite", is_flag=True, help="Replace DEST-FILE if it exists.")
def seeds_migrate(config: Path, source_file: Path, dest_file: Path, overwrite: bool) -> None:
    """Convert a legacy JSON seed file into the YAML seed topics format.

    CONFIG is loaded only to validate it; relative file names resolve against the current folder.
    """
    from dlgforge_core.config import load_config
    from dlgforge_core.generation.seeds import migrate_legacy_seeds

    load_config(config)
    topics = migrate_legacy_seeds(source_file.resolve(), dest_file.resolve(), overwrite=overwrite)
    languages = ", ".join(topics.languages()) or "none"
    click.echo(
        f"wrote {dest_file}: {len(topics.topics)} topics, {topics.question_count()} questions, "
        f"languages: {languages}"
    )
