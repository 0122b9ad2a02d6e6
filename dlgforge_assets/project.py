"""Which config the code location uses, and what Definitions need from it at load time."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_ENV = "DLGFORGE_CONFIG"
DEFAULT_CONFIG = "config.yaml"


def config_path_from_env() -> Path:
    """`DLGFORGE_CONFIG`, else `./config.yaml`, made absolute."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser().resolve()


@dataclass(frozen=True)
class ProjectShape:
    """The parts of the config that shape the graph (read from local disk only)."""

    config_path: Path
    languages: list[str] = field(default_factory=list)
    schedule_cron: str = "0 3 * * *"
    sensor_interval_s: int = 60
    llm_backend: str | None = None
    ray_address: str | None = None
    ray_num_cpus: int | None = None
    distributed: bool = False
    load_error: str | None = None


def read_shape(config_path: Path) -> ProjectShape:
    """Read the graph shape; a missing or invalid config gives an empty language set.

    Definitions must still load then (so `dagster dev` can show the graph); the assets
    report the config error when they run.
    """
    from dlgforge_core.config import load_config
    from dlgforge_core.errors import DlgforgeError

    if not config_path.exists():
        return ProjectShape(config_path, load_error=f"{config_path}: config file not found")
    try:
        cfg = load_config(config_path)
    except DlgforgeError as err:
        return ProjectShape(config_path, load_error=str(err))
    return ProjectShape(
        config_path=config_path,
        languages=list(cfg.run.target_languages),
        schedule_cron=cfg.automation.schedule_cron,
        sensor_interval_s=cfg.automation.sensor_interval_seconds,
        llm_backend=cfg.llm.backend,
        ray_address=cfg.ray.address,
        ray_num_cpus=cfg.ray.num_cpus,
        distributed=cfg.run.distributed.enabled,
    )
