"""Config warnings (settings accepted with no effect): printed once on stderr, kept in run.log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def load_and_report(config: Path, **options: Any) -> Any:
    """``load_config(config)``; each of its warnings printed once and appended to run.log."""
    from dlgforge_core.config import load_config

    cfg = load_config(config, **options)
    report_warnings(cfg)
    return cfg


def report_warnings(cfg: Any) -> None:
    """Print ``cfg.warnings`` on stderr and write them to ``<saving.logs_dir>/run.log``."""
    if not cfg.warnings:
        return
    for line in cfg.warnings:
        click.echo(f"warning: {line}", err=True)
    from dlgforge_core.generation.run_log import RunLog

    log = RunLog(cfg.logs_dir, "config")
    try:
        for line in cfg.warnings:
            log.warning("config: %s", line)
    finally:
        log.close()
