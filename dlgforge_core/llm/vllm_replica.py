"""One ``vllm_managed`` replica: its launch command, and the Ray actor that runs the server.

The actor (``ReplicaProcess``, placed by Ray with ``num_gpus=llm.vllm.num_gpus_per_replica``,
so ``CUDA_VISIBLE_DEVICES`` names its GPUs) starts the command in its own process group with
its output in ``logs/vllm/replica-<i>.log``, waits until ``GET /v1/models`` answers, and on
``stop`` kills the whole group (SIGTERM, then SIGKILL). The server also gets SIGKILL if the
actor's process dies first (Linux parent-death signal), so no server outlives its actor.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from dlgforge_core.errors import ConfigError

DEFAULT_COMMAND = ("{vllm} serve {model} --served-model-name {served_model_name} --host {host} "
                   "--port {port} --tensor-parallel-size {tensor_parallel_size} "
                   "--gpu-memory-utilization {gpu_memory_utilization} --max-num-seqs {max_num_seqs}")
PLACEHOLDERS = ("model", "served_model_name", "host", "port", "tensor_parallel_size",
                "gpu_memory_utilization", "max_num_seqs", "replica", "python", "vllm")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
_LOG_TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1
try:  # resolved before any fork: the child only calls it
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _PRCTL = None


def command_template(vllm: Any) -> list[str]:
    """The replica's argv with placeholders (``llm.vllm.launch_command`` or ``vllm serve``),
    checked now so an unknown placeholder is a config error before anything starts."""
    template = vllm.launch_command or DEFAULT_COMMAND
    try:
        tokens = shlex.split(template)
    except ValueError as err:
        raise ConfigError(f"llm.vllm.launch_command: cannot be split into arguments ({err})") from None
    if not tokens:
        raise ConfigError("llm.vllm.launch_command: empty command")
    sample = {name: "x" for name in PLACEHOLDERS}
    for token in tokens:
        try:
            token.format(**sample)
        except KeyError as err:
            raise ConfigError(f"llm.vllm.launch_command: unknown placeholder {{{err.args[0]}}} "
                              f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})") from None
        except (IndexError, ValueError) as err:
            raise ConfigError(f"llm.vllm.launch_command: bad template ({err})") from None
    return tokens + list(vllm.extra_args)


def command_fields(vllm: Any, replica: int) -> dict[str, Any]:
    """The placeholder values of one replica (``python``/``vllm`` are filled on its node)."""
    return {"model": vllm.model or "", "served_model_name": served_name(vllm),
            "host": vllm.host, "port": vllm.port_start + replica,
            "tensor_parallel_size": vllm.tensor_parallel_size,
            "gpu_memory_utilization": vllm.gpu_memory_utilization,
            "max_num_seqs": vllm.max_num_seqs, "replica": replica}


def served_name(vllm: Any) -> str:
    """The model name the replicas answer to."""
    return vllm.served_model_name or vllm.model or ""


class ReplicaProcess:
    """The body of the Ray actor that owns one server process."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def start(self, argv: list[str], fields: dict[str, Any], log_path: str,
              env: dict[str, str]) -> dict[str, Any]:
        """Start the server; returns its pid, process group, host name and node address."""
        import ray

        busy = _port_in_use(fields["host"], int(fields["port"]))
        if busy:
            return {"error": f"port {fields['port']} on {socket.gethostname()} is in use "
                             f"({busy}; change llm.vllm.port_start)"}
        values = {**fields, "python": sys.executable, "vllm": _vllm_program()}
        command = [token.format(**values) for token in argv]
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"$ {shlex.join(command)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         env={**os.environ, **env}, preexec_fn=_die_with_parent)
        return {"pid": self.proc.pid, "pgid": self.proc.pid, "hostname": socket.gethostname(),
                "node_ip": ray.util.get_node_ip_address()}

    def wait_healthy(self, base_url: str, timeout_s: float, api_key: str | None) -> str:
        """Wait until the server answers ``GET /models``: "" when it does, else why not."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        request = urllib.request.Request(base_url.rstrip("/") + "/models")
        if api_key:
            request.add_header("Authorization", f"Bearer {api_key}")
        while True:
            code = self.proc.poll()
            if code is not None:
                return f"exited with code {code} before it was healthy; {self._tail()}"
            if _answers(request):
                return ""
            if time.monotonic() >= deadline:
                return f"not healthy after {timeout_s:g}s (llm.vllm.health_timeout_s); {self._tail()}"
            time.sleep(0.25)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 10.0) -> int | None:
        """Kill the server's process group (SIGTERM, then SIGKILL); returns its exit code."""
        if self.proc is None:
            return None
        kill_group(self.proc.pid, grace_s, self.proc)
        return self.proc.returncode

    def _tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "no log"
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        tail = " | ".join(line.strip() for line in lines[-_LOG_TAIL_LINES:] if line.strip())
        return f"last lines of {self.log_path}: {tail[-1500:]}"


def kill_group(pgid: int, grace_s: float, proc: subprocess.Popen | None = None) -> None:
    """SIGTERM the process group ``pgid``, SIGKILL what is left after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _group_alive(pgid):
            if proc is not None:
                proc.poll()  # reap the leader so the group can empty
            time.sleep(0.05)
    if proc is not None:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent
            pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's group
        return True
    return True


def _port_in_use(host: str, port: int) -> str:
    """Why ``host:port`` cannot be bound now ("" when it is free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host or "0.0.0.0", port))
        except OSError as err:
            return err.strerror or type(err).__name__
    return ""


# The replica is probed directly, never through HTTP(S)_PROXY (a proxy would not reach the
# replica's address, and the wait would last until health_timeout_s).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(request: urllib.request.Request) -> bool:
    """True when the server sent an HTTP answer below 500 (up, even without /models)."""
    try:
        with _DIRECT.open(request, timeout=2.0) as reply:
            return reply.status < 500
    except urllib.error.HTTPError as err:
        return err.code < 500
    except (OSError, ValueError):
        return False


def _vllm_program() -> str:
    """The ``vllm`` script beside this interpreter (a virtualenv), else ``vllm`` on PATH."""
    beside = Path(sys.executable).parent / "vllm"
    return str(beside) if beside.exists() else "vllm"


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
