"""The Ray resource slot (dagster-ray): a local runtime, or a cluster at `ray.address`.

No asset requires it to run locally; distributed generation (run.distributed.enabled) uses
it to reach Ray. Dagster only initializes a resource that an executing asset requires, so
the slot costs nothing when unused.
"""

from __future__ import annotations

from dagster_ray import LocalRay, RayResource


class ClusterRay(RayResource):
    """An existing Ray cluster reached at `address` (e.g. `ray://head:10001` or `auto`)."""

    address: str

    @property
    def host(self) -> str:
        return self.address.split("://")[-1].split(":")[0]

    @property
    def ray_address(self) -> str:  # type: ignore[override]
        return self.address

    @property
    def name(self) -> str:
        return "ClusterRay"

    @property
    def created(self) -> bool:
        return True

    @property
    def ready(self) -> bool:
        return True


def ray_resource_for(address: str | None, num_cpus: int | None) -> RayResource:
    """`LocalRay` (a local runtime started on demand) or `ClusterRay` when `address` is set."""
    options: dict = {"ignore_reinit_error": True}
    if num_cpus:
        options["num_cpus"] = num_cpus
    if address:
        return ClusterRay(address=address, ray_init_options=options)
    return LocalRay(ray_init_options=options)
