"""The ``dlgforge`` command line: a thin shell over the commands in ``commands/``."""

from __future__ import annotations

import sys

import click

from dlgforge_core.errors import DlgforgeError


class _Group(click.Group):
    """Turns user errors into one line on stderr and exit code 2, with no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DlgforgeError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="dlgforge")
def main() -> None:
    """Generate grounded synthetic multi-turn conversations from a folder of documents."""


def _register() -> None:
    from dlgforge_assets.commands import config_cmd, judge, kb, push, run, seeds

    main.add_command(run.run)
    main.add_command(judge.judge)
    main.add_command(push.push)
    main.add_command(seeds.seeds_migrate)
    main.add_command(kb.kb)
    main.add_command(config_cmd.config)


_register()
