"""The model's own reasoning text: captured from ``reasoning_content`` (vLLM, DeepSeek) or
``reasoning`` (gpt-oss, OpenRouter) on the reply message, kept in the request cache and
replayed with the reply; absent, it is None."""

from __future__ import annotations

import sqlite3

from dlgforge_core.llm.cache import CACHE_FILE
from tests.fake_llm import FakeLLMServer
from tests.fake_llm.handlers import generator_reply
from tests.fake_llm.reply import with_reasoning
from tests.llm.helpers import QuestionReply, ask, run


def _ask_twice(client):
    async def go():
        first = await client.structured("qa_generator", ask(0), QuestionReply, cache_key="s/0/0")
        other = await client.structured("qa_generator", ask(1), QuestionReply, cache_key="s/1/0")
        return first, other
    return go()


def test_reasoning_content_is_captured_and_replayed_from_the_cache(make_cfg, tmp_path):
    with FakeLLMServer(handlers={"qa_generator": with_reasoning(generator_reply)}) as srv:
        cfg = make_cfg(srv.base_url)
        first, other = run(_ask_twice, cfg)
        assert (first.reasoning, other.reasoning) == ("Reasoning of qa_generator #0.",
                                                      "Reasoning of qa_generator #1.")
        replayed, _ = run(_ask_twice, cfg)  # a fresh client on the same cache
        assert len(srv.requests) == 2
    assert replayed.cached and replayed.reasoning == first.reasoning
    assert replayed.value == first.value
    with sqlite3.connect(tmp_path / ".dlgforge_cache" / CACHE_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM reasoning").fetchone() == (2,)


def test_reasoning_field_of_gpt_oss_and_openrouter(make_cfg):
    with FakeLLMServer(handlers={"qa_generator": with_reasoning(generator_reply, key="reasoning")}) as srv:
        first, _ = run(_ask_twice, make_cfg(srv.base_url, cache={"enabled": False}))
    assert first.reasoning == "Reasoning of qa_generator #0."


def test_no_reasoning_is_none_and_an_older_cache_still_replays(make_cfg, tmp_path):
    with FakeLLMServer() as srv:
        cfg = make_cfg(srv.base_url)
        first, _ = run(_ask_twice, cfg)
        assert first.reasoning is None
        with sqlite3.connect(tmp_path / ".dlgforge_cache" / CACHE_FILE) as db:
            db.execute("DROP TABLE reasoning")  # a cache written before reasoning was kept
        replayed, _ = run(_ask_twice, cfg)
        assert len(srv.requests) == 2
    assert replayed.cached and replayed.value == first.value and replayed.reasoning is None
