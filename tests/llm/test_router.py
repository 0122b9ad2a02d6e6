"""vllm_attach: routing over several endpoints, health-checked with their auth."""

from __future__ import annotations

import asyncio

import pytest

from dlgforge_core.errors import ConfigError, LLMSetupError
from tests.fake_llm import FakeLLMServer
from tests.llm.helpers import QuestionReply, ask, run


def _routed_cfg(make_cfg, servers, strategy="weighted_least_inflight", **extra):
    endpoints = [{"base_url": s.base_url, **extra.pop(f"ep{i}", {})}
                 for i, s in enumerate(servers)]
    return make_cfg(None, backend="vllm_attach", cache={"enabled": False},
                    routing={"strategy": strategy, "endpoints": endpoints}, **extra)


def _concurrent(n):
    def go(client):
        async def main():
            calls = [client.structured("qa_generator", ask(i), QuestionReply,
                                       cache_key=f"s{i}") for i in range(n)]
            return await asyncio.gather(*calls)
        return main()
    return go


def test_least_inflight_spreads_concurrent_requests_over_both_endpoints(make_cfg):
    with FakeLLMServer(latency=0.05) as a, FakeLLMServer(latency=0.05) as b:
        cfg = _routed_cfg(make_cfg, [a, b], max_inflight=6)
        results = run(_concurrent(40), cfg)
        counts = (len(a.requests), len(b.requests))
        peaks = (a.max_concurrent, b.max_concurrent)
    assert len(results) == 40 and sum(counts) == 40
    assert min(counts) >= 12  # both busy, roughly evenly
    assert max(peaks) <= 6  # each endpoint keeps its own cap


def test_weights_shift_the_share(make_cfg):
    with FakeLLMServer(latency=0.05) as a, FakeLLMServer(latency=0.05) as b:
        cfg = _routed_cfg(make_cfg, [a, b], ep0={"weight": 3.0}, ep1={"weight": 1.0})
        run(_concurrent(40), cfg)
        assert len(a.requests) > 2 * len(b.requests) > 0


def test_round_robin_alternates_and_endpoint_model_overrides(make_cfg):
    with FakeLLMServer() as a, FakeLLMServer() as b:
        cfg = _routed_cfg(make_cfg, [a, b], strategy="round_robin", ep1={"model": "other"})

        async def sequential(client):
            for i in range(6):
                await client.structured("qa_generator", ask(i), QuestionReply)
        run(sequential, cfg)
        assert len(a.requests) == len(b.requests) == 3
        assert {r.model for r in a.requests} == {"fake-model"}
        assert {r.model for r in b.requests} == {"other"}


def test_unreachable_endpoint_is_reported_and_the_run_goes_on(make_cfg, log_dir, capsys):
    with FakeLLMServer() as gone:
        dead_url = gone.base_url
    with FakeLLMServer() as alive:
        cfg = make_cfg(None, backend="vllm_attach", routing={"endpoints": [
            {"base_url": alive.base_url}, {"base_url": dead_url}]})
        results = run(_concurrent(6), cfg, log_dir=log_dir)
        assert len(results) == 6 and len(alive.requests) == 6
    lines = [line for line in capsys.readouterr().err.splitlines() if dead_url in line]
    assert len(lines) == 1
    assert lines[0].startswith("warning: llm.routing.endpoints[1].base_url: ")
    assert "unreachable (connection refused" in lines[0]
    assert "going on with 1 of 2 endpoints" in lines[0]
    assert f"{dead_url} is unreachable" in (log_dir / "run.log").read_text()


def test_no_healthy_endpoint_fails_fast_naming_each(make_cfg, capsys):
    with FakeLLMServer() as gone_a, FakeLLMServer() as gone_b:
        dead = [gone_a.base_url, gone_b.base_url]
    cfg = make_cfg(None, backend="vllm_attach", routing={"endpoints": [
        {"base_url": url} for url in dead]})
    with pytest.raises(LLMSetupError) as err:
        run(_concurrent(1), cfg)
    message = str(err.value)
    assert "\n" not in message and message.startswith("llm.routing.endpoints: no healthy endpoint")
    assert all(url in message for url in dead)
    reported = [line for line in capsys.readouterr().err.splitlines() if "unreachable" in line]
    assert [next(url for url in dead if url in line) for line in reported] == dead


def test_health_check_uses_each_endpoints_key(make_cfg, capsys):
    with FakeLLMServer(api_key="key-a") as a, FakeLLMServer(api_key="key-b") as b:
        good = _routed_cfg(make_cfg, [a, b], ep0={"api_key": "key-a"},
                           ep1={"api_key": "key-b"})
        results = run(_concurrent(4), good)
        assert len(results) == 4 and a.requests and b.requests
        a.reset()
        b.reset()
        bad = _routed_cfg(make_cfg, [a, b], ep0={"api_key": "key-a"},
                          ep1={"api_key": "wrong"})
        results = run(_concurrent(4), bad)  # the endpoint with the bad key is left out
        assert len(results) == 4 and len(a.requests) == 4 and b.requests == []
    err = capsys.readouterr().err
    assert "llm.routing.endpoints[1].base_url" in err and "rejected the API key (HTTP 401" in err
    assert "out for the run" in err and "wrong" not in err


def test_routing_without_endpoints_is_refused_with_the_key_named(make_cfg):
    with pytest.raises(ConfigError, match=r"llm\.routing\.endpoints: vllm_attach needs at least one endpoint"):
        make_cfg(None, backend="vllm_attach")
