"""Reaching Ray: a cluster at ``ray.address``, or a local runtime started on demand."""

from __future__ import annotations

import warnings
from typing import Any

from dlgforge_core.errors import DlgforgeError

# How dlgforge starts or joins Ray (the Dagster `ray` resource too): no dashboard, and the
# workers' output stays in Ray's logs (the shards write logs/run.log and logs/llm.log).
RAY_INIT_OPTIONS: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                    "configure_logging": False}

def quiet_ray_start() -> None:
    """Ray starts its processes with fork+exec; lancedb (loaded for the KB) warns at every fork
    that a forked child may deadlock, which does not apply to a child that execs at once."""
    warnings.filterwarnings("ignore", message="lancedb fork support is experimental", category=RuntimeWarning)


def connect_ray(cfg: Any) -> None:
    """Initialize Ray unless it already is: ``ray.address``, or a local runtime."""
    import ray

    if ray.is_initialized():
        return
    quiet_ray_start()
    options = dict(RAY_INIT_OPTIONS)
    if cfg.ray.address:
        options["address"] = cfg.ray.address
    else:
        if cfg.ray.num_cpus:
            options["num_cpus"] = cfg.ray.num_cpus
        if cfg.ray.num_gpus is not None:
            options["num_gpus"] = cfg.ray.num_gpus
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError) as err:
        where = cfg.ray.address or "a local runtime"
        raise DlgforgeError(f"ray.address: cannot start or reach Ray at {where}: {err}") from None
