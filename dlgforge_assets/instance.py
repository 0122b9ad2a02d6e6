"""The persistent Dagster instance `dlgforge run` records its runs in."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

DEFAULT_INSTANCE_YAML = """\
# Written by `dlgforge run` for a new DAGSTER_HOME; see docs/dagster.md and the
# repository's dagster.yaml for PostgreSQL storage and the other settings.
telemetry:
  enabled: false
nux:
  enabled: false
concurrency:
  pools:
    granularity: run
    default_limit: 2
  runs:
    max_concurrent_runs: 4
run_retries:
  enabled: true
  max_retries: 1
"""


def dagster_home_for(config_dir: Path) -> Path:
    """`DAGSTER_HOME` when set, else `<config folder>/.dagster_home`."""
    home = os.environ.get("DAGSTER_HOME")
    return Path(home).expanduser().resolve() if home else (config_dir / ".dagster_home").resolve()


def ensure_dagster_home(home: Path) -> Path:
    """Create `home` with a default dagster.yaml when it has none (an existing one is kept)."""
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text(DEFAULT_INSTANCE_YAML, encoding="utf-8")
    return home


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance stored under `home` (SQLite by default, or what its dagster.yaml says)."""
    return dg.DagsterInstance.from_config(str(ensure_dagster_home(home)))
