"""`dlgforge run` with the responder's web search tool on (Tavily shape, loopback stub).

The real CLI in a subprocess, the fake LLM scripted to search the web once per answer, and
a stub search server that records the Bearer key it received. The key comes from `.env`
next to the config and must appear in no file the run writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.generate_project import assert_consistent_outputs, dlgforge, jsonl, write_config
from tests.fake_llm.server import FakeLLMServer
from tests.support.project import write_kb
from tests.support.web_search_stub import DEFAULT_RESULTS, WebSearchStub

pytestmark = pytest.mark.slow

KEY = "tvly-e2e-secret-7f3a9c"


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_web_search_run_records_sources_shows_judge_and_keeps_the_key_secret(tmp_path: Path) -> None:
    shared = {"knowledge_dir": write_kb(tmp_path / "knowledge"), "index_dir": tmp_path / "knowledge_index"}
    project = tmp_path / "project"
    with WebSearchStub() as stub, FakeLLMServer(script="web_search_then_answer") as srv:
        config = write_config(project, srv.base_url, shared, {
            "run": {"total_samples": 3, "batch_size": 2, "min_turns": 1, "max_turns": 2},
            "retrieval": {"web_search": {"enabled": True, "provider": "tavily", "base_url": stub.base_url,
                                         "max_results": 2}},
            "judge": {"enabled": True, "mode": "online", "granularity": "turn"}})
        (project / ".env").write_text(f"TAVILY_API_KEY={KEY}\n")
        done = dlgforge("run", str(config), cwd=project)
        judge_prompts = [r.prompt_text for r in srv.calls("qa_judge") if r.conversation_id != "self-check"]
    assert done.returncode == 0, done.stderr[-3000:]
    output = project / "output"
    records = assert_consistent_outputs(output, 3)
    stub_urls = {r["url"] for r in DEFAULT_RESULTS}
    turns = [t for r in records for t in r["turns"]]
    assert all(t["web_sources"] and {s["url"] for s in t["web_sources"]} <= stub_urls for t in turns)
    assert all(set(s) == {"url", "title", "snippet"} for t in turns for s in t["web_sources"])
    assert all(t["grounding"]["chunks"] and t["qa_judge"]["score"] == 4 for t in turns)
    # the stub got the Tavily shape with the key as a Bearer token, once per answer
    assert len(stub.requests) == len(turns)
    for request in stub.requests:
        assert (request.method, request.path) == ("POST", "/search")
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.body["max_results"] == 2 and request.body["query"]
    # the judge was shown the web results next to the KB chunks
    assert len(judge_prompts) == len(turns)
    assert all(DEFAULT_RESULTS[0]["content"] in p and "[chunk:" in p for p in judge_prompts)
    # their URLs are in turns.jsonl and the ShareGPT metadata
    rows = {(r["conversation_id"], r["turn_index"]): r for r in jsonl(output / "turns.jsonl")}
    for record in records:
        for turn in record["turns"]:
            urls = [s["url"] for s in turn["web_sources"]]
            assert rows[(record["conversation_id"], turn["turn_index"])]["web_source_urls"] == urls
    sharegpt = {r["metadata"]["conversation_id"]: r["metadata"] for r in jsonl(output / "conversations_sharegpt.jsonl")}
    for record in records:
        urls = [s["url"] for t in record["turns"] for s in t["web_sources"]]
        assert sharegpt[record["conversation_id"]]["web_source_urls"] == list(dict.fromkeys(urls))
    # each web search is a `web_search` tool call of the training column, with what it returned
    for row in jsonl(output / "conversations_sharegpt.jsonl"):
        web = [m for m in row["messages_with_tools"] if m["role"] == "tool" and m["name"] == "web_search"]
        assert len(web) == row["metadata"]["n_turns"]
        for message in web:
            body = json.loads(message["content"])
            assert body["results"] and {r["url"] for r in body["results"]} <= stub_urls
            assert all(r["id"].startswith("web:") and r["text"] for r in body["results"])
    # the web sources are in each conversation's JSON file too
    for record in records:
        text = (output / "conversations" / f"{record['conversation_id']}.json").read_text()
        assert DEFAULT_RESULTS[0]["url"] in text
    assert "web search: " in (output.parent / "logs" / "run.log").read_text()
    # the key is nowhere in what the run wrote (outputs, logs, run state, exports, the
    # Dagster instance, the index: any file but the .env it came from) or printed
    written = [p for p in files_under(tmp_path) if p.name != ".env"]
    assert any(p.parent == output.parent / "logs" for p in written)
    leaked = [str(p) for p in written if KEY.encode() in p.read_bytes()]
    assert leaked == []
    assert KEY not in done.stdout and KEY not in done.stderr
