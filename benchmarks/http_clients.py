"""HTTP clients under the openai SDK side by side: CPU per request against the loopback server.

Each client sends the same engine-shaped chat request (a long system prompt, snippets, a
JSON-schema response format) with ``--concurrency`` requests in flight against the fake
server (its own process, so its CPU is not counted), and the script prints the event-loop
thread's CPU time per request (the part that caps requests/s in one process) and the
achieved ÷ ideal rate. Clients:

- ``fast_http``: dlgforge's lean HTTP/1.1 transport under the SDK (``llm/fast_http.py``);
- ``sdk aiohttp``: the SDK's ``DefaultAioHttpClient`` (``openai[aiohttp]``);
- ``sdk httpx (default)``: the SDK's default client (``DefaultAsyncHttpxClient``), one pool;
- ``sdk httpx, 8 pools``: what dlgforge does for ``https://`` endpoints (several small pools);
- ``httpx + httpx-aiohttp (no SDK)``: httpx with the aiohttp transport; the SDK takes only its
  own HTTP library's clients, so this row posts the SDK's JSON body directly (no SDK);
- ``bare aiohttp (no SDK)``: the client-side floor of this machine.

    .venv/bin/python benchmarks/http_clients.py [--requests N] [--concurrency C] [--latency-ms L]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import start_server, stop_server  # noqa: E402


def _request() -> Any:
    from dlgforge_core.generation.replies import ResponderReply
    from dlgforge_core.llm.backends import ChatRequest
    from dlgforge_core.llm.structured import response_format_for, schema_spec

    spec = schema_spec(ResponderReply)
    return ChatRequest(
        model="fake-model", temperature=0.7, max_tokens=512, top_p=1.0, timeout=30,
        messages=[{"role": "system", "content": "You answer as a support agent. " * 40},
                  {"role": "user", "content": "Snippets: " + "refunds take five business days. " * 40}],
        response_format=response_format_for("json_schema", spec), json_schema=spec.schema,
        headers={"X-Dlgforge-Agent": "kb_responder"})


def _sdk_backend(kind: str, base_url: str, concurrency: int) -> Any:
    """An ``OpenAIBackend`` whose SDK client(s) sit on the HTTP client ``kind``."""
    import openai

    from dlgforge_core.llm.openai_backend import OpenAIBackend, _Pool

    if kind == "fast_http":
        return OpenAIBackend(base_url, "bench", max_inflight=concurrency, fast_http=True)
    if kind == "httpx8":
        return OpenAIBackend(base_url, "bench", max_inflight=concurrency, fast_http=False)
    backend = OpenAIBackend(base_url, "bench", max_inflight=concurrency, fast_http=True)
    if kind == "aiohttp":
        http = openai.DefaultAioHttpClient(limits=_limits(concurrency))
    else:
        http = openai.DefaultAsyncHttpxClient(limits=_limits(concurrency))
    backend._pools = [_Pool(backend._sdk("bench", http))]  # the same backend code on top
    return backend


def _limits(concurrency: int) -> Any:
    import openai._base_client as base

    httpx = base.httpx2 if hasattr(base, "httpx2") else base.httpx
    return httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)


async def _drive(send, concurrency: int, requests: int) -> tuple[float, float]:
    """(event-loop CPU ms per request, achieved requests/s) for ``requests`` sends."""
    left = [min(32, requests)]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await send()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, 8))))  # warm-up
    left[0] = requests
    cpu, wall = time.thread_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return 1000 * (time.thread_time() - cpu) / requests, requests / (time.perf_counter() - wall)


def measure_sdk(kind: str, base_url: str, concurrency: int, requests: int) -> tuple[float, float]:
    request = _request()

    async def main() -> tuple[float, float]:
        backend = _sdk_backend(kind, base_url, concurrency)
        try:
            return await _drive(lambda: backend.complete(request), concurrency, requests)
        finally:
            await backend.aclose()

    return asyncio.run(main())


def _body() -> bytes:
    from dlgforge_core.llm.openai_backend import _body as body_of

    return json.dumps(body_of(_request(), "max_tokens")).encode()


def measure_httpx_aiohttp(base_url: str, concurrency: int, requests: int) -> tuple[float, float]:
    import httpx
    from httpx_aiohttp import HttpxAiohttpClient

    body = _body()

    async def main() -> tuple[float, float]:
        async with HttpxAiohttpClient(limits=httpx.Limits(max_connections=concurrency)) as client:
            async def send() -> None:
                reply = await client.post(f"{base_url}/chat/completions", content=body,
                                          headers={"Content-Type": "application/json",
                                                   "X-Dlgforge-Agent": "kb_responder"})
                reply.json()
            return await _drive(send, concurrency, requests)

    return asyncio.run(main())


def measure_bare_aiohttp(base_url: str, concurrency: int, requests: int) -> tuple[float, float]:
    import aiohttp

    body = _body()

    async def main() -> tuple[float, float]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            async def send() -> None:
                async with session.post(f"{base_url}/chat/completions", data=body,
                                        headers={"Content-Type": "application/json",
                                                 "X-Dlgforge-Agent": "kb_responder"}) as reply:
                    json.loads(await reply.read())
            return await _drive(send, concurrency, requests)

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="measure every client this many times")
    args = parser.parse_args()
    proc, base_url = start_server(args.latency_ms, 0)
    ideal = args.concurrency / (args.latency_ms / 1000)
    cases: list[tuple[str, Any]] = [
        ("fast_http (dlgforge)", lambda: measure_sdk("fast_http", base_url, args.concurrency, args.requests)),
        ("sdk aiohttp (DefaultAioHttpClient)", lambda: measure_sdk("aiohttp", base_url, args.concurrency, args.requests)),
        ("sdk httpx default (one pool)", lambda: measure_sdk("httpx", base_url, args.concurrency, args.requests)),
        ("sdk httpx, 8 pools (dlgforge https)", lambda: measure_sdk("httpx8", base_url, args.concurrency, args.requests)),
        ("httpx + httpx-aiohttp (no SDK)", lambda: measure_httpx_aiohttp(base_url, args.concurrency, args.requests)),
        ("bare aiohttp (no SDK)", lambda: measure_bare_aiohttp(base_url, args.concurrency, args.requests)),
    ]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in cases}
    try:
        for _ in range(args.rounds):  # interleaved, so a busy minute hits every client alike
            for name, run in cases:
                try:
                    results[name].append(run())
                except ImportError as err:
                    print(f"{name}: not installed ({err.name})", flush=True)
    finally:
        stop_server(proc)
    print(f"{args.requests} requests, {args.concurrency} in flight, {args.latency_ms:g} ms server "
          f"latency (ideal {ideal:.0f} req/s); event-loop CPU per request (best of {args.rounds}):")
    for name, readings in results.items():
        if readings:
            cpu = min(r[0] for r in readings)
            rate = max(r[1] for r in readings)
            print(f"  {name:38s} {cpu:6.3f} ms/request   ratio {rate / ideal:.3f}")


if __name__ == "__main__":
    main()
