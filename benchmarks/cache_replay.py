"""Cache replay: a second run of the same config into a fresh output folder.

Run 1 generates into ``output_a`` with the request cache on; run 2 uses the same config
and the same cache folder but a fresh ``output_b``. The script prints the LLM calls of
run 2 (client calls and requests the server received; target: zero) and compares the
exports file by file: byte-identical as written, and identical once lines are put in
conversation order (commit order follows completion order, which a replay may change).
``created_at`` (a timestamp) and ``usage`` (tokens spent, zero on a replay) are left out
of the ``synthetic_qa.jsonl`` comparison; the other files hold neither.

    .venv/bin/python benchmarks/cache_replay.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import throughput as bench  # noqa: E402

FILES = ["conversations_sharegpt.jsonl", "conversations_sharegpt_judged.jsonl", "turns.jsonl",
         "coverage_ledger.jsonl", "synthetic_qa.jsonl"]


def comparable(name: str, line: str) -> str:
    if name != "synthetic_qa.jsonl":
        return line
    record = json.loads(line)
    record.pop("created_at", None)
    record.pop("usage", None)
    return json.dumps(record, sort_keys=True)


def order_key(line: str) -> str:
    row = json.loads(line)
    meta = row.get("metadata") or {}
    return f"{row.get('conversation_id') or meta.get('conversation_id')}/{row.get('turn_index', 0):04d}"


def main() -> None:
    cache = bench.WORK / "cache_replay_cache"
    shutil.rmtree(cache, ignore_errors=True)
    server, base_url = bench.start_server(0, 0)
    try:
        kb = bench.open_kb(bench.make_config("cache_replay_kb", "http://127.0.0.1:9/v1", {}))
        runs = {}
        for name in ("a", "b"):
            cfg = bench.make_config(
                f"cache_replay_{name}", base_url,
                {"batch_size": 8, "total_samples": 40, "min_turns": 1, "max_turns": 3, "n_turns": None},
                {"llm": {"cache": {"enabled": True, "dir": str(cache)}}, "judge": {"enabled": True}})
            runs[name] = (cfg, bench.run_engine(cfg, kb))
    finally:
        bench.stop_server(server)
    (cfg_a, run_a), (cfg_b, run_b) = runs["a"], runs["b"]
    print(f"run 1: {run_a['requests']} LLM calls sent, {run_a['summary'].accepted_total} conversations")
    print(f"run 2 (same cache, fresh output folder): {run_b['requests']} LLM calls sent, "
          f"{run_b['summary'].cached_calls} replayed from cache (target: 0 sent)")
    for name in FILES:
        a = (cfg_a.output_dir / name).read_text(encoding="utf-8").splitlines()
        b = (cfg_b.output_dir / name).read_text(encoding="utf-8").splitlines()
        raw = [comparable(name, x) for x in a] == [comparable(name, x) for x in b]
        ordered = sorted((order_key(x), comparable(name, x)) for x in a) == sorted(
            (order_key(x), comparable(name, x)) for x in b)
        print(f"  {name}: {len(a)} vs {len(b)} lines; identical as written: {raw}; "
              f"identical in conversation order: {ordered}")
    compare_exports(cfg_a, cfg_b)


def compare_exports(cfg_a, cfg_b) -> None:
    """The export folders (`dlgforge push --no-push`), which are written in conversation order."""
    from dlgforge_core.export import prepare_export

    a, b = prepare_export(cfg_a), prepare_export(cfg_b)
    data_a = {p.relative_to(a.export_dir): p.read_bytes() for p in a.export_dir.rglob("*.jsonl")}
    data_b = {p.relative_to(b.export_dir): p.read_bytes() for p in b.export_dir.rglob("*.jsonl")}
    same = sorted(data_a) == sorted(data_b) and all(data_a[k] == data_b[k] for k in data_a)
    print(f"  export folder data files ({len(data_a)}): byte-identical: {same}; "
          f"dataset version {a.version} vs {b.version}")


if __name__ == "__main__":
    main()
