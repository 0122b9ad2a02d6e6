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
        _leave(1)
    _leave(0)


def _leave(code: int) -> None:
    """End the process once the run is over: exit handlers run (logs flushed, a Ray runtime
    this process started stopped), then the process ends without the interpreter's module
    teardown, which took seconds with ONNX Runtime, LanceDB and Dagster loaded. Every output
    is written and closed by now. In-process callers (tests, ``CliRunner``: stdout replaced)
    get the ordinary ``sys.exit``."""
    if sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__:
        if code:
            sys.exit(code)
        return
    import atexit
    import os

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
