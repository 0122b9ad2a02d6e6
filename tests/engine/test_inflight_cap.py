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
