"""`dlgforge push CONFIG [flags]`: prepare the export, check gates, push (dlgforge's flags)."""

from __future__ import annotations

from pathlib import Path

import click

# The Hub client reads its offline flag once, when its constants load: they load with the
# CLI, before anything else could touch the environment (the push modules load on use).
import huggingface_hub.constants  # noqa: F401,E402


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--repo-id", default=None, help="Hub repo to push to (replaces saving.hf_push.repo_id).")
@click.option("--repo-type", type=click.Choice(["dataset", "model", "space"]), default=None,
              help="Hub repo type (replaces saving.hf_push.repo_type).")
@click.option("--source-dir", type=click.Path(path_type=Path), default=None,
              help="Folder holding the run's outputs (replaces saving.output_dir).")
@click.option("--export-dir", default=None,
              help="Export folder, inside the output folder (replaces saving.hf_push.export_dir).")
@click.option("--include-run-state", is_flag=True, help="Put the run_state checkpoints in the export.")
@click.option("--token", default=None, metavar="TOKEN",
              help="Hub token (default: HF_TOKEN from the environment or .env). Never printed or logged.")
@click.option("--commit-message", default=None, help="Commit message (replaces saving.hf_push.commit_message).")
@click.option("--no-export", is_flag=True, help="Push the existing export folder as it is; do not rebuild it.")
@click.option("--no-push", is_flag=True, help="Prepare the export folder only; do not upload.")
@click.option("--clean-remote", is_flag=True,
              help="Also delete every remote file the new export does not have.")
@click.option("--redact-pii", is_flag=True,
              help="Replace PII with placeholders in the export instead of refusing to push.")
@click.option("--redact-secrets", is_flag=True,
              help="Replace API keys, tokens, private keys and passwords with placeholders in the "
                   "export instead of refusing to push.")
def push(config: Path, repo_id: str | None, repo_type: str | None, source_dir: Path | None,
         export_dir: str | None, include_run_state: bool, token: str | None, commit_message: str | None,
         no_export: bool, no_push: bool, clean_remote: bool, redact_pii: bool, redact_secrets: bool) -> None:
    """Export the accepted conversations of CONFIG and push them to the Hugging Face Hub.

    The token comes from --token or HF_TOKEN (environment or .env).
    """
    from dlgforge_core.config import load_config
    from dlgforge_core.export.prepare import prepare_export
    from dlgforge_core.export.push import check_push_settings, push_export
    from dlgforge_core.export.push_options import PushOverrides, apply_overrides, existing_export

    from dlgforge_core.errors import ExportError

    for flag, given in (("--redact-pii", redact_pii), ("--redact-secrets", redact_secrets),
                        ("--include-run-state", include_run_state)):
        if no_export and given:
            raise ExportError(f"{flag}: has no effect with --no-export (the existing export folder is pushed as it is)")
    cfg = load_config(config)
    apply_overrides(cfg, PushOverrides(repo_id=repo_id, repo_type=repo_type, source_dir=source_dir,
                                       export_dir=export_dir, include_run_state=include_run_state,
                                       commit_message=commit_message))
    if not no_push:
        check_push_settings(cfg, token)
    if no_export:
        result = existing_export(cfg)
        click.echo(f"export: {result.export_dir} ({len(result.files)} files, existing; not rebuilt)")
        click.echo(f"version: {result.version}")
    else:
        result = prepare_export(cfg, redact_pii=True if redact_pii else None,
                                redact_secrets=True if redact_secrets else None)
        _summary(result)
    for gate in result.gates:
        click.echo(f"gate {gate.name}: {'ok' if gate.passed else 'FAILED'} - {gate.description}")
    if no_push:
        if result.gate_failures:
            click.echo("note: a push would be refused until the failing gates pass")
        click.echo("not pushed (--no-push)")
        return
    pushed = push_export(cfg, result, token=token, clean_remote=clean_remote)
    click.echo(f"pushed {len(pushed.files)} files to {pushed.url} (commit {pushed.commit})")
    if pushed.deleted:
        click.echo(f"deleted {len(pushed.deleted)} remote files the export no longer has")


def _summary(result) -> None:
    click.echo(f"export: {result.export_dir} ({len(result.files)} files, "
               f"{result.manifest['records']} conversations)")
    click.echo(f"version: {result.version}")
    click.echo(f"parent: {result.parent_version or 'none'}")
    for metric, change in result.stats_diff.items():
        click.echo(f"  {metric}: {change['parent']} -> {change['current']} ({change['delta']:+})")
    for regression in result.regressions:
        click.echo(f"regression: {regression['message']}")
