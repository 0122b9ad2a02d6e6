"""``llm.backend: vllm_managed``: vLLM servers started on Ray GPU actors for one run.

``managed_llm(cfg)`` is the run's scope: it starts ``llm.vllm.replicas`` servers (one Ray actor
each, holding ``num_gpus_per_replica`` GPUs; see ``vllm_replica.py``), waits until every one
answers (at most ``health_timeout_s``; a replica that exits early fails at once with the tail
of its log), and yields a copy of the config whose ``llm.routing.endpoints`` are the replicas,
so the router (and shards on other Ray workers) send requests to them like ``vllm_attach``
endpoints. On leaving the scope, normally or on any error, every replica's process group is
killed and its actor ended. A scope opened while another is active in the process for the same
``llm.vllm`` settings reuses its servers (``dlgforge run`` opens one around all its Dagster
runs; each asset opens its own when materialized alone).

With ``auto_stop_on_exit: false`` the actors are detached and named (``dlgforge-vllm-<i>``):
after a successful run they stay up (as long as the Ray cluster does) for other clients; the
next run replaces them. A failed start still stops them.
"""

from __future__ import annotations

import atexit
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dlgforge_core.errors import ConfigError, LLMSetupError
from dlgforge_core.llm.vllm_replica import (
    WILDCARD_HOSTS,
    ReplicaProcess,
    command_fields,
    command_template,
    kill_group,
    served_name,
)

NAMESPACE = "dlgforge"
_STOP_GRACE_S = 10.0
_active: "ManagedServers | None" = None


def check_vllm_config(cfg: Any, source: str) -> None:
    """Load-time checks of ``llm.vllm`` for the ``vllm_managed`` backend."""
    if cfg.llm.backend != "vllm_managed":
        return
    vllm = cfg.llm.vllm
    if not vllm.model:
        raise ConfigError(f"{source}: llm.vllm.model: vllm_managed needs the model to serve")
    if vllm.launch_command is None and vllm.num_gpus_per_replica < vllm.tensor_parallel_size:
        raise ConfigError(f"{source}: llm.vllm.num_gpus_per_replica: {vllm.num_gpus_per_replica:g} "
                          f"GPUs cannot hold tensor_parallel_size {vllm.tensor_parallel_size}")
    if vllm.port_start + vllm.replicas - 1 > 65535:
        raise ConfigError(f"{source}: llm.vllm.port_start: {vllm.port_start} + {vllm.replicas} "
                          "replicas runs past port 65535")
    try:
        command_template(vllm)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


@contextmanager
def managed_llm(cfg: Any, echo: Callable[[str], Any] | None = None) -> Iterator[Any]:
    """The run's scope: ``cfg`` itself for other backends; for ``vllm_managed`` a copy of it
    routed to the servers started (or reused) here, stopped on leaving unless reused."""
    global _active
    if cfg.llm.backend != "vllm_managed":
        yield cfg
        return
    if _active is not None and _active.key == settings_key(cfg):
        yield _active.routed(cfg)
        return
    servers, outer = ManagedServers(cfg, echo=echo), _active
    _active = servers
    try:
        servers.start()
        yield servers.routed(cfg)
    except BaseException:
        servers.stop(force=True)
        raise
    else:
        servers.stop()
    finally:
        _active = outer


def settings_key(cfg: Any) -> str:
    """What identifies a set of servers: the ``llm.vllm`` settings and the output folder."""
    return json.dumps([cfg.llm.vllm.model_dump(mode="json"), str(cfg.output_dir)], sort_keys=True)


class ManagedServers:
    """The replicas of one run: started, health-waited, routed to, stopped."""

    def __init__(self, cfg: Any, echo: Callable[[str], Any] | None = None) -> None:
        self.cfg = cfg
        self.vllm = cfg.llm.vllm
        self.key = settings_key(cfg)
        self.echo = echo or (lambda line: print(line, flush=True))
        self.actors: list[Any] = []
        self.infos: list[dict[str, Any]] = []
        self.urls: list[str] = []
        self._log: Any = None
        self._stopped = False

    # -- scope -----------------------------------------------------------------------

    def routed(self, cfg: Any) -> Any:
        """A copy of ``cfg`` whose ``llm.routing.endpoints`` are the replicas."""
        from dlgforge_core.config.llm_models import RouteEndpoint

        routed = cfg.model_copy(deep=True)
        routed.llm.routing.endpoints = [RouteEndpoint(base_url=url, model=served_name(self.vllm))
                                        for url in self.urls]
        return routed

    def start(self) -> None:
        """Start every replica and wait until all answer; raise ``LLMSetupError`` if one fails."""
        import ray

        from dlgforge_core.generation.ray_runtime import connect_ray

        vllm = self.vllm
        argv = command_template(vllm)
        connect_ray(self.cfg)
        self._check_gpus(ray)
        atexit.register(self.stop, True)
        self.echo(f"vllm_managed: starting {vllm.replicas} replica(s) of {served_name(vllm)} "
                  f"({vllm.num_gpus_per_replica:g} GPU each), logs in {self._log_dir()}")
        started = time.monotonic()
        env = {"VLLM_API_KEY": self._api_key()} if self._api_key() else {}
        waits = []
        for index in range(vllm.replicas):
            actor = self._actor(ray, index)
            self.actors.append(actor)
            info = self._get(ray, actor.start.remote(
                argv, command_fields(vllm, index),
                str(self._log_dir() / f"replica-{index}.log"), env), f"replica {index}: start")
            if info.get("error"):
                raise LLMSetupError(f"llm.vllm: replica {index}: {info['error']}")
            self.infos.append(info)
            self.urls.append(self._url(index, info))
            self._line(f"replica {index}: pid {info['pid']} on {info['hostname']}, {self.urls[-1]}")
            waits.append(actor.wait_healthy.remote(self._probe_url(index), vllm.health_timeout_s,
                                                   self._api_key()))
        pending = {ref: index for index, ref in enumerate(waits)}
        deadline = time.monotonic() + vllm.health_timeout_s + 30
        while pending:  # in the order they finish: a replica that exits early fails at once
            done, _ = ray.wait(list(pending), num_returns=1,
                               timeout=max(0.0, deadline - time.monotonic()))
            if not done:
                raise LLMSetupError(f"llm.vllm: replica {min(pending.values())} did not report "
                                    "its health in time")
            index = pending.pop(done[0])
            problem = self._get(ray, done[0], f"replica {index}: health wait")
            if problem:
                raise LLMSetupError(f"llm.vllm: replica {index} ({self.urls[index]}) {problem}")
        self.echo(f"vllm_managed: {vllm.replicas} replica(s) healthy after "
                  f"{time.monotonic() - started:.1f}s")
        self._line(f"{vllm.replicas} replica(s) healthy after {time.monotonic() - started:.1f}s")

    def stop(self, force: bool = False) -> None:
        """Stop every replica (process group and actor); ``auto_stop_on_exit: false`` keeps
        them up unless ``force`` (a failed run)."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if not self.vllm.auto_stop_on_exit and not force:
            self._line(f"{len(self.actors)} replica(s) left running (auto_stop_on_exit: false)")
            self._close_log()
            return
        import ray

        if not ray.is_initialized():  # Ray was shut down under us: kill what we can reach
            for index in range(len(self.actors)):
                self._kill_locally(index)
        else:
            refs = [self._ask_stop(actor) for actor in self.actors]
            for index, (actor, ref) in enumerate(zip(self.actors, refs)):
                try:
                    if ref is None:
                        raise RuntimeError("the actor is gone")
                    ray.get(ref, timeout=_STOP_GRACE_S + 15)
                except Exception:  # noqa: BLE001 - the actor is gone: kill the group ourselves
                    self._kill_locally(index)
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # noqa: BLE001 - already dead
                    pass
        if self.actors:
            self._line(f"{len(self.actors)} replica(s) stopped")
        self._close_log()

    # -- helpers ---------------------------------------------------------------------

    def _actor(self, ray: Any, index: int) -> Any:
        options: dict[str, Any] = {"num_gpus": self.vllm.num_gpus_per_replica, "num_cpus": 0,
                                   "max_restarts": 0, "namespace": NAMESPACE}
        if not self.vllm.auto_stop_on_exit:
            name = f"dlgforge-vllm-{index}"
            try:
                ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            except ValueError:
                pass  # none left by an earlier run
            options.update(name=name, lifetime="detached")
        return ray.remote(ReplicaProcess).options(**options).remote()

    @staticmethod
    def _ask_stop(actor: Any) -> Any:
        try:
            return actor.stop.remote(_STOP_GRACE_S)
        except Exception:  # noqa: BLE001 - the actor (or its cluster) is gone
            return None

    def _check_gpus(self, ray: Any) -> None:
        need = self.vllm.replicas * self.vllm.num_gpus_per_replica
        have = ray.cluster_resources().get("GPU", 0.0)
        if need > have:
            raise LLMSetupError(f"llm.vllm.replicas: {self.vllm.replicas} replica(s) x "
                                f"{self.vllm.num_gpus_per_replica:g} GPU need {need:g} GPUs; the "
                                f"Ray cluster has {have:g} (set ray.address to a cluster with GPUs)")

    def _get(self, ray: Any, ref: Any, what: str, timeout: float | None = None) -> Any:
        try:
            return ray.get(ref, timeout=timeout or self.vllm.health_timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise LLMSetupError(f"llm.vllm: {what} did not finish in time (no free GPU on the "
                                "Ray cluster?)") from None
        except ray.exceptions.RayError as err:
            detail = str(err).strip().splitlines()[-1][:300] if str(err).strip() else ""
            raise LLMSetupError(f"llm.vllm: {what} failed: {type(err).__name__}: {detail}") from None

    def _url(self, index: int, info: dict[str, Any]) -> str:
        host = self.vllm.advertise_host or (
            info["node_ip"] if self.vllm.host in WILDCARD_HOSTS else self.vllm.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.vllm.port_start + index}/v1"

    def _probe_url(self, index: int) -> str:
        host = "127.0.0.1" if self.vllm.host in WILDCARD_HOSTS else self.vllm.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.vllm.port_start + index}/v1"

    def _api_key(self) -> str | None:
        key = self.cfg.llm.api_key
        return key.get_secret_value() if key is not None else None

    def _kill_locally(self, index: int) -> None:
        import socket

        if index < len(self.infos) and self.infos[index]["hostname"] == socket.gethostname():
            kill_group(self.infos[index]["pgid"], _STOP_GRACE_S)

    def _log_dir(self):
        return self.cfg.logs_dir / "vllm"

    def _line(self, line: str) -> None:
        if self._log is None:
            from dlgforge_core.generation.run_log import RunLog

            self._log = RunLog(self.cfg.logs_dir, "vllm")
        self._log.info("[vllm] %s", line)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
