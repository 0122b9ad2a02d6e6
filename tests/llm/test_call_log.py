"""logs/llm.log: one line per call with the contract's fields; never prompts or keys."""

from __future__ import annotations

import re

import pytest

from dlgforge_core.llm.errors import LLMCallError
from tests.fake_llm import FakeLLMServer
from tests.llm.helpers import SECRET_KEY, QuestionReply, ask, run

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z agent=(\S+) model=(\S+) "
                  r"endpoint=(\S+) latency_ms=[\d.]+ prompt_tokens=(\d+) "
                  r"completion_tokens=(\d+) outcome=(\S+)$")
PROMPT_MARK = "PROMPT-CANARY-7431"


def _calls(client):
    async def go():
        messages = [{"role": "user", "content": f"{PROMPT_MARK} write a question"}]
        for slot in range(3):
            await client.structured("qa_generator", messages, QuestionReply,
                                    cache_key=f"s{slot}", conversation_id=f"c{slot}")
        await client.structured("qa_generator", messages, QuestionReply, cache_key="s0")
        await client.structured("kb_responder", ask(), QuestionReply, cache_key="r")
    return go()


def _lines(log_dir):
    return (log_dir / "llm.log").read_text(encoding="utf-8").splitlines()


def test_one_line_per_call_with_fields_and_no_secrets(make_cfg, log_dir):
    handlers = {"kb_responder": lambda r: {"question": "responder speaks JSON too"}}
    with FakeLLMServer(handlers=handlers) as srv:
        srv.force_faults("429", agent="qa_generator")
        run(_calls, make_cfg(srv.base_url), log_dir=log_dir)
        served = len(srv.requests)
    lines = _lines(log_dir)
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    outcomes = [m.group(6) for m in parsed]
    # every request the server saw has its line, plus one line for the cache hit
    assert len(lines) == served + 1 == 6
    assert outcomes == ["retry:429", "ok", "ok", "ok", "cached", "ok"]
    assert [m.group(1) for m in parsed] == ["qa_generator"] * 5 + ["kb_responder"]
    assert all(m.group(2) == "fake-model" and m.group(3) == srv.base_url for m in parsed)
    assert int(parsed[1].group(4)) > 0 and int(parsed[1].group(5)) > 0
    text = (log_dir / "llm.log").read_text(encoding="utf-8")
    assert PROMPT_MARK not in text and SECRET_KEY not in text
    assert "Question" not in text  # replies are not logged either


def test_repair_and_final_errors_are_logged(make_cfg, log_dir):
    with FakeLLMServer(script="broken_json") as srv:
        with pytest.raises(LLMCallError):
            run(lambda c: c.structured("qa_generator", ask(), QuestionReply),
                make_cfg(srv.base_url, cache={"enabled": False}), log_dir=log_dir)
    outcomes = [LINE.match(line).group(6) for line in _lines(log_dir)]
    assert outcomes == ["repair", "error:invalid_json"]


def test_credentials_in_the_base_url_are_not_logged(make_cfg, log_dir):
    with FakeLLMServer() as srv:
        url = srv.base_url.replace("http://", "http://user:pw-SECRET@")
        run(lambda c: c.structured("qa_generator", ask(), QuestionReply),
            make_cfg(url), log_dir=log_dir)
    text = (log_dir / "llm.log").read_text(encoding="utf-8")
    assert "SECRET" not in text and f"endpoint={srv.base_url} " in text
