"""The responder's web search tool inside the engine: real KB, real client, fake LLM, stub search."""

from __future__ import annotations

import json

from tests.engine.helpers import records, run_languages
from tests.fake_llm.server import FakeLLMServer
from tests.support.project import merge
from tests.support.web_search_stub import DEFAULT_RESULTS, WebSearchStub

NO_CACHE = {"llm": {"cache": {"enabled": False}}}


def action_enums(srv: FakeLLMServer) -> list[list[str]]:
    """The ``action`` enum of every responder request's reply schema."""
    return [r.json_schema["properties"]["action"]["enum"] for r in srv.calls("kb_responder")]


def test_disabled_web_search_leaves_the_contract_unchanged(make_config, built_kb) -> None:
    with FakeLLMServer(script="web_search_then_answer") as srv:
        cfg = make_config(srv.base_url, merge(NO_CACHE, {"run": {"total_samples": 2, "n_turns": 1}}))
        [summary] = run_languages(cfg, built_kb, ["en"])
    assert summary.complete
    assert action_enums(srv) and all(enum == ["search", "answer"] for enum in action_enums(srv))
    assert not any("web_search" in r.prompt_text or "web" in str(r.json_schema) for r in srv.calls("kb_responder"))
    assert all("web_sources" not in t for rec in records(cfg) for t in rec["turns"])
    turn_rows = (cfg.output_dir / "turns.jsonl").read_text().splitlines()
    assert turn_rows and all("web_source_urls" not in json.loads(row) for row in turn_rows)


def test_web_results_reach_the_turn_and_the_judge_and_a_503_is_a_note(make_config, built_kb) -> None:
    with WebSearchStub() as stub, FakeLLMServer(script="web_search_then_answer") as srv:
        stub.fail_next(503)
        cfg = make_config(srv.base_url, merge(NO_CACHE, {
            # one conversation at a time, so conversation 0 makes the first search
            "run": {"total_samples": 3, "n_turns": 2, "batch_size": 1, "extra_conversations": 0},
            "retrieval": {"web_search": {"enabled": True, "provider": "searxng", "base_url": stub.base_url,
                                         "max_results": 2}},
            "judge": {"enabled": True, "granularity": "turn"}}))
        [summary] = run_languages(cfg, built_kb, ["en"])
    assert summary.complete and summary.accepted_total == 3
    turns = [t for rec in records(cfg) for t in rec["turns"]]
    expected = [{"url": r["url"], "title": r["title"], "snippet": r["content"]} for r in DEFAULT_RESULTS[:2]]
    # the first search got the 503 (batch_size 1: conversation 0, turn 0); every other turn found results
    assert turns[0]["web_sources"] == [] and all(t["web_sources"] == expected for t in turns[1:])
    assert all(t["grounding"]["chunks"] and t["assistant_message"] for t in turns)
    assert len(stub.requests) == len(turns) and all(r.method == "GET" for r in stub.requests)
    responder = srv.calls("kb_responder")
    assert ["search", "web_search", "answer"] in action_enums(srv) and ["answer"] not in action_enums(srv)
    assert any("web search failed: HTTP 503" in r.prompt_text for r in responder)
    assert any(f"<{expected[0]['url']}>: {expected[0]['snippet']}" in r.prompt_text for r in responder)
    judged = [r.prompt_text for r in srv.calls("qa_judge")]
    assert len(judged) == len(turns) and sum(expected[0]["snippet"] in p for p in judged) == len(turns) - 1
    log = (cfg.logs_dir / "run.log").read_text()
    assert log.count("web search failed") == 1
    assert "web search failed conversation=main-en-000000 provider=searxng reason=HTTP 503" in log
    assert f"web search: {len(turns)} searches, 1 failed" in log


def test_each_answer_candidate_keeps_its_own_web_sources(make_config, built_kb) -> None:
    with WebSearchStub() as stub, FakeLLMServer(script="web_search_then_answer") as srv:
        cfg = make_config(srv.base_url, merge(NO_CACHE, {
            "run": {"total_samples": 1, "n_turns": 1, "candidates_per_turn": 2},
            "retrieval": {"web_search": {"enabled": True, "provider": "searxng", "base_url": stub.base_url}},
            "judge": {"enabled": True, "granularity": "turn"}}))
        [summary] = run_languages(cfg, built_kb, ["en"])
    assert summary.complete
    [turn] = records(cfg)[0]["turns"]
    expected = [{"url": r["url"], "title": r["title"], "snippet": r["content"]} for r in DEFAULT_RESULTS[:3]]
    assert turn["web_sources"] == expected and len(stub.requests) == 2
    assert [c["web_sources"] for c in turn["candidates"]] == [expected, expected]


def test_a_rerun_replays_web_results_from_the_request_cache(make_config, built_kb, tmp_path) -> None:
    """Same inputs, fresh output folder, same cache folder: no web search and no LLM call,
    and the turns record the same web results."""
    sections = {
        "run": {"total_samples": 3, "n_turns": 2, "batch_size": 2},
        "llm": {"cache": {"enabled": True, "dir": str(tmp_path / "shared_cache")}},
        "retrieval": {"web_search": {"enabled": True, "provider": "searxng", "base_url": None,
                                     "max_results": 2}},
    }
    with WebSearchStub() as stub, FakeLLMServer(script="web_search_then_answer") as srv:
        sections["retrieval"]["web_search"]["base_url"] = stub.base_url
        first = make_config(srv.base_url, sections, name="first")
        run_languages(first, built_kb, ["en"])
        searched, asked = len(stub.requests), len(srv.requests)
        second = make_config(srv.base_url, sections, name="second")
        [summary] = run_languages(second, built_kb, ["en"])
        assert len(stub.requests) == searched and len(srv.requests) == asked
    assert summary.complete and searched > 0
    web = [[t["web_sources"] for t in r["turns"]] for r in records(first)]
    assert web == [[t["web_sources"] for t in r["turns"]] for r in records(second)]
    assert all(sources for turns in web for sources in turns)
    log = (second.logs_dir / "run.log").read_text()
    assert f"web search: 0 searches, 0 failed, {searched} replayed from the cache" in log


def test_failed_web_searches_are_not_cached(tmp_path) -> None:
    import asyncio

    from dlgforge_core.generation.web_search import SearxngProvider, WebSearchTool
    from dlgforge_core.llm.cache import ResponseCache

    async def main(base_url: str) -> list:
        cache = ResponseCache(tmp_path / "cache")
        tool = WebSearchTool(SearxngProvider(base_url), k=1, cache=cache)
        try:
            return [await tool.search("refund policy", "c0") for _ in range(3)] + [tool.searches, tool.replayed]
        finally:
            await tool.aclose()
            await cache.aclose()

    with WebSearchStub() as stub:
        stub.fail_next(503)
        failed, found, replayed, searches, from_cache = asyncio.run(main(stub.base_url))
        assert len(stub.requests) == 2
    assert failed.error == "web search failed: HTTP 503" and not failed.results
    assert found.error is None and [r.url for r in found.results] == [DEFAULT_RESULTS[0]["url"]]
    assert replayed == found and (searches, from_cache) == (2, 1)
