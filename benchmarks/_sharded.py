"""Distributed runs (``run.distributed``) measured from the fake server's request log: part of
throughput.py (``--shards N``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from throughput import WORK, make_config, start_server, steady_rate, stop_server


def run_sharded(cfg: Any, request_log: Path, latency_s: float) -> dict[str, Any]:
    """A distributed run of one language; rates from the server's log of answered requests.

    The run starts when its first request was sent: one latency before the first answer."""
    from dlgforge_core.generation.distributed import run_language_distributed
    from dlgforge_core.generation.ray_runtime import connect_ray

    connect_ray(cfg)  # starting Ray is set-up, not throughput
    samples: list[tuple[float, int]] = []
    done = threading.Event()
    sampler = threading.Thread(target=sample_log, args=(request_log, samples, done), daemon=True)
    sampler.start()
    summary = run_language_distributed(cfg, "en")
    done.set()
    sampler.join()
    total = samples[-1][1]
    first = next(t for t, n in samples if n > 0)
    last = next(t for t, n in samples if n == total)
    return {"summary": summary, "requests": total, "wall": last - first + latency_s,
            "steady": steady_rate(samples, total)}


def sample_log(path: Path, samples: list[tuple[float, int]], done: threading.Event, every: float = 0.05) -> None:
    """Record (time, lines in the request log) until ``done``, then once more."""
    count, offset = 0, 0
    while True:
        finished = done.is_set()
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            offset += len(chunk)
            count += chunk.count(b"\n")
        samples.append((time.perf_counter(), count))
        if finished:
            return
        time.sleep(every)


def measure_sharded(batch_size: int, latency_ms: float, jitter_ms: float, conversations: int, mode: str,
                    shards: int) -> dict[str, Any]:
    request_log = WORK / f"requests_{batch_size}.jsonl"
    request_log.unlink(missing_ok=True)
    proc, base_url = start_server(latency_ms, jitter_ms, request_log)
    try:
        cfg = make_config(f"throughput_{batch_size}_shards", base_url,
                          {"batch_size": batch_size, "total_samples": conversations,
                           "distributed": {"enabled": True, "shards_per_language": shards, "num_workers": shards}},
                          {"retrieval": {"search_mode": mode}, "ray": {"num_cpus": shards}})
        result = run_sharded(cfg, request_log, latency_ms / 1000)
    finally:
        stop_server(proc)
    ideal = batch_size / (latency_ms / 1000)
    achieved = result["requests"] / result["wall"]
    result.update(ideal=ideal, achieved=achieved, ratio=achieved / ideal, steady_ratio=result["steady"] / ideal)
    return result


def report_sharded(mode: str, batch: int, latency: int, jitter: int, conversations: int, target: float,
                   shards: int) -> None:
    """Measure one case as a distributed run and print its ratios."""
    r = measure_sharded(batch, latency, jitter, conversations, mode, shards)
    s = r["summary"]
    print(f"[kb search: {mode}, {shards} shards on Ray] batch_size={batch} latency={latency}±{jitter} ms: "
          f"{r['requests']} requests in {r['wall']:.1f} s, {s.accepted_total} conversations accepted")
    print(f"  achieved {r['achieved']:.1f} req/s / ideal {r['ideal']:.1f} req/s = ratio {r['ratio']:.3f} "
          f"over the whole run; steady state (10%-90% of the requests) "
          f"{r['steady']:.1f} req/s = ratio {r['steady_ratio']:.3f} (target >= {target})", flush=True)
