"""The loopback fake server itself: default handlers, faults, and the process mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, Field

from dlgforge_core.llm.structured import schema_spec
from tests.fake_llm import FakeLLMServer

ROOT = Path(__file__).resolve().parents[2]
HTTP = httpx.Client(timeout=10)  # one client: creating one per request costs a TLS setup


class JudgeLike(BaseModel):
    score: int = Field(ge=1, le=3)
    reasons: list[Literal["grounded", "off_topic"]]
    notes: str


def _chat(srv, agent, content, response_format=None, model="fake-model", conversation=None):
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    if response_format:
        body["response_format"] = response_format
    headers = {"X-Dlgforge-Agent": agent} if agent else {}
    if conversation:
        headers["X-Dlgforge-Conversation"] = conversation
    return HTTP.post(f"{srv.base_url}/chat/completions", json=body, headers=headers)


def _content(response):
    return json.loads(response.json()["choices"][0]["message"]["content"])


def test_default_handlers_follow_the_prompt_conventions(server):
    q1 = _content(_chat(server, "qa_generator", "Ask something. language: de"))
    q2 = _content(_chat(server, "qa_generator", "Ask something. language: de"))
    assert q1["question"] != q2["question"] and "(de)" in q1["question"]
    answer = _content(_chat(server, "kb_responder",
                            "[chunk:guide.md#0003] text [chunk:faq.md#0001] more"))
    assert answer["action"] == "answer"
    assert answer["cited_chunk_ids"] == ["guide.md#0003", "faq.md#0001"]
    judged = _content(_chat(server, "qa_judge", "judge this",
                            schema_spec(JudgeLike).json_schema_format))
    assert judged == {"score": 3, "reasons": ["grounded"], "notes": "ok"}
    plain = _content(_chat(server, "qa_judge", "judge this"))  # no response_format: still JSON
    assert plain["reasons"] == [] and plain["score"] == 4


def test_agent_falls_back_to_model_name_then_schema(server):
    _chat(server, None, "hi", model="qa_judge")
    _chat(server, None, "hi", response_format=schema_spec(JudgeLike).json_schema_format)
    assert [r.agent for r in server.requests] == ["qa_judge", "qa_judge"]


def test_usage_and_recording(server):
    response = _chat(server, "qa_generator", "one two three four", conversation="c-1")
    usage = response.json()["usage"]
    assert usage["prompt_tokens"] == 4 and usage["completion_tokens"] > 0
    _chat(server, "qa_generator", "again", conversation="c-1")
    assert [(r.conversation_id, r.attempt, r.status) for r in server.requests] == [
        ("c-1", 0, 200), ("c-1", 1, 200)]


def test_seeded_fault_rates_are_reproducible():
    def statuses():
        with FakeLLMServer(faults={"429": 0.3, "500": 0.2, "seed": 5}) as srv:
            return [_chat(srv, "qa_generator", "x").status_code for _ in range(40)]
    first = statuses()
    assert first == statuses()
    assert {429, 500, 200} <= set(first)
    assert first.count(200) < 40


def test_rejects_response_format_and_requires_the_key():
    with FakeLLMServer(reject_formats=("json_schema",), api_key="k") as srv:
        no_key = HTTP.get(f"{srv.base_url}/models")
        models = HTTP.get(f"{srv.base_url}/models", headers={"Authorization": "Bearer k"})
        assert no_key.status_code == 401 and models.json()["data"][0]["id"] == "fake-model"
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}],
                "response_format": schema_spec(JudgeLike).json_schema_format}
        rejected = HTTP.post(f"{srv.base_url}/chat/completions", json=body,
                             headers={"Authorization": "Bearer k"})
    assert rejected.status_code == 400
    assert rejected.json()["error"]["param"] == "response_format"


def test_process_mode_announces_itself_and_logs_requests(tmp_path):
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_llm", "--port", "0", "--latency-ms", "1",
         "--script", "same_question", "--request-log", str(log)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        ready = proc.stdout.readline().split()
        assert ready[0] == "READY" and ready[1].startswith("http://127.0.0.1:")
        base_url = ready[1]
        for _ in range(2):
            response = HTTP.post(f"{base_url}/chat/completions",
                                  headers={"X-Dlgforge-Agent": "qa_generator",
                                           "X-Dlgforge-Conversation": "main-en-000001"},
                                  json={"model": "m", "messages": [
                                      {"role": "user", "content": "ask"}]})
            assert _content(response)["question"].startswith("What is the one question")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["agent"], x["conversation_id"], x["model"], x["status"]) for x in lines] == [
        ("qa_generator", "main-en-000001", "m", 200)] * 2


def test_named_servers_never_repeat_each_others_questions():
    with FakeLLMServer(name="a") as a, FakeLLMServer(name="b") as b:
        questions = [_content(_chat(srv, "qa_generator", "ask"))["question"]
                     for srv in (a, b, a, b)]
    assert len(set(questions)) == 4
