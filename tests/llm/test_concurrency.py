"""In-flight cap per endpoint and AIMD adaptive concurrency."""

from __future__ import annotations

import asyncio

from dlgforge_core.llm.limiter import AdaptiveLimiter
from tests.fake_llm import FakeLLMServer
from tests.fake_llm.handlers import generator_reply
from tests.llm.helpers import QuestionReply, ask, run


def _burst(n: int, agents=("qa_generator",)):
    def go(client):
        async def main():
            calls = [client.structured(agents[i % len(agents)], ask(i), QuestionReply,
                                       cache_key=f"slot-{i}") for i in range(n)]
            results = await asyncio.gather(*calls)
            return results, client.limiters()
        return main()
    return go


def test_in_flight_cap_is_never_exceeded_across_agents(make_cfg):
    every_agent_asks = {a: generator_reply for a in ("kb_responder", "qa_judge")}
    with FakeLLMServer(latency=0.05, handlers=every_agent_asks) as srv:
        cfg = make_cfg(srv.base_url, max_inflight=5, cache={"enabled": False})
        results, limiters = run(_burst(30, ("qa_generator", "kb_responder", "qa_judge")), cfg)
        assert len(results) == 30
        assert len(srv.requests) == 30
        # the three agents share the endpoint, hence one cap; and the cap is actually used
        assert srv.max_concurrent == 5
    assert list(limiters.values())[0].max_inflight_seen == 5


def test_window_halves_on_a_429_storm_and_calls_still_succeed(make_cfg):
    with FakeLLMServer(latency=0.02) as srv:
        srv.force_faults(*["429"] * 24)
        cfg = make_cfg(srv.base_url, max_inflight=16, max_retries=10,
                       cache={"enabled": False})
        results, limiters = run(_burst(40), cfg)
        statuses = [r.status for r in srv.requests]
    limiter = list(limiters.values())[0]
    assert len(results) == 40
    assert statuses.count(429) == 24 and statuses.count(200) == 40
    assert limiter.decreases >= 1
    assert limiter.min_window_seen <= 8
    # a burst of 429s from one generation halves the window once, not down to one
    assert limiter.decreases < 24


def test_fixed_window_when_adaptive_concurrency_is_off(make_cfg):
    with FakeLLMServer(latency=0.01) as srv:
        srv.force_faults(*["429"] * 8)
        cfg = make_cfg(srv.base_url, max_inflight=8, adaptive_concurrency=False,
                       max_retries=10, cache={"enabled": False})
        results, limiters = run(_burst(16), cfg)
    limiter = list(limiters.values())[0]
    assert len(results) == 16
    assert limiter.decreases == 0 and limiter.min_window_seen == 8


def test_limiter_aimd_rules():
    limiter = AdaptiveLimiter(16, increase_after=2)

    async def main():
        generation = await limiter.acquire()
        limiter.on_throttle(generation)
        limiter.on_throttle(generation)  # same generation: ignored
        assert limiter.window == 8
        limiter.on_throttle(limiter._generation)
        assert limiter.window == 4
        for _ in range(4):
            limiter.on_success()
        assert limiter.window == 6  # +1 per 2 successes
        limiter.release()
        for _ in range(100):
            limiter.on_success()
        assert limiter.window == 16  # never above the cap
    asyncio.run(main())


def test_limiter_serves_waiters_in_order_and_survives_cancellation():
    limiter = AdaptiveLimiter(1)
    order: list[int] = []

    async def worker(i: int):
        await limiter.acquire()
        order.append(i)
        await asyncio.sleep(0.001)
        limiter.release()

    async def main():
        await limiter.acquire()
        tasks = [asyncio.create_task(worker(i)) for i in range(5)]
        await asyncio.sleep(0.01)
        tasks[2].cancel()  # a cancelled waiter must not leak its slot
        limiter.release()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert limiter.inflight == 0 and limiter.waiting == 0
    asyncio.run(main())
    assert order == [0, 1, 3, 4]
