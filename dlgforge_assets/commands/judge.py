"""`dlgforge judge CONFIG`: judge existing conversations (the offline judge)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
def judge(config: Path) -> None:
    """Score the accepted conversations of CONFIG's output folder that are not yet judged.

    Uses the `judge` section (granularity, reasons, score range, judge model) whether or
    not `judge.enabled` is set: running this command is the opt-in. Conversations already
    judged under the same settings are skipped; failed calls leave a conversation
    unjudged and are counted in the summary, never abort the command.
    """
    from dlgforge_core.config import load_config
    from dlgforge_core.judge.offline import run_offline_judge

    cfg = load_config(config)
    run_offline_judge(cfg, echo=click.echo)
