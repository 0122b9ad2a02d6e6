"""`dlgforge run CONFIG`: materialize the whole asset graph in-process through Dagster."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
def run(config: Path) -> None:
    """Build the KB index, generate every language, judge, check and export, as in CONFIG.

    Runs are recorded in DAGSTER_HOME (default: .dagster_home next to CONFIG), so they show
    up in `dagster dev` with their partitions and metadata.
    """
    from dlgforge_assets.commands.config_warnings import load_and_report

    from dlgforge_core.store.open import check_store

    cfg = load_and_report(config)  # a bad config fails in one line before Dagster is even imported
    check_store(cfg)  # so does a PostgreSQL store that cannot be reached (before any LLM call)
    from dlgforge_assets.local_run import RunFailed, run_through_dagster

    try:
        run_through_dagster(config, echo=click.echo)
    except RunFailed as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
