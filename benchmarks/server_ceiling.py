"""The fake server's own ceiling: throughput ratio with a raw-socket client and no SDK.

``throughput.py`` measures the engine against the loopback fake server, which runs on the
same cores. This script puts the same server under the same load (``batch_size``
connections, each sending one request after the other, for the same latency) from a
minimal asyncio client that only writes a prepared request and reads the reply, so what
it prints is the most any client could achieve against that server on this machine: the
configured latency ÷ the mean latency the client saw (a connection that always has a
request in flight achieves 1 / mean latency requests/s, so this is achieved ÷ ideal
without the ends of the run), and the server's CPU per request.

    .venv/bin/python benchmarks/server_ceiling.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.throughput import start_server, stop_server  # noqa: E402

BODY = json.dumps({
    "model": "fake-model",
    "messages": [{"role": "system", "content": "You answer as a support agent. " * 40},
                 {"role": "user", "content": "Snippets: " + "refunds take five business days. " * 40}],
    "temperature": 0.7, "max_tokens": 512, "top_p": 1.0,
}).encode()


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def connection(host: str, port: int, path: str, until: float, latencies: list[float]) -> None:
    """One keep-alive connection sending requests back to back until ``until``."""
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"X-Dlgforge-Agent: kb_responder\r\nContent-Length: {len(BODY)}\r\n\r\n").encode()
    try:
        while time.monotonic() < until:
            sent = time.monotonic()
            writer.write(head + BODY)
            reply_head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in reply_head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            latencies.append(time.monotonic() - sent)
    finally:
        writer.close()


async def measure(connections: int, latency_s: float, seconds: float) -> None:
    proc, base_url = start_server(latency_s * 1000, 0)
    try:
        url = urlsplit(base_url)
        cpu_before = process_cpu_s(proc.pid)
        latencies: list[float] = []
        started = time.monotonic()
        await asyncio.gather(*(connection(url.hostname, url.port, url.path + "/chat/completions",
                                          started + seconds, latencies) for _ in range(connections)))
        server_cpu = process_cpu_s(proc.pid) - cpu_before
    finally:
        stop_server(proc)
    mean = sum(latencies) / len(latencies)
    print(f"{connections} connections × {latency_s * 1000:.0f} ms: {len(latencies)} requests, "
          f"mean latency {1000 * mean:.1f} ms, ratio {latency_s / mean:.3f}; "
          f"server CPU {1000 * server_cpu / len(latencies):.2f} ms per request", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    for connections, latency_s in ((64, 0.2), (256, 1.0)):
        asyncio.run(measure(connections, latency_s, args.seconds))


if __name__ == "__main__":
    main()
