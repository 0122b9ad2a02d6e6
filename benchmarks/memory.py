"""Peak RSS while generating many one-turn conversations at zero latency.

Each size runs in its own child process. The child opens the (tiny) KB and warms up the
embedding model first, then samples its RSS every 20 ms while the engine generates
``N`` one-turn conversations against the fake server (its own process, zero latency,
cache off). KB searches run in the default hybrid mode, so every turn also embeds its
question with MiniLM (``--kb-mode fts`` leaves the query embedding out). It reports the RSS before generation (the interpreter, the libraries and the MiniLM encoder),
the peak during generation, and the growth. Growth should be flat in N apart from the
dedup set (16-byte digests, about 100 bytes a question with set overhead): accepted
records are streamed to disk, never kept in memory.

    .venv/bin/python benchmarks/memory.py [--sizes 2500,10000] [--kb-mode hybrid|fts]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import throughput as bench  # noqa: E402  (shared helpers: tiny KB, fake server, engine runner)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(n: int, base_url: str, kb_mode: str) -> None:
    kb = bench.open_kb(bench.make_config("memory_kb", "http://127.0.0.1:9/v1", {}))
    cfg = bench.make_config(f"memory_{n}", base_url, {"batch_size": 64, "total_samples": n, "max_attempts_factor": 2})
    before = rss_mb()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = bench.run_engine(cfg, bench.FullTextKB(kb) if kb_mode == "fts" else kb)
    done.set()
    sampler.join()
    print(json.dumps({"n": n, "accepted": result["summary"].accepted_total, "before_mb": before,
                      "peak_mb": max(peak[0], rss_mb()), "wall_s": result["wall"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2500,10000")
    parser.add_argument("--kb-mode", choices=["hybrid", "fts"], default="hybrid")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.base_url, args.kb_mode)
        return
    server, base_url = bench.start_server(0, 0)
    try:
        rows = []
        for n in (int(s) for s in args.sizes.split(",")):
            out = subprocess.run([sys.executable, __file__, "--child", str(n), "--base-url", base_url,
                                  "--kb-mode", args.kb_mode],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        bench.stop_server(server)
    for row in rows:
        growth = row["peak_mb"] - row["before_mb"]
        print(f"[kb search: {args.kb_mode}] N={row['n']}: accepted {row['accepted']} in {row['wall_s']:.0f} s; RSS before generation "
              f"{row['before_mb']:.0f} MB, peak {row['peak_mb']:.0f} MB (target < 400 MB), growth {growth:.0f} MB")
    if len(rows) >= 2:
        small, big = rows[0], rows[-1]
        g_small, g_big = small["peak_mb"] - small["before_mb"], big["peak_mb"] - big["before_mb"]
        print(f"growth ratio N={big['n']} / N={small['n']}: {g_big / max(g_small, 1e-9):.2f} "
              f"(N ratio {big['n'] / small['n']:.0f}; flat means close to 1); "
              f"peak ratio {big['peak_mb'] / small['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
