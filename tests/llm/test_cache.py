"""The content-addressed request cache: replay at zero cost, keyed by slot and attempt."""

from __future__ import annotations

import sqlite3

from dlgforge_core.llm.cache import CACHE_FILE
from tests.fake_llm import FakeLLMServer
from tests.llm.helpers import QuestionReply, ask, run


def _three_slots(client):
    async def go():
        results = []
        for slot in range(3):
            results.append(await client.structured(
                "qa_generator", ask(slot), QuestionReply, cache_key=f"main-en-{slot:06d}/0/0",
                conversation_id=f"main-en-{slot:06d}"))
        return [(r.value.question, r.cached, r.usage.total_tokens) for r in results], \
            client.usage.by_agent(), client.calls_made
    return go()


def test_second_run_replays_from_cache_with_zero_server_calls(make_cfg, tmp_path):
    with FakeLLMServer() as srv:
        cfg = make_cfg(srv.base_url)
        first, _, first_calls = run(_three_slots, cfg)
        served = len(srv.requests)
        second, usage, second_calls = run(_three_slots, cfg)  # a fresh client, same cache dir
        assert len(srv.requests) == served == 3
    assert first_calls == 3 and second_calls == 0
    assert [q for q, _, _ in second] == [q for q, _, _ in first]
    assert all(cached and tokens == 0 for _, cached, tokens in second)
    assert usage["qa_generator"] == {"prompt_tokens": 0, "completion_tokens": 0,
                                     "calls": 0, "cached_calls": 3}
    assert (tmp_path / ".dlgforge_cache" / CACHE_FILE).is_file()


def test_cache_key_separates_attempts_and_parameters(make_cfg):
    def attempts(client):
        async def go():
            a = await client.structured("qa_generator", ask(), QuestionReply, cache_key="s/0/0")
            b = await client.structured("qa_generator", ask(), QuestionReply, cache_key="s/0/1")
            c = await client.structured("qa_generator", ask(), QuestionReply, cache_key="s/0/0")
            return a, b, c
        return go()

    with FakeLLMServer() as srv:
        a, b, c = run(attempts, make_cfg(srv.base_url))
        assert len(srv.requests) == 2  # attempt 1 is a new request; attempt 0 again is a hit
        assert a.value.question != b.value.question
        assert c.cached and c.value == a.value
        run(attempts, make_cfg(srv.base_url, temperature=0.2))  # other params: other keys
        assert len(srv.requests) == 4


def test_disabled_cache_always_calls_the_server(make_cfg, tmp_path):
    with FakeLLMServer() as srv:
        cfg = make_cfg(srv.base_url, cache={"enabled": False})
        run(_three_slots, cfg)
        run(_three_slots, cfg)
        assert len(srv.requests) == 6
    assert not (tmp_path / ".dlgforge_cache").exists()


def test_cache_is_sqlite_in_wal_mode_outside_the_output_folder(make_cfg, tmp_path):
    with FakeLLMServer() as srv:
        cfg = make_cfg(srv.base_url, cache={"dir": str(tmp_path / "elsewhere")})
        run(_three_slots, cfg)
    path = tmp_path / "elsewhere" / CACHE_FILE
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM replies").fetchone()[0] == 3


def test_an_unusable_cache_does_not_fail_calls(make_cfg, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    with FakeLLMServer() as srv:
        cfg = make_cfg(srv.base_url, cache={"dir": str(blocker / "cache")})
        first, _, _ = run(_three_slots, cfg)
        second, _, _ = run(_three_slots, cfg)
        assert len(srv.requests) == 6  # no replay, but every call answered
    assert all(not cached for _, cached, _ in first + second)


def test_finish_reason_is_exposed_and_cut_off_replies_are_not_cached(make_cfg):
    from tests.fake_llm.handlers import FakeReply

    def cut_unless_large(req):
        reply = {"question": f"How long do refunds take, case {req.seq}?"}
        return reply if req.body.get("max_tokens", 0) > 1500 else FakeReply(reply, finish_reason="length")

    def twice(client):
        async def go():
            first = await client.structured("qa_generator", ask(), QuestionReply, cache_key="s/0/0")
            larger = await client.structured("qa_generator", ask(), QuestionReply, cache_key="s/0/0", max_tokens=2048)
            again = await client.structured("qa_generator", ask(), QuestionReply, cache_key="s/0/0")
            replay = await client.structured("qa_generator", ask(), QuestionReply, cache_key="s/0/0", max_tokens=2048)
            return first, larger, again, replay
        return go()

    with FakeLLMServer(handlers={"qa_generator": cut_unless_large}) as srv:
        first, larger, again, replay = run(twice, make_cfg(srv.base_url))
        assert [r.body.get("max_tokens") for r in srv.requests] == [1024, 2048, 1024]
    assert first.finish_reason == "length" and not first.cached
    assert larger.finish_reason == "stop"
    assert again.finish_reason == "length" and not again.cached  # the cut-off reply was not cached
    assert replay.cached and replay.value == larger.value  # the complete one was
