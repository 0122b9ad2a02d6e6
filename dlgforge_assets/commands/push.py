"""`dlgforge push CONFIG [--no-push] [--redact-pii] [--redact-secrets]`: prepare the export,
check gates, push."""

from __future__ import annotations

from pathlib import Path

import click

# Loaded with the CLI, before anything loads the embedding model: the Hub client reads its
# offline flag once, at import.
from dlgforge_core.export.push import check_push_settings, push_export


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--no-push", is_flag=True, help="Prepare the export folder only; do not upload.")
@click.option("--redact-pii", is_flag=True,
              help="Replace PII with placeholders in the export instead of refusing to push.")
@click.option("--redact-secrets", is_flag=True,
              help="Replace API keys, tokens, private keys and passwords with placeholders in the "
                   "export instead of refusing to push.")
def push(config: Path, no_push: bool, redact_pii: bool, redact_secrets: bool) -> None:
    """Export the accepted conversations of CONFIG and push them to the Hugging Face Hub.

    The token comes from HF_TOKEN (environment or .env) only.
    """
    from dlgforge_core.config import load_config
    from dlgforge_core.export.prepare import prepare_export

    cfg = load_config(config)
    if not no_push:
        check_push_settings(cfg)
    result = prepare_export(cfg, redact_pii=True if redact_pii else None,
                            redact_secrets=True if redact_secrets else None)
    click.echo(f"export: {result.export_dir} ({len(result.files)} files, "
               f"{result.manifest['records']} conversations)")
    click.echo(f"version: {result.version}")
    click.echo(f"parent: {result.parent_version or 'none'}")
    for metric, change in result.stats_diff.items():
        click.echo(f"  {metric}: {change['parent']} -> {change['current']} ({change['delta']:+})")
    for regression in result.regressions:
        click.echo(f"regression: {regression['message']}")
    for gate in result.gates:
        click.echo(f"gate {gate.name}: {'ok' if gate.passed else 'FAILED'} - {gate.description}")
    if no_push:
        if result.gate_failures:
            click.echo("note: a push would be refused until the failing gates pass")
        click.echo("not pushed (--no-push)")
        return
    pushed = push_export(cfg, result)
    click.echo(f"pushed {len(pushed.files)} files to {pushed.url} (commit {pushed.commit})")
