"""Shards of a language: residue ownership, shares that add up, the budget's share, the run
index over shard checkpoints, and a language that keeps its shard layout."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from dlgforge_core.errors import ConfigError
from dlgforge_core.generation.budget import BudgetGovernor
from dlgforge_core.generation.shards import Shard, all_shards, check_layout
from dlgforge_core.store.run_state import DroppedConversation, LanguageState, RunStateStore


@pytest.mark.parametrize("total, count", [(5, 2), (7, 3), (2, 4), (64, 2), (1, 1)])
def test_shares_add_up_and_every_index_has_one_owner(total: int, count: int) -> None:
    shards = all_shards(count)
    assert sum(shard.share(total) for shard in shards) == total
    assert max(s.share(total) for s in shards) - min(s.share(total) for s in shards) <= 1
    for index in range(50):
        assert [shard.owns(index) for shard in shards].count(True) == 1


def test_shard_names_and_range() -> None:
    assert (Shard().suffix, Shard().label) == ("", "")
    assert (Shard(1, 4).suffix, Shard(1, 4).label) == (".shard-1-of-4", " shard 2/4")
    with pytest.raises(ValueError):
        Shard(2, 2)


def test_a_language_keeps_its_shard_count() -> None:
    check_layout("main", "en", [2, 2], Shard(1, 2))
    check_layout("main", "en", [], Shard(0, 3))
    with pytest.raises(ConfigError, match=r"run\.distributed\.shards_per_language: run 'main' language en "
                                          r"was checkpointed with 1 shard\(s\), not 2"):
        check_layout("main", "en", [1], Shard(0, 2))


def _budget(max_tokens: int) -> SimpleNamespace:
    return SimpleNamespace(max_tokens=max_tokens, per_agent=SimpleNamespace())


def test_shards_spend_from_one_shared_counter() -> None:
    """Two governors on one counter: each sees the other's synced spend, none holds a share."""
    counter: dict[str, int] = {"kb_responder": 400}

    def add(tokens: dict[str, int]) -> dict[str, int]:
        for agent, value in tokens.items():
            counter[agent] = counter.get(agent, 0) + value
        return dict(counter)

    spend_a = {"qa_generator": {"prompt_tokens": 0, "completion_tokens": 0}}
    spend_b = {"qa_generator": {"prompt_tokens": 0, "completion_tokens": 0}}
    a = BudgetGovernor(_budget(1000), {}, lambda: spend_a, counter=add)
    b = BudgetGovernor(_budget(1000), {}, lambda: spend_b, counter=add)
    a.sync(), b.sync()
    spend_a["qa_generator"]["prompt_tokens"] = 500  # far over an equal share of 500 - 400/2
    assert not a.exhausted()
    a.sync()
    assert counter == {"kb_responder": 400, "qa_generator": 500}
    spend_b["qa_generator"]["prompt_tokens"] = 99
    assert not b.exhausted()  # b has not synced: 400 + 99 locally
    b.sync()  # 400 + 500 + 99 in the counter
    spend_b["qa_generator"]["prompt_tokens"] = 100
    assert b.exhausted() and b.reached == "run.budget.max_tokens=1000" and b.spent_at_stop == 1000


def test_the_run_index_sums_a_language_over_its_shards(tmp_path) -> None:
    store = RunStateStore(tmp_path)
    store.save(LanguageState(run_id="r", language="en", target=3, accepted=3, status="complete", shard=0,
                             shards=2, next_index=6))
    store.save(LanguageState(run_id="r", language="en", target=2, accepted=1, shard=1, shards=2, next_index=5,
                             dropped=[DroppedConversation(conversation_id="c", conversation_index=3,
                                                          reason="dedup_exhausted")]))
    store.save(LanguageState(run_id="r", language="fr", target=2, accepted=2, status="complete"))
    index = json.loads(store.run_path("r").read_text())["languages"]
    assert index["en"] == {"status": "running", "accepted": 4, "target": 5, "next_index": 6, "dropped": 1,
                           "shards": 2, "files": ["r-en.shard-0-of-2.json", "r-en.shard-1-of-2.json"]}
    assert index["fr"]["file"] == "r-fr.json" and "shards" not in index["fr"]
    assert [s.shard for s in store.of_language("r", "en")] == [0, 1]
    assert store.load("r", "en", Shard(1, 2)).accepted == 1 and store.load("r", "en") is None
