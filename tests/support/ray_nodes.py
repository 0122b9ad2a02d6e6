"""A two-node Ray cluster on this machine whose nodes cannot write the driver's output folders.

Each node is ``ray start --block`` inside its own mount namespace (``unshare --mount``) where
``outputs`` is bind-mounted read-only: any process of the cluster (every shard's worker)
that tried to write there would fail with EROFS, even as root. The driver (the test's
``dlgforge run``) runs outside, where ``outputs`` is writable.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import free_port

RAY = Path(sys.executable).parent / "ray"
REPO = Path(__file__).resolve().parents[2]

PROBE = """
import errno, json, sys, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False)
nodes = [n for n in ray.nodes() if n["Alive"]]
@ray.remote(num_cpus=0)
def probe(folder):
    import os
    try:
        with open(os.path.join(folder, ".probe"), "w"):
            return "written"
    except OSError as err:
        return errno.errorcode[err.errno]
refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(sys.argv[2])
        for n in nodes]
print(json.dumps({"nodes": len(nodes), "cpus": sum(n["Resources"].get("CPU", 0) for n in nodes),
                  "probes": ray.get(refs)}))
"""


@dataclass
class RayNodes:
    address: str
    outputs: Path
    procs: list[subprocess.Popen]
    temp_dir: Path

    def probe(self) -> dict:
        """Alive nodes, their CPUs, and what a write into ``outputs`` does on each node."""
        done = subprocess.run([sys.executable, "-c", PROBE, self.address, str(self.outputs)], capture_output=True,
                              text=True, timeout=120, env=node_env())
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        _kill_leftovers(str(self.temp_dir))
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def node_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "disabled"}  # a loopback test cluster: no token to hand to the driver
    env.pop("RAY_ADDRESS", None)
    return env


def _node(args: str, outputs: Path) -> subprocess.Popen:
    script = f'mount --bind -o ro "{outputs}" "{outputs}" && exec "{RAY}" start --block {args}'
    return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            env=node_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, cwd=REPO)


def start_two_nodes(outputs: Path, head_cpus: int = 1, worker_cpus: int = 2) -> RayNodes:
    """Head (``head_cpus``) and one worker node (``worker_cpus``); waits until both are alive."""
    temp_dir = Path(tempfile.mkdtemp(prefix="rn", dir="/tmp"))
    port = free_port()
    common = "--node-ip-address=127.0.0.1 --disable-usage-stats"
    head = _node(f"--head --port={port} --ray-client-server-port={free_port()} --num-cpus={head_cpus} "
                 f"--include-dashboard=false --dashboard-agent-listen-port={free_port()} --temp-dir={temp_dir} "
                 f"{common}", outputs)
    nodes = RayNodes(address=f"127.0.0.1:{port}", outputs=outputs, procs=[head], temp_dir=temp_dir)
    try:
        time.sleep(3)
        nodes.procs.append(_node(f"--address={nodes.address} --num-cpus={worker_cpus} "
                                 f"--dashboard-agent-listen-port={free_port()} {common}", outputs))
        deadline = time.monotonic() + 120
        while True:
            try:
                if nodes.probe()["nodes"] == 2:
                    return nodes
            except AssertionError:
                pass
            assert time.monotonic() < deadline, "the two Ray nodes did not come up"
            time.sleep(2)
    except BaseException:
        nodes.stop()
        raise


def _kill_leftovers(marker: str) -> None:
    """SIGKILL the processes of this cluster still alive (their command lines name its temp dir)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
