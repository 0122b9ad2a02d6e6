"""The `ray` resource slot, and the stand-in of a config that does not distribute.

`conversations` requires a `ray` resource. For a distributed config (`run.distributed.enabled`)
it is dagster-ray's resource (`resources/ray.py`), which connects at set-up; otherwise nothing
would ever use it, so the slot holds `RayNotUsed` and neither dagster-ray nor Ray is
imported (~0.2 s of every `dlgforge run` start).
"""

from __future__ import annotations

from typing import Any

import dagster as dg


class RayNotUsed(dg.ConfigurableResource):
    """The `ray` slot of a config that does not distribute: connects to nothing."""

    @property
    def connected(self) -> bool:
        return False


def ray_resource_for(address: str | None, num_cpus: int | None, connect: bool = False) -> Any:
    """dagster-ray's `LocalRay` (a local runtime started at set-up) or `ClusterRay` when
    `address` is set, for a distributed config (`connect`); `RayNotUsed` otherwise, so a
    single-process run never starts Ray."""
    if not connect:
        return RayNotUsed()
    from resources.ray import connected_ray

    return connected_ray(address, num_cpus)
