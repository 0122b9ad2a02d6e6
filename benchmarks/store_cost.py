"""What the PostgreSQL store costs the engine: its throughput ÷ the file store's, one run each.

The same language (full-text retrieval: ``retrieval.search_mode: fts``, no query embedding,
so the engine rather than the embedder is measured) is generated twice against one loopback
fake endpoint (200 ms per request, its own process), with 64 slots: once on the file store
(the output folder) and once on the PostgreSQL store (a throwaway local server started by
this script, as in the tests). Each rate is accepted conversations ÷ wall time of
``generate_language``, the PostgreSQL run's writing of the output folder from the database
included. Target: PostgreSQL ÷ file >= 0.95. The machine may be shared: the figure of one
run is noisy.

    .venv/bin/python benchmarks/store_cost.py [--conversations N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.throughput import make_config, open_kb, run_engine, start_server, stop_server  # noqa: E402

SLOTS, LATENCY_MS = 64, 200


def measure(base_url: str, name: str, conversations: int, store: dict) -> float:
    cfg = make_config(name, base_url, {"batch_size": SLOTS, "total_samples": conversations},
                      {"retrieval": {"search_mode": "fts"}, "store": store})
    kb = open_kb(cfg)
    result = run_engine(cfg, kb)
    summary = result["summary"]
    assert summary.accepted_total == conversations, summary
    rate = summary.accepted_new / result["wall"]
    print(f"{name:>10} store: {summary.accepted_new} conversations in {result['wall']:.2f} s = {rate:.1f} conv/s "
          f"({result['requests']} requests)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=640)
    args = parser.parse_args()
    from tests.support.postgres import PgCluster

    cluster = PgCluster().init()
    server, base_url = start_server(LATENCY_MS, 0)
    try:
        dsn = cluster.url(cluster.create_database())
        print(f"store cost: {SLOTS} slots x {LATENCY_MS} ms fake endpoint, retrieval.search_mode fts, "
              f"{args.conversations} conversations per store")
        file_rate = measure(base_url, "file", args.conversations, {"backend": "file"})
        pg_rate = measure(base_url, "postgres", args.conversations,
                          {"backend": "postgres", "postgres": {"dsn": dsn}})
        print(f"postgres / file throughput: {pg_rate / file_rate:.3f} (target >= 0.95)")
    finally:
        stop_server(server)
        cluster.remove()


if __name__ == "__main__":
    main()
