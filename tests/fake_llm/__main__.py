"""Run the fake LLM server as a process: prints ``READY <base_url>``, serves until killed."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.fake_llm.faults import Faults
from tests.fake_llm.handlers import SCRIPTS
from tests.fake_llm.server import FakeLLMServer


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_llm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--script", default="default", choices=sorted(SCRIPTS))
    parser.add_argument("--fault-429", type=float, default=0.0, help="rate of 429 replies")
    parser.add_argument("--fault-500", type=float, default=0.0, help="rate of 500 replies")
    parser.add_argument("--fault-timeout", type=float, default=0.0,
                        help="rate of requests that hang, then get 504")
    parser.add_argument("--fault-broken-json", type=float, default=0.0,
                        help="rate of replies whose content is cut-off JSON")
    parser.add_argument("--retry-after", type=float, default=0.0,
                        help="Retry-After seconds sent with a 429")
    parser.add_argument("--timeout-s", type=float, default=5.0,
                        help="how long a timeout fault hangs")
    parser.add_argument("--reject-json-schema", action="store_true",
                        help="answer response_format json_schema with HTTP 400")
    parser.add_argument("--reject-json-object", action="store_true",
                        help="answer response_format json_object with HTTP 400")
    parser.add_argument("--api-key", default=None, help="require this Bearer token")
    parser.add_argument("--model", action="append", default=None,
                        help="model id listed by /v1/models (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="",
                        help="tag for the generator's questions (several servers, one run)")
    parser.add_argument("--max-concurrency", type=int, default=None,
                        help="serve at most this many requests at once (the rest queue)")
    parser.add_argument("--keep-alive-s", type=float, default=60.0)
    parser.add_argument("--request-log", default=None,
                        help="append one JSON line per request to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start the server, announce it, and block until SIGTERM/SIGINT."""
    args = _parse(argv)
    faults = Faults(rate_429=args.fault_429, rate_500=args.fault_500,
                    rate_timeout=args.fault_timeout, rate_broken_json=args.fault_broken_json,
                    retry_after=args.retry_after, timeout_s=args.timeout_s, seed=args.seed)
    rejects = [name for name, on in (("json_schema", args.reject_json_schema),
                                     ("json_object", args.reject_json_object)) if on]
    server = FakeLLMServer(latency=args.latency_ms / 1000, jitter=args.jitter_ms / 1000,
                           faults=faults, script=args.script, reject_formats=rejects,
                           api_key=args.api_key, models=args.model or ["fake-model"],
                           host=args.host, port=args.port, seed=args.seed,
                           request_log=args.request_log, name=args.name,
                           keep_alive_s=args.keep_alive_s,
                           max_concurrency=args.max_concurrency)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server.start()
    print(f"READY {server.base_url}", flush=True)
    try:
        done.wait()
    finally:
        server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
