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
    unjudged and are counted in the summary, never abort the command. An export folder
    prepared earlier is left as it was (the command says so and how to refresh it).
    """
    from dlgforge_assets.commands.config_warnings import load_and_report
    from dlgforge_core.export.folder import resolve_export_dir
    from dlgforge_core.judge.offline import run_offline_judge

    from dlgforge_core.llm.vllm_managed import managed_llm

    cfg = load_and_report(config)
    with managed_llm(cfg, echo=click.echo) as served:  # vllm_managed: servers while judging
        summary = run_offline_judge(served, echo=click.echo)
    export_dir = resolve_export_dir(cfg) if summary.judged else None
    if export_dir is not None and (export_dir / "manifest.json").is_file():
        click.echo(f"note: {export_dir} was prepared before these scores; refresh it "
                   f"with `dlgforge push {config} --no-push` (or `dlgforge run {config}`)")
