"""Routing strategies and endpoint cool-down, over real HTTP to loopback servers."""

from __future__ import annotations

import asyncio
import time

from tests.fake_llm import FakeLLMServer
from tests.llm.helpers import QuestionReply, ask, run


def _cfg(make_cfg, servers, strategy, weights=None, **extra):
    weights = weights or [1.0] * len(servers)
    endpoints = [{"base_url": s.base_url, "weight": w} for s, w in zip(servers, weights)]
    # max_inflight above the callers' concurrency: a per-endpoint cap would skew the shares
    return make_cfg(None, backend="vllm_attach", cache={"enabled": False}, max_inflight=64,
                    routing={"strategy": strategy, "endpoints": endpoints, **extra.pop("routing", {})},
                    **extra)


def _sequential(n, start=0):
    async def go(client):
        for i in range(start, start + n):
            await client.structured("qa_generator", ask(i), QuestionReply, cache_key=f"q{i}")
    return go


def _concurrent(n, width):
    async def go(client):
        gate = asyncio.Semaphore(width)

        async def one(i):
            async with gate:
                await client.structured("qa_generator", ask(i), QuestionReply, cache_key=f"c{i}")
        await asyncio.gather(*(one(i) for i in range(n)))
    return go


def _order(*servers):
    """Which server (by name) got each request, in arrival order."""
    received = sorted((r.received_at, r.server_name) for s in servers for r in s.requests)
    return [name for _, name in received]


def test_round_robin_takes_turns_and_interleaves_weights(make_cfg):
    with FakeLLMServer(name="a") as a, FakeLLMServer(name="b") as b:
        run(_sequential(6), _cfg(make_cfg, [a, b], "round_robin"))
        assert _order(a, b) == ["a", "b"] * 3
        a.reset()
        b.reset()
        run(_sequential(8), _cfg(make_cfg, [a, b], "round_robin", weights=[3.0, 1.0]))
        order = _order(a, b)
    assert order.count("a") == 6 and order.count("b") == 2
    assert order[:4].count("b") == 1 and order[4:].count("b") == 1  # spread, not bunched


def test_weighted_least_inflight_holds_weights_within_15_percent(make_cfg):
    with FakeLLMServer(latency=0.01) as a, FakeLLMServer(latency=0.01) as b:
        cfg = _cfg(make_cfg, [a, b], "weighted_least_inflight", weights=[1.0, 3.0])
        run(_concurrent(160, 16), cfg)
        concurrent_share = len(a.requests) / 160
        a.reset()
        b.reset()
        run(_sequential(40), cfg)
        sequential_share = len(a.requests) / 40
    for share in (concurrent_share, sequential_share):
        assert 0.25 * 0.85 <= share <= 0.25 * 1.15, share


def test_latency_ewma_prefers_the_fast_endpoint(make_cfg):
    with FakeLLMServer(latency=0.002, name="fast") as fast, FakeLLMServer(latency=0.08, name="slow") as slow:
        run(_sequential(30), _cfg(make_cfg, [slow, fast], "latency_ewma"))
        ewma_fast = len(fast.requests)
        fast.reset()
        slow.reset()
        run(_sequential(30), _cfg(make_cfg, [slow, fast], "weighted_least_inflight"))
        wli_fast = len(fast.requests)
    assert ewma_fast >= 27  # after one sample each, the fast endpoint takes (nearly) all
    assert wli_fast == 15  # the latency-blind strategy splits a sequential caller evenly


def test_failing_endpoint_cools_down_and_comes_back(make_cfg, log_dir):
    with FakeLLMServer(name="a") as a, FakeLLMServer(name="b") as b:
        cfg = _cfg(make_cfg, [a, b], "round_robin",
                   routing={"max_failures": 2, "cooldown_s": 1.0})
        b.force_faults("500", "500")
        run(_sequential(8), cfg, log_dir=log_dir)
        # b failed twice in a row and went out: the retries and the rest went to a
        assert [r.status for r in b.requests] == [500, 500]
        assert len([r for r in a.requests if r.status == 200]) == 8
        log = (log_dir / "run.log").read_text()
        assert f"endpoint {b.base_url} out for 1s after 2 failures in a row (5xx)" in log
        assert "back in rotation" not in log

    with FakeLLMServer(name="a") as a, FakeLLMServer(name="b") as b:
        cfg = _cfg(make_cfg, [a, b], "round_robin",
                   routing={"max_failures": 2, "cooldown_s": 0.5})
        b.force_faults("500", "500")

        async def out_then_back(client):
            await _sequential(6)(client)
            out_calls = len(b.requests)
            time.sleep(0.6)  # the cool-down ends: the next request probes b
            await _sequential(6, start=100)(client)
            return out_calls
        out_calls = run(out_then_back, cfg, log_dir=log_dir)
        assert out_calls == 2
        assert len([r for r in b.requests if r.status == 200]) >= 3  # probe, then its turns
    assert f"endpoint {b.base_url} back in rotation" in (log_dir / "run.log").read_text()
