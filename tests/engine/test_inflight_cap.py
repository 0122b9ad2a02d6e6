"""``llm.max_inflight`` follows ``run.batch_size`` unless set; a cap that held slots back is
named in the run summary."""

from __future__ import annotations

import os

from dlgforge_core.generation.summary import format_summary
from tests.engine.helpers import run_languages
from tests.fake_llm import FakeLLMServer


def test_max_inflight_defaults_to_batch_size(make_config, monkeypatch):
    assert make_config(extra={"run": {"batch_size": 256}}).llm.max_inflight == 256
    assert make_config(extra={"run": {"batch_size": 3}}, name="small").llm.max_inflight == 3
    candidates = make_config(extra={"run": {"batch_size": 3, "candidates_per_turn": 2}}, name="two")
    assert candidates.llm.max_inflight == 6  # each slot answers with two candidates at once
    explicit = make_config(extra={"run": {"batch_size": 256}, "llm": {"max_inflight": 64}}, name="explicit")
    assert explicit.llm.max_inflight == 64
    monkeypatch.setitem(os.environ, "DLGFORGE__LLM__MAX_INFLIGHT", "5")
    assert make_config(extra={"run": {"batch_size": 256}}, name="env").llm.max_inflight == 5


def test_unset_cap_lets_every_slot_send(make_config, built_kb):
    with FakeLLMServer(latency=0.05) as srv:
        cfg = make_config(srv.base_url, {"run": {"batch_size": 8, "total_samples": 16, "max_turns": 1}})
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert srv.max_concurrent == 8
    assert summary.complete and summary.held_back is None
    assert "concurrency:" not in format_summary([summary], cfg)


def test_summary_names_the_cap_that_held_slots_back(make_config, built_kb):
    with FakeLLMServer(latency=0.05) as srv:
        cfg = make_config(srv.base_url, {"run": {"batch_size": 8, "total_samples": 16, "max_turns": 1},
                                         "llm": {"max_inflight": 2}})
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert srv.max_concurrent == 2
    assert summary.complete
    assert summary.held_back.startswith("llm.max_inflight=2 held 8 slots back (")
    assert f"      concurrency: {summary.held_back}" in format_summary([summary], cfg).splitlines()


def test_endpoints_share_the_batch_size_slots(make_config, built_kb):
    """Two endpoints (one server reached by two names), each capped at batch_size: the run
    still keeps at most batch_size requests in flight over both."""
    with FakeLLMServer(latency=0.05) as srv:
        other = srv.base_url.replace("127.0.0.1", "localhost")
        cfg = make_config(srv.base_url, {
            "run": {"batch_size": 4, "total_samples": 24, "max_turns": 1},
            "llm": {"backend": "vllm_attach",
                    "routing": {"endpoints": [{"base_url": srv.base_url}, {"base_url": other}]}}})
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert srv.max_concurrent == 4
    assert summary.complete and summary.accepted_total == 24
    assert summary.held_back is None


class _MeetingKB:
    """The real KB, whose searches wait (up to 2 s) until ``meet`` of them are running at
    once; records the most searches seen running together."""

    def __init__(self, kb, meet: int) -> None:
        self._kb, self.meet, self.running, self.most = kb, meet, 0, 0
        self._barrier = None

    def __getattr__(self, name):
        return getattr(self._kb, name)

    async def asearch(self, *args, **kwargs):
        import asyncio

        if self._barrier is None:
            self._barrier = asyncio.Barrier(self.meet)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.wait_for(self._barrier.wait(), 2.0)
        except (TimeoutError, asyncio.BrokenBarrierError):
            pass
        finally:
            self.running -= 1
        return await self._kb.asearch(*args, **kwargs)


def test_more_conversations_than_slots_are_in_progress(make_config, built_kb):
    """batch_size 2: while two conversations search the KB, two more hold the two request
    slots, so three searches can run together; with run.extra_conversations 0 at most two."""
    seen = {}
    for extra in (None, 0):
        kb = _MeetingKB(built_kb, meet=3)
        with FakeLLMServer(latency=0.05) as srv:
            cfg = make_config(srv.base_url, {"run": {"batch_size": 2, "total_samples": 6, "max_turns": 1,
                                                     "extra_conversations": extra}}, name=f"extra{extra}")
            [summary] = run_languages(cfg, kb, ["en"])
            assert srv.max_concurrent <= 2
        assert summary.complete
        seen[extra] = kb.most
    assert seen[None] >= 3
    assert seen[0] <= 2
