"""Scale-out: conversations/s with 1, 2 and 4 shards when the endpoints' capacity is the limit.

For N shards the run routes (``vllm_attach``, ``weighted_least_inflight``) over N loopback
endpoints, each answering in 200 ms and serving at most ``--cap`` requests at once (the rest
queue in the server, as on a vLLM server at ``max_num_seqs``). Capacity is then
``N * cap / 0.2`` requests/s; a one-turn conversation with the judge off is two requests
(question, answer), so the ideal is ``N * cap / 0.2 / 2`` conversations/s. The engine gets
twice as many slots as the endpoints can serve, so the endpoints, not the slots, are the limit.

Each size is a distributed run (``run.distributed``, N shards as Ray tasks on a local runtime,
as ``dlgforge run`` does). Starting Ray and the workers is not timed: rates come from the
servers' request logs (answers, sampled every 50 ms), over the whole run (first request to last
answer) and in the steady state (10 %-90 % of the answers). The script prints each ratio to the
ideal (target >= 0.9 at every size).

    .venv/bin/python benchmarks/scaling.py [--sizes 1,2,4] [--cap 8] [--seconds 15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(REPO / "benchmarks"))
from throughput import make_config as bench_config, start_server  # noqa: E402

WORK = REPO / "benchmarks" / "_work" / "scaling"
LATENCY_MS = 200.0
REQUESTS_PER_CONVERSATION = 2  # one turn: the question and the answer (judge off)


def start_endpoint(name: str, cap: int, request_log: Path) -> tuple[subprocess.Popen, str]:
    """One fake endpoint process at capacity ``cap``; returns it and its base URL."""
    return start_server(LATENCY_MS, 0, request_log, ("--max-concurrency", str(cap), "--name", name))


def make_config(name: str, urls: list[str], shards: int, slots: int, conversations: int) -> Any:
    return bench_config(
        name, None,
        {"batch_size": slots, "total_samples": conversations,
         "distributed": {"enabled": True, "shards_per_language": shards, "num_workers": shards}},
        {"llm": {"backend": "vllm_attach", "timeout": 60, "max_inflight": 1024,
                 "routing": {"strategy": "weighted_least_inflight",
                             "endpoints": [{"base_url": url} for url in urls]}},
         "retrieval": {"search_mode": "fts"},
         "ray": {"num_cpus": shards}},
        work=WORK)


def count_lines(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        if path.exists():
            with path.open("rb") as handle:
                total += handle.read().count(b"\n")
    return total


def sample(paths: list[Path], samples: list[tuple[float, int]], done: threading.Event) -> None:
    """(time, answers logged by every endpoint) every 50 ms until ``done``, then once more."""
    while True:
        finished = done.is_set()
        samples.append((time.perf_counter(), count_lines(paths)))
        if finished:
            return
        time.sleep(0.05)


def steady_rate(samples: list[tuple[float, int]], total: int) -> float:
    inside = [(t, n) for t, n in samples if 0.1 * total <= n <= 0.9 * total]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return float("nan")
    (t0, n0), (t1, n1) = inside[0], inside[-1]
    return (n1 - n0) / (t1 - t0)


def measure(shards: int, cap: int, seconds: float) -> dict[str, Any]:
    from dlgforge_core.generation.distributed import run_language_distributed
    from dlgforge_core.generation.ray_runtime import connect_ray
    from dlgforge_core.kb import KnowledgeBase

    capacity = shards * cap / (LATENCY_MS / 1000)  # requests/s
    ideal = capacity / REQUESTS_PER_CONVERSATION
    conversations = int(ideal * seconds)
    WORK.mkdir(parents=True, exist_ok=True)
    logs = [WORK / f"requests_{shards}_{i}.jsonl" for i in range(shards)]
    for log in logs:
        log.unlink(missing_ok=True)
    servers = [start_endpoint(f"e{i}", cap, log) for i, log in enumerate(logs)]
    try:
        cfg = make_config(f"shards_{shards}", [url for _, url in servers], shards,
                          slots=2 * shards * cap, conversations=conversations)
        KnowledgeBase(cfg).build()  # the index is set-up, not throughput
        connect_ray(cfg)
        samples: list[tuple[float, int]] = []
        done = threading.Event()
        sampler = threading.Thread(target=sample, args=(logs, samples, done), daemon=True)
        sampler.start()
        summary = run_language_distributed(cfg, "en")
        done.set()
        sampler.join()
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=30)
        import ray

        if ray.is_initialized():
            ray.shutdown()
    total = samples[-1][1]
    first = next(t for t, n in samples if n > 0) - LATENCY_MS / 1000  # sent one latency earlier
    last = next(t for t, n in samples if n == total)
    per_endpoint = [count_lines([log]) for log in logs]
    per_conv = total / max(summary.accepted_total, 1)
    whole = summary.accepted_total / (last - first)
    steady = steady_rate(samples, total) / per_conv
    return {"shards": shards, "ideal": ideal, "accepted": summary.accepted_total, "requests": total,
            "whole": whole, "steady": steady, "per_endpoint": per_endpoint, "per_conv": per_conv}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4", help="shard counts (one endpoint per shard)")
    parser.add_argument("--cap", type=int, default=8, help="requests each endpoint serves at once")
    parser.add_argument("--seconds", type=float, default=15.0, help="ideal run length per size")
    args = parser.parse_args()
    for shards in (int(size) for size in args.sizes.split(",")):
        r = measure(shards, args.cap, args.seconds)
        print(f"{shards} shard(s), {shards} endpoint(s) x {args.cap} in flight at {LATENCY_MS:.0f} ms: "
              f"{r['accepted']} conversations, {r['requests']} requests ({r['per_conv']:.2f}/conversation), "
              f"per endpoint {r['per_endpoint']}")
        print(f"  ideal {r['ideal']:.1f} conv/s; whole run {r['whole']:.1f} conv/s = ratio "
              f"{r['whole'] / r['ideal']:.3f}; steady state {r['steady']:.1f} conv/s = ratio "
              f"{r['steady'] / r['ideal']:.3f} (target >= 0.9)", flush=True)


if __name__ == "__main__":
    main()
