"""`dlgforge config migrate OLD.yaml NEW.yaml`: a dlgforge config in the native schema."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("config")
def config() -> None:
    """Work with config files."""


@config.command("migrate")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace NEW if it exists.")
def migrate(old: Path, new: Path, overwrite: bool) -> None:
    """Rewrite OLD (dlgforge's newest or older schema, or native) as a native config NEW.

    `dlgforge run` reads OLD as it is; the native file only drops the keys that have no
    effect here (listed as comments at its top and printed here). No secret is written:
    keys read from the environment stay `${VAR}` references.
    """
    from dlgforge_core.config.migrate import migrate_config

    warnings = migrate_config(old, new, overwrite=overwrite)
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    click.echo(f"wrote {new} ({len(warnings)} key{'s' if len(warnings) != 1 else ''} with no effect dropped)")
