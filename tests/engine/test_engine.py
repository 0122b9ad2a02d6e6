"""The engine end to end in-process: real KB (MiniLM + LanceDB), real client, fake endpoint."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from dlgforge_core.errors import DlgforgeError
from dlgforge_core.generation.engine import generate_language
from tests.engine.helpers import questions, records, run_languages
from tests.fake_llm.server import FakeLLMServer

NO_CACHE = {"llm": {"cache": {"enabled": False}}}


def merge(*parts: dict) -> dict:
    from tests.engine.conftest import merge as deep

    out: dict = {}
    for part in parts:
        out = deep(out, part)
    return out


def test_generates_target_with_provenance_and_judge_then_rerun_is_noop(make_config, built_kb) -> None:
    with FakeLLMServer() as srv:
        cfg = make_config(srv.base_url, merge(NO_CACHE, {
            "run": {"total_samples": 5, "batch_size": 3, "min_turns": 2, "max_turns": 3},
            "judge": {"enabled": True, "granularity": "turn"}}))
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 5 and summary.accepted_new == 5 and summary.complete
        recs = records(cfg)
        assert sorted(r["conversation_index"] for r in recs) == list(range(5))
        version = built_kb.index_version
        for rec in recs:
            assert 2 <= rec["n_turns"] == len(rec["turns"]) <= 3
            assert rec["kb_index_version"] == version and rec["user_persona"]["id"]
            for turn in rec["turns"]:
                grounded = [c["chunk_id"] for c in turn["grounding"]["chunks"]]
                assert grounded and turn["grounding"]["index_version"] == version
                assert set(turn["cited_chunk_ids"]) <= set(grounded) and turn["cited_chunk_ids"]
                assert turn["qa_judge"]["score"] == 4 and turn["qa_judge"]["settings_hash"]
        assert len(questions(cfg)) == len(set(questions(cfg)))
        # the judge saw exactly the grounding chunks of the turn
        judge_prompts = [r.prompt_text for r in srv.requests if r.agent == "qa_judge"]
        shown = {tuple(sorted(re.findall(r"\[chunk:([^\]\s]+)\]", p))) for p in judge_prompts}
        grounded_sets = {tuple(sorted(c["chunk_id"] for c in t["grounding"]["chunks"])) for r in recs for t in r["turns"]}
        assert grounded_sets <= shown
        # no local path or file name reaches any model
        sent = "\n".join(r.prompt_text for r in srv.requests)
        assert str(cfg.knowledge_dir) not in sent and ".md" not in sent
        state = json.loads((cfg.output_dir / "run_state" / "main-en.json").read_text())
        assert state["status"] == "complete" and state["accepted"] == 5
        assert "progress 5/5" in (cfg.logs_dir / "run.log").read_text()

        before = len(srv.requests)
        [again] = run_languages(cfg, built_kb, ["en"])
        assert again.accepted_new == 0 and again.llm_calls == 0 and again.complete
        assert len(srv.requests) == before and len(records(cfg)) == 5


def _variant_generator(req):
    """Questions that depend only on the conversation index and the attempt, not the language."""
    found = re.search(r"Attempt (\d+)", req.prompt_text)
    attempt = int(found.group(1)) - 1 if found else 0
    return {"question": f"What does section {req.conversation_id[-6:]} say, variant {attempt}?"}


def test_dedup_across_languages_and_runs_of_one_folder(make_config, built_kb) -> None:
    with FakeLLMServer(handlers={"qa_generator": _variant_generator}) as srv:
        extra = merge(NO_CACHE, {"run": {"total_samples": 3, "n_turns": 2}, "coverage": {"question_dedup_retries": 6}})
        cfg = make_config(srv.base_url, extra)
        en, fr = run_languages(cfg, built_kb, ["en", "fr"])
        assert en.accepted_total == 3 and fr.accepted_total == 3
        qs = questions(cfg)
        assert len(qs) == 12 and len(set(qs)) == 12
        fr_calls = [r for r in srv.requests if r.agent == "qa_generator" and "-fr-" in (r.conversation_id or "")]
        assert len(fr_calls) > 6  # French slots collided with English questions and retried
        # a later run id in the same output folder also remembers every earlier question
        cfg2 = make_config(srv.base_url, merge(extra, {"run": {"run_id": "second"},
                                                       "saving": {"output_dir": str(cfg.output_dir)}}), name="q")
        [second] = run_languages(cfg2, built_kb, ["en"])
        assert second.accepted_total == 3
        qs = questions(cfg)
        assert len(qs) == 18 and len(set(qs)) == 18


def test_same_question_ends_in_dedup_exhausted_drops(make_config, built_kb) -> None:
    with FakeLLMServer(script="same_question") as srv:
        cfg = make_config(srv.base_url, merge(NO_CACHE, {"run": {"total_samples": 3, "n_turns": 1, "batch_size": 2,
                                                                  "max_attempts_factor": 1}}))
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 1 and not summary.complete
        assert summary.status == "attempts_exhausted"
        assert summary.dropped_by_reason == {"dedup_exhausted": 3 * 1 + 2 - 1}
        assert len(questions(cfg)) == 1
        state = json.loads((cfg.output_dir / "run_state" / "main-en.json").read_text())
        assert {d["reason"] for d in state["dropped"]} == {"dedup_exhausted"}
        assert not (cfg.output_dir / "conversations_sharegpt.jsonl").read_text().count("\n") > 1


def test_near_duplicates_are_dropped_with_their_own_reason(make_config, built_kb) -> None:
    def reworded(req):
        return {"question": f"How long do refunds take to reach my credit card, case {req.seq}?"}

    with FakeLLMServer(handlers={"qa_generator": reworded}) as srv:
        cfg = make_config(srv.base_url, merge(NO_CACHE, {
            "run": {"total_samples": 2, "n_turns": 1, "batch_size": 1, "max_attempts_factor": 1,
                    "extra_conversations": 0},  # one conversation at a time: a fixed question order
            "coverage": {"question_dedup_retries": 2, "near_dup": {"enabled": True, "threshold": 0.7}}}))
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 1
        assert summary.dropped_by_reason == {"near_duplicate": 2}


def test_budget_stops_starting_conversations(make_config, built_kb) -> None:
    with FakeLLMServer() as srv:
        cfg = make_config(srv.base_url, merge(NO_CACHE, {"run": {"total_samples": 50, "n_turns": 1, "batch_size": 2,
                                                                  "budget": {"max_tokens": 1}}}))
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.budget_exhausted and summary.status == "budget_exhausted"
        # only the conversations in progress when the cap hit: 2 slots and 2 extra conversations
        assert 1 <= summary.accepted_total <= 4
        state = json.loads((cfg.output_dir / "run_state" / "main-en.json").read_text())
        assert state["status"] == "budget_exhausted" and state["usage"]["qa_generator"]["prompt_tokens"] > 0


def test_resume_run_id_without_state_is_a_user_error(make_config, built_kb) -> None:
    cfg = make_config(extra={"run": {"resume_run_id": "nope"}})
    from dlgforge_core.llm.client import LLMClient

    async def main():
        client = LLMClient(cfg)
        try:
            await generate_language(cfg, "en", llm=client, kb=built_kb)
        finally:
            await client.aclose()

    with pytest.raises(DlgforgeError, match="run.resume_run_id.*nope"):
        asyncio.run(main())


def test_candidates_are_judged_and_the_best_is_kept(make_config, built_kb) -> None:
    def judge(req):
        seq = int(re.search(r"Answer (\d+):", req.prompt_text).group(1))
        return {"score": 5 if seq % 2 else 2, "reasons": [], "notes": "n"}

    with FakeLLMServer(handlers={"qa_judge": judge}) as srv:
        cfg = make_config(srv.base_url, merge(NO_CACHE, {
            "run": {"total_samples": 2, "n_turns": 1, "candidates_per_turn": 2},
            "judge": {"enabled": True, "granularity": "turn"}}))
        run_languages(cfg, built_kb, ["en"])
        for rec in records(cfg):
            turn = rec["turns"][0]
            assert len(turn["candidates"]) == 2
            scores = sorted(c["qa_judge"]["score"] for c in turn["candidates"])
            assert turn["qa_judge"]["score"] == scores[-1]
            best = max(turn["candidates"], key=lambda c: c["qa_judge"]["score"])
            assert turn["assistant_message"] == best["answer"]


def test_conversation_granularity_judge(make_config, built_kb) -> None:
    with FakeLLMServer() as srv:
        cfg = make_config(srv.base_url, merge(NO_CACHE, {"run": {"total_samples": 2, "n_turns": 2},
                                                          "judge": {"enabled": True, "granularity": "conversation"}}))
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.mean_judge_score == 4
        for rec in records(cfg):
            assert rec["conversation_judge"]["score"] == 4
            assert all(t["qa_judge"] is None for t in rec["turns"])
        log = (cfg.logs_dir / "judge.log").read_text()
        assert log.count("[judge-online-conversation]") == 2


def test_plans_repeat_across_runs_whatever_the_completion_order(make_config, built_kb) -> None:
    def plan_view(cfg):
        return {r["conversation_id"]: (r["n_turns"], r["user_persona"]["id"], r["assistant_persona"]["id"],
                                       r["turns"][0]["question_chunk_ids"], [t["mode"] for t in r["turns"]])
                for r in records(cfg)}

    extra = merge(NO_CACHE, {"run": {"total_samples": 6, "batch_size": 6, "min_turns": 1, "max_turns": 3}})
    with FakeLLMServer(latency=0.02, jitter=0.02, seed=1) as srv:
        a = make_config(srv.base_url, extra, name="a")
        run_languages(a, built_kb, ["en"])
    with FakeLLMServer(latency=0.02, jitter=0.02, seed=2) as srv:
        b = make_config(srv.base_url, extra, name="b")
        run_languages(b, built_kb, ["en"])
    assert plan_view(a) == plan_view(b) and len(plan_view(a)) == 6


def test_question_committed_by_another_process_meanwhile_is_not_duplicated(make_config, built_kb) -> None:
    """Another worker commits the same question while ours is in flight: ours is not committed."""
    from dlgforge_core.store.outputs import OutputStore
    from tests.engine.records import make_record

    holder: dict = {}

    def generator(req):
        question = f"Which question does {req.conversation_id} ask?"
        if req.conversation_id.endswith("000000") and "done" not in holder:
            holder["done"] = True  # the other worker commits this very question first
            OutputStore(holder["cfg"]).commit(make_record(0, "en", run_id="other", questions=[question]))
        return {"question": question}

    with FakeLLMServer(handlers={"qa_generator": generator}) as srv:
        cfg = make_config(srv.base_url, merge(NO_CACHE, {"run": {"total_samples": 3, "n_turns": 1, "batch_size": 1,
                                                                       "extra_conversations": 0}}))
        holder["cfg"] = cfg  # conversation 0 alone in flight while the other process commits
        [summary] = run_languages(cfg, built_kb, ["en"])
    assert summary.accepted_total == 3 and summary.dropped_by_reason == {"duplicate_elsewhere": 1}
    assert len(records(cfg)) == 4 and len(set(questions(cfg))) == 4


@pytest.mark.timeout(180)
def test_a_failing_commit_stops_the_run_with_its_error(make_config, built_kb) -> None:
    """Slots do not wait for their commits; when the writer fails, every slot stops and the
    run ends with that error (no hang), keeping what was committed before.

    Two conversations at a time (no extra ones): before the break at most one commit group
    (2) lands, and one group already being written may still land while the folder is
    replaced, so at most 4 records, far short of the 40 asked for."""
    import shutil

    holder: dict = {}

    def generator(req):
        index = int(req.conversation_id[-6:])
        if index >= 4 and "broken" not in holder and records(holder["cfg"]):
            holder["broken"] = True  # once something is committed, the conversations folder
            folder = holder["cfg"].output_dir / "conversations"  # turns into a plain file
            while not folder.is_file():  # (the writer may recreate the folder in between)
                shutil.rmtree(folder, ignore_errors=True)
                try:
                    folder.write_text("not a folder", encoding="utf-8")
                except IsADirectoryError:
                    continue
        return {"question": f"Which rule does conversation {index} explain?"}

    with FakeLLMServer(handlers={"qa_generator": generator}) as srv:
        cfg = make_config(srv.base_url, merge(NO_CACHE, {"run": {"total_samples": 40, "n_turns": 1, "batch_size": 2, "extra_conversations": 0}}))
        holder["cfg"] = cfg
        with pytest.raises(OSError):
            run_languages(cfg, built_kb, ["en"])
        asked = len([r for r in srv.requests if r.agent == "qa_generator"])
    committed = records(cfg)
    assert 1 <= len(committed) <= 4 and asked < 40
    assert len({r["conversation_id"] for r in committed}) == len(committed)
