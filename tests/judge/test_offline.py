"""The offline judge in-process: skips, partial failures, settings changes, atomic rewrite."""

from __future__ import annotations

import json

import pytest

from dlgforge_core.judge.judge import Judge
from dlgforge_core.judge.logs import close_judge_logs
from dlgforge_core.judge.offline import run_offline_judge
from dlgforge_core.store.outputs import OutputStore
from tests.fake_llm.handlers import judge_reply
from tests.fake_llm.server import FakeLLMServer


def record(index: int, turns: int) -> dict:
    cid = f"main-en-{index:06d}"
    return {
        "conversation_id": cid, "run_id": "main", "language": "en",
        "conversation_index": index, "created_at": "2026-11-22T10:00:00Z", "n_turns": turns,
        "user_persona": {"id": "u01", "name": "U", "description": "d"},
        "assistant_persona": {"id": "a01", "name": "A", "description": "d"},
        "topic": "billing", "seeded": False,
        "turns": [{"turn_index": t, "mode": "fresh", "user_message": f"q{index}.{t}",
                   "assistant_message": f"a{index}.{t}", "question_chunk_ids": [],
                   "grounding": {"index_version": "v", "chunks": []},
                   "cited_chunk_ids": [], "tool_rounds": 1, "qa_judge": None}
                  for t in range(turns)],
        "conversation_judge": None,
        "models": {"qa_generator": "fake-model", "kb_responder": "fake-model", "qa_judge": None},
    }


@pytest.fixture
def server():
    with FakeLLMServer() as srv:
        yield srv


def project(make_config, server, extra=None, name="p"):
    base = {"llm": {"base_url": server.base_url, "cache": {"enabled": False}},
            "run": {"batch_size": 2}}
    cfg = make_config({**base, **(extra or {})}, name=name)
    return cfg


def judge_once(cfg):
    lines: list[str] = []
    try:
        return run_offline_judge(cfg, echo=lines.append), lines
    finally:
        close_judge_logs()


def test_partial_failure_then_rerun_judges_only_the_rest(server, make_config):
    cfg = project(make_config, server)
    store = OutputStore(cfg)
    store.commit_many([record(0, 2), record(1, 1), record(2, 2)])

    def fail_one(req):
        if req.conversation_id == "main-en-000001":
            return {"score": 4, "reasons": ["invented"], "notes": ""}
        return judge_reply(req)

    server.set_handler("qa_judge", fail_one)
    summary, lines = judge_once(cfg)
    assert (summary.judged, summary.skipped, summary.failed) == (2, 0, 1)
    assert summary.mean_score == 4.0
    assert lines[-1] == "judge: 2 judged, 0 already judged, 1 failed, mean score 4.00"
    records = {r["conversation_id"]: r for r in store.accepted_records()}
    assert [t["qa_judge"]["score"] for t in records["main-en-000000"]["turns"]] == [4, 4]
    assert records["main-en-000001"]["turns"][0]["qa_judge"] is None
    assert records["main-en-000000"]["models"]["qa_judge"] == "fake-model"
    judged_rows = [json.loads(x) for x in store.path("conversations_sharegpt_judged.jsonl")
                   .read_text().splitlines()]
    assert [r["metadata"]["conversation_id"] for r in judged_rows] == [
        "main-en-000000", "main-en-000002"]
    log = (cfg.logs_dir / "judge.log").read_text()
    assert "[judge-offline] main-en-000001 failed reason=" in log
    assert "[judge-offline] main-en-000002 turn=1 score=4" in log

    server.set_handler("qa_judge", judge_reply)
    server.reset()
    summary, _ = judge_once(cfg)
    assert (summary.judged, summary.skipped, summary.failed) == (1, 2, 0)
    assert [r.conversation_id for r in server.calls("qa_judge")] == ["main-en-000001"]
    on_disk = json.loads((cfg.output_dir / "conversations" / "main-en-000001.json").read_text())
    assert on_disk["turns"][0]["qa_judge"]["score"] == 4


def test_only_turns_lacking_a_current_judgement_are_judged(server, make_config):
    cfg = project(make_config, server)
    current = Judge(cfg, llm=None).settings_hash
    partial = record(0, 3)
    partial["turns"][0]["qa_judge"] = {"score": 2, "reasons": [], "notes": "kept",
                                       "model": "fake-model", "settings_hash": current}
    partial["turns"][1]["qa_judge"] = {"score": 5, "reasons": [], "notes": "stale",
                                       "model": "fake-model", "settings_hash": "old"}
    OutputStore(cfg).commit(partial)
    summary, _ = judge_once(cfg)
    assert summary.judged == 1
    prompts = [r.prompt_text for r in server.calls("qa_judge")]
    assert len(prompts) == 2
    assert not any("q0.0" in p for p in prompts)
    assert any("q0.1" in p for p in prompts) and any("q0.2" in p for p in prompts)
    (stored,) = OutputStore(cfg).accepted_records()
    assert [t["qa_judge"]["notes"] for t in stored["turns"]] == ["kept", "ok", "ok"]
    assert summary.mean_score == pytest.approx((2 + 4 + 4) / 3, abs=1e-3)


def test_changed_settings_rejudge_everything(server, make_config):
    cfg = project(make_config, server, name="a")
    OutputStore(cfg).commit_many([record(0, 1), record(1, 1)])
    assert judge_once(cfg)[0].judged == 2
    changed = make_config({"llm": {"base_url": server.base_url, "cache": {"enabled": False}},
                           "judge": {"reasons": ["unclear"]},
                           "saving": {"output_dir": str(cfg.output_dir)}}, name="b")
    server.reset()
    summary, _ = judge_once(changed)
    assert (summary.judged, summary.skipped) == (2, 0)
    for rec in OutputStore(changed).accepted_records():
        assert rec["turns"][0]["qa_judge"]["reasons"] == ["unclear"]
    assert len(server.calls("qa_judge")) == 2


def test_conversation_granularity_and_empty_output(server, make_config):
    cfg = project(make_config, server, {"judge": {"granularity": "conversation"}})
    summary, lines = judge_once(cfg)
    assert (summary.judged, summary.skipped, summary.failed, summary.mean_score) == (
        0, 0, 0, None)
    assert not (cfg.output_dir / "synthetic_qa.jsonl").exists()
    OutputStore(cfg).commit_many([record(0, 2), record(1, 1)])
    summary, _ = judge_once(cfg)
    assert summary.judged == 2 and len(server.calls("qa_judge")) == 2
    for rec in OutputStore(cfg).accepted_records():
        assert rec["conversation_judge"]["score"] == 4
        assert all(t["qa_judge"] is None for t in rec["turns"])


def test_conversation_committed_while_judging_is_kept(server, make_config):
    cfg = project(make_config, server)
    store = OutputStore(cfg)
    store.commit(record(0, 1))
    late = record(1, 1)

    def commit_meanwhile(req):
        if not list(store.accepted_records(language="en"))[1:]:
            OutputStore(cfg).commit(late)  # another writer, mid-judging
        return judge_reply(req)

    server.set_handler("qa_judge", commit_meanwhile)
    summary, _ = judge_once(cfg)
    assert summary.judged == 1
    records = {r["conversation_id"]: r for r in store.accepted_records()}
    assert set(records) == {"main-en-000000", "main-en-000001"}
    assert records["main-en-000000"]["turns"][0]["qa_judge"]["score"] == 4
    assert records["main-en-000001"]["turns"][0]["qa_judge"] is None
    assert (cfg.output_dir / "conversations" / "main-en-000001.json").exists()
    turns = store.path("turns.jsonl").read_text().splitlines()
    assert len(turns) == 2


@pytest.mark.parametrize("granularity", ["turn", "conversation"])
def test_offline_judge_is_shown_the_recorded_web_sources(server, make_config, granularity):
    cfg = project(make_config, server, {"judge": {"enabled": True, "granularity": granularity,
                                                  "reasons": ["grounded"]}})
    web = {"url": "https://help.example.test/refunds", "title": "Refund timing",
           "snippet": "Card refunds appear within ten banking days."}
    with_web, kb_only = record(0, 2), record(1, 1)
    with_web["turns"][1]["web_sources"] = [web]
    OutputStore(cfg).commit_many([with_web, kb_only])
    summary, _ = judge_once(cfg)
    assert summary.judged == 2
    prompts = {r.conversation_id: [] for r in server.calls("qa_judge")}
    for r in server.calls("qa_judge"):
        prompts[r.conversation_id].append(r.prompt_text)
    shown = f"[web:1] Refund timing <{web['url']}>: {web['snippet']}"
    assert sum(shown in p for p in prompts["main-en-000000"]) == 1
    assert not any("Web search results" in p for p in prompts["main-en-000001"])
