"""One shared token budget for every shard of a run (PostgreSQL store, Ray shards, real HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.e2e.generate_project import dlgforge, jsonl, write_config
from tests.fake_llm.server import FakeLLMServer
from tests.support.project import write_kb

pytestmark = pytest.mark.slow

SHARDS, SLOTS = 3, 6


def _tokens_per_conversation(output: Path) -> int:
    state = json.loads((output / "run_state" / "main-en.json").read_text(encoding="utf-8"))
    tokens = sum(u["prompt_tokens"] + u["completion_tokens"] for u in state["usage"].values())
    return max(1, tokens // max(1, state["accepted"]))


def test_three_shards_spend_one_budget_and_none_stops_while_tokens_are_left(tmp_path: Path, postgres_url) -> None:
    shared = {"knowledge_dir": write_kb(tmp_path / "knowledge"), "index_dir": tmp_path / "knowledge_index"}
    with FakeLLMServer(latency=0.3, jitter=0.05) as srv:  # slow enough that every shard is up before the budget is spent
        # A first, unbudgeted run (file store) measures what one conversation costs here.
        probe = write_config(tmp_path / "probe", srv.base_url, shared, {
            "run": {"total_samples": 3, "batch_size": 3, "n_turns": 1}})
        assert dlgforge("run", str(probe), cwd=tmp_path / "probe").returncode == 0
        per_conversation = _tokens_per_conversation(tmp_path / "probe" / "output")
        budget = 15 * per_conversation  # one shard alone would use it up: each may accept 20
        config = write_config(tmp_path / "run", srv.base_url, shared, {
            "run": {"total_samples": 60, "batch_size": SLOTS, "n_turns": 1, "budget": {"max_tokens": budget},
                    "distributed": {"enabled": True, "shards_per_language": SHARDS, "num_workers": SHARDS}},
            "ray": {"num_cpus": SHARDS},
            "store": {"backend": "postgres", "postgres": {"dsn": postgres_url}}})
        done = dlgforge("run", str(config), cwd=tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    with psycopg.connect(postgres_url) as conn:
        spent = conn.execute("select sum(tokens) from dlg_budget where run_id = 'main'").fetchone()[0]
        states = [json.loads(state) for (state,) in conn.execute(
            "select state from dlg_checkpoints where language = 'en' order by shard")]
        accepted = conn.execute("select count(*) from dlg_conversations").fetchone()[0]
    assert [s["shard"] for s in states] == [0, 1, 2]
    for state in states:
        assert state["status"] == "budget_exhausted" and state["accepted"] > 0  # every shard worked, none finished
        # no shard stopped while tokens were left: each saw the run's spend at the budget
        assert state["budget_spent_at_stop"] >= budget
    # the run stops within one commit group of the budget: only conversations already in
    # progress when the shards stopped (at most every slot and as many extra conversations,
    # run.extra_conversations) went over it
    in_progress = 2 * SLOTS
    assert budget <= spent <= budget + in_progress * per_conversation * 1.5, (budget, spent, per_conversation)
    assert accepted == len(jsonl(tmp_path / "run" / "output" / "synthetic_qa.jsonl")) < 60
    assert "budget exhausted (run.budget.max_tokens=" in done.stdout
