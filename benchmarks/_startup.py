"""Start-up and tear-down of `dlgforge run`, and a bare aiohttp loop: parts of throughput.py."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from throughput import REPO, WORK, make_config, start_server, stop_server


def measure_start_stop(mode: str, latency_ms: float = 200, batch_size: int = 64,
                       conversations: int = 128) -> dict[str, Any]:
    """``dlgforge run CONFIG`` as a user runs it (a subprocess, through Dagster) on a built
    index: seconds from the command's start to the server receiving its first request, and
    from the server's last answer to the command's exit (export and summary included)."""
    import json

    request_log = WORK / f"requests_start_{mode}.jsonl"
    request_log.unlink(missing_ok=True)
    proc, base_url = start_server(latency_ms, 0, request_log)
    try:
        cfg = make_config(f"start_stop_{mode}", base_url,
                          {"batch_size": batch_size, "total_samples": conversations},
                          {"retrieval": {"search_mode": mode}, "judge": {"enabled": False}})
        env = {**os.environ, "PYTHONPATH": str(REPO), "DAGSTER_HOME": str(cfg.base_dir / ".dagster_home")}
        # as on a user's machine, the warm-up run leaves compiled modules for the measured one
        # (some sandboxes set this, and every start then recompiles each edited module)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        command = [sys.executable, "-m", "dlgforge_assets", "run", str(cfg.config_path)]
        # a first run builds the index and creates the Dagster instance, as a user's first run
        # does; the measured run starts from there with an empty output folder
        warm = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        if warm.returncode != 0:
            raise RuntimeError(f"dlgforge run failed ({warm.returncode}): {warm.stderr[-2000:]}")
        shutil.rmtree(cfg.output_dir)
        skip = len(request_log.read_bytes().splitlines())  # the warm-up run's requests
        started = time.time()
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        ended = time.time()
    finally:
        stop_server(proc)
    if done.returncode != 0:
        raise RuntimeError(f"dlgforge run failed ({done.returncode}): {done.stderr[-2000:]}")
    lines = [json.loads(line) for line in request_log.read_text().splitlines()[skip:] if line.strip()]
    first = min(line["received"] for line in lines)
    last = max(line["answered"] for line in lines)
    return {"startup": first - started, "teardown": ended - last, "requests": len(lines),
            "busy": last - first, "wall": ended - started,
            "stages": _dagster_stages(cfg.base_dir / ".dagster_home", started, first, last, ended)}


def _dagster_stages(home: Path, started: float, first: float, last: float, ended: float) -> str:
    """Where the start-up and tear-down went, from the runs the Dagster instance recorded:
    the process up to the first run, each job's span, and the gaps."""
    import sqlite3

    path = home / "history" / "runs.db"
    if not path.exists():
        return "(no SQLite run storage to read stages from)"
    with sqlite3.connect(path) as db:
        runs = db.execute("SELECT pipeline_name, start_time, end_time FROM runs "
                          "WHERE start_time >= ? ORDER BY start_time", (started - 1,)).fetchall()
    parts, cursor = [], started
    for name, start, end in runs:
        if start is None or end is None:
            continue
        parts.append(f"{start - cursor:.1f} s before {name}")
        if start <= first <= end:
            parts.append(f"{name} {first - start:.1f} s to the first request, "
                         f"{end - last:.1f} s after the last answer")
        else:
            parts.append(f"{name} {end - start:.1f} s")
        cursor = end
    parts.append(f"{ended - cursor:.1f} s to exit")
    return "; ".join(parts)


def bare_aiohttp_ratio(batch_size: int, latency_ms: float, jitter_ms: float, requests: int) -> float:
    """The physical limit of this machine for a client: a bare aiohttp loop (no SDK, no
    engine) keeping ``batch_size`` requests of the engine's size in flight against the same
    fake server; achieved ÷ ideal over the steady state (10 %-90 % of the requests)."""
    import aiohttp

    proc, base_url = start_server(latency_ms, jitter_ms)
    body = {"model": "fake-model", "temperature": 0.7, "max_tokens": 512,
            "messages": [{"role": "system", "content": "You answer as a support agent. " * 40},
                         {"role": "user", "content": "Snippets: " + "refunds take five business days. " * 40}]}

    async def main() -> float:
        done: list[float] = []
        left = [requests]
        connector = aiohttp.TCPConnector(limit=batch_size)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def worker() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    async with session.post(f"{base_url}/chat/completions", json=body,
                                            headers={"X-Dlgforge-Agent": "kb_responder"}) as reply:
                        await reply.read()
                    done.append(time.perf_counter())

            await asyncio.gather(*(worker() for _ in range(batch_size)))
        done.sort()
        lo, hi = done[int(0.1 * len(done))], done[int(0.9 * len(done)) - 1]
        return (int(0.9 * len(done)) - 1 - int(0.1 * len(done))) / (hi - lo)

    try:
        rate = asyncio.run(main())
    finally:
        stop_server(proc)
    return rate / (batch_size / (latency_ms / 1000))
