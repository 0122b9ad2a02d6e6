"""The Ray resource of a distributed config (dagster-ray): a local runtime, or a cluster at
`ray.address`.

It connects (`ray.init`) at set-up, and the language's shards are submitted as Ray tasks on
that connection (the asset refuses to run them when the resource did not connect). A config
that does not distribute gets `RayNotUsed` instead (`resources/ray_slot.py`).
"""

from __future__ import annotations

from typing import Any

from dagster_ray import LocalRay, RayResource
from dagster_ray.configs import Lifecycle
from pydantic import PrivateAttr


class _LeavesOuterRay:
    """Joins a Ray runtime the process already has and leaves it running at cleanup.

    `dlgforge run` with `llm.backend: vllm_managed` starts Ray (and the vLLM actors on it) once
    for all its Dagster runs; a resource's `ray.shutdown()` after one partition would end them.
    """

    _joined: bool = PrivateAttr(default=False)

    def connect(self, context: Any) -> Any:
        import ray

        self._joined = ray.is_initialized()
        return super().connect(context)  # type: ignore[misc]

    def cleanup(self, context: Any, exception: BaseException | None) -> None:
        if self._joined:
            self._context = None  # not ours to shut down
        super().cleanup(context, exception)  # type: ignore[misc]


class LocalRuntimeRay(_LeavesOuterRay, LocalRay):
    """dagster-ray's `LocalRay` (a local runtime), leaving a runtime it joined running."""


class ClusterRay(_LeavesOuterRay, RayResource):
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


def require_connected(resource: RayResource | None) -> None:
    """The shards' Ray is the resource's: refuse to start one behind its back."""
    import ray

    from dlgforge_core.errors import DlgforgeError

    if resource is None or not resource.connected or not ray.is_initialized():
        raise DlgforgeError("ray: run.distributed.enabled needs the Dagster `ray` resource connected "
                            "(this one is not: RayNotUsed, or its lifecycle.connect is off); "
                            "build the resources from this config")


def connected_ray(address: str | None, num_cpus: int | None) -> RayResource:
    """`LocalRay` (a local runtime) or `ClusterRay` when `address` is set; either runs
    `ray.init` at set-up (`lifecycle.connect`)."""
    from dlgforge_core.generation.ray_runtime import RAY_INIT_OPTIONS, quiet_ray_start

    quiet_ray_start()
    options: dict = {"ignore_reinit_error": True, **RAY_INIT_OPTIONS}
    if num_cpus:
        options["num_cpus"] = num_cpus
    lifecycle = Lifecycle(connect=True)
    if address:
        return ClusterRay(address=address, ray_init_options=options, lifecycle=lifecycle)
    return LocalRuntimeRay(ray_init_options=options, lifecycle=lifecycle)
