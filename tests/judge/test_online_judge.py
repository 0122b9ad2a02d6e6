"""The online judge against the loopback server, through the real LLM client."""

from __future__ import annotations

import asyncio

import pytest

from dlgforge_core.judge.judge import Judge
from dlgforge_core.judge.logs import close_judge_logs
from tests.fake_llm.handlers import judge_reply
from tests.fake_llm.server import FakeLLMServer

CHUNKS = [
    {"chunk_id": "billing.md#0", "text": "Invoices are sent on the first day of each month."},
    {"chunk_id": "billing.md#1", "text": "Refunds take five business days."},
]


@pytest.fixture
def server():
    with FakeLLMServer() as srv:
        yield srv


def run_judge(cfg, action):
    """Run ``action(judge)`` with a real client; return its result."""
    from dlgforge_core.llm.client import LLMClient

    async def main():
        llm = LLMClient(cfg, log_dir=cfg.logs_dir)
        try:
            return await action(Judge(cfg, llm))
        finally:
            await llm.aclose()

    try:
        return asyncio.run(main())
    finally:
        close_judge_logs()


def test_judge_turn_scores_and_logs(server, make_config):
    cfg = make_config({"llm": {"base_url": server.base_url, "cache": {"enabled": False}}})
    verdict = run_judge(cfg, lambda judge: judge.judge_turn(
        "main-en-000001", "en", "When are invoices sent?", "On the first day of the month.",
        CHUNKS, "main-en-000001/turn-1", turn_index=1))
    judge = Judge(cfg, llm=None)
    assert verdict == {"score": 4, "reasons": ["grounded"], "notes": "ok",
                       "model": "fake-model", "settings_hash": judge.settings_hash}

    (request,) = server.calls("qa_judge")
    assert request.conversation_id == "main-en-000001"
    schema = request.json_schema
    assert schema["properties"]["reasons"]["items"]["enum"] == [
        "grounded", "unsupported_claim", "unclear"]
    prompt = request.prompt_text
    assert "[chunk:billing.md#0] Invoices are sent on the first day of each month." in prompt
    assert "[chunk:billing.md#1] Refunds take five business days." in prompt
    assert prompt.count("[chunk:") == 2
    assert "When are invoices sent?" in prompt and "On the first day of the month." in prompt

    log = (cfg.logs_dir / "judge.log").read_text(encoding="utf-8")
    assert "[judge-online] main-en-000001 turn=1 score=4 reasons=grounded" in log
    assert "Invoices are sent" not in log  # ids and scores only, never prompts


def test_judge_conversation_shows_each_turns_grounding(server, make_config):
    cfg = make_config({"llm": {"base_url": server.base_url, "cache": {"enabled": False}},
                       "judge": {"granularity": "conversation", "score_max": 3}})
    record = {"conversation_id": "main-en-000002", "language": "en", "turns": [
        {"user_message": "q one", "assistant_message": "a one"},
        {"user_message": "q two", "assistant_message": "a two"}]}
    verdict = run_judge(cfg, lambda judge: judge.judge_conversation(
        record, [CHUNKS[:1], CHUNKS[1:]], "main-en-000002/conversation"))
    assert verdict["score"] == 3  # the fake clamps to the schema's maximum
    (request,) = server.calls("qa_judge")
    prompt = request.prompt_text
    assert prompt.index("[chunk:billing.md#0]") < prompt.index("q one") < prompt.index(
        "[chunk:billing.md#1]") < prompt.index("q two")
    log = (cfg.logs_dir / "judge.log").read_text(encoding="utf-8")
    assert "[judge-online-conversation] main-en-000002 score=3" in log


def test_invalid_reply_is_repaired_once(server, make_config):
    cfg = make_config({"llm": {"base_url": server.base_url, "cache": {"enabled": False}}})
    replies = iter([{"score": 9, "reasons": ["grounded"], "notes": "too high"}])
    server.set_handler("qa_judge", lambda req: next(replies, None) or judge_reply(req))
    verdict = run_judge(cfg, lambda judge: judge.judge_turn(
        "c1", "en", "q", "a", CHUNKS, "c1/turn-0", turn_index=0))
    assert verdict["score"] == 4
    assert len(server.calls("qa_judge")) == 2


def test_unrepairable_reply_raises_llm_call_error(server, make_config):
    from dlgforge_core.llm.errors import LLMCallError

    cfg = make_config({"llm": {"base_url": server.base_url, "cache": {"enabled": False}}})
    server.set_handler("qa_judge", lambda req: {"score": 3, "reasons": ["nope"], "notes": ""})
    with pytest.raises(LLMCallError):
        run_judge(cfg, lambda judge: judge.judge_turn(
            "c1", "en", "q", "a", CHUNKS, "c1/turn-0", turn_index=0))
