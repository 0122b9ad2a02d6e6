"""Retries on 429 / 5xx / timeouts / empty replies, against the fake server over real HTTP."""

from __future__ import annotations

import pytest

from dlgforge_core.errors import LLMSetupError
from dlgforge_core.llm.errors import LLMCallError
from dlgforge_core.llm.retry import RetryPolicy, parse_retry_after
from tests.fake_llm import FakeHTTPError, FakeLLMServer
from tests.llm.helpers import SECRET_KEY, QuestionReply, RecordingRetry, ask, run


def _one_question(client):
    return client.structured("qa_generator", ask(), QuestionReply, cache_key="slot-0/0",
                             conversation_id="main-en-000000")


def test_429_is_retried_and_retry_after_is_honoured(make_cfg):
    retry = RecordingRetry()
    with FakeLLMServer(faults={"retry_after": 0.25}) as srv:
        srv.force_faults("429", "429")
        result = run(_one_question, make_cfg(srv.base_url), retry=retry)
        statuses = [r.status for r in srv.requests]
    assert statuses == [429, 429, 200]
    assert result.value.question.startswith("Question")
    # the server asked for 0.25 s twice: each wait was at least that long
    assert [(a, ra) for a, ra, _ in retry.waits] == [(0, 0.25), (1, 0.25)]
    assert all(wait >= 0.25 for _, _, wait in retry.waits)


def test_500_then_timeout_then_success(make_cfg):
    with FakeLLMServer(faults={"timeout_s": 30}) as srv:
        srv.force_faults("500", "timeout")
        result = run(_one_question, make_cfg(srv.base_url, timeout=0.3))
        statuses = [r.status for r in srv.requests]
        attempts = [r.attempt for r in srv.requests]
    assert result.value.question
    # the hung request is answered 504 only when the server shuts down, long after the
    # client gave up on it; the client's third attempt succeeded
    assert statuses[0] == 500 and statuses[2] == 200
    assert attempts == [0, 1, 2]


def test_connection_errors_are_retried_then_fail_as_llm_error(make_cfg):
    with FakeLLMServer() as srv:
        url = srv.base_url
    cfg = make_cfg(url, max_retries=2)  # the server is gone: connection refused
    retry = RecordingRetry()
    with pytest.raises(LLMCallError) as err:
        run(_one_question, cfg, retry=retry)
    assert err.value.reason == "llm_error"
    assert len(retry.waits) == 2


def test_retries_are_bounded_by_max_retries(make_cfg):
    with FakeLLMServer(faults={"500": 1.0}) as srv:
        with pytest.raises(LLMCallError) as err:
            run(_one_question, make_cfg(srv.base_url, max_retries=2))
        assert len(srv.requests) == 3
    assert err.value.reason == "llm_error"


def test_per_agent_max_retries_override(make_cfg):
    with FakeLLMServer(faults={"500": 1.0}) as srv:
        cfg = make_cfg(srv.base_url, max_retries=4, agents={"qa_generator": {"max_retries": 0}})
        with pytest.raises(LLMCallError):
            run(_one_question, cfg)
        assert len(srv.requests) == 1


def test_empty_reply_is_retried_then_empty_reply(make_cfg):
    with FakeLLMServer(script="empty") as srv:
        with pytest.raises(LLMCallError) as err:
            run(_one_question, make_cfg(srv.base_url, max_retries=1))
        assert len(srv.requests) == 2
    assert err.value.reason == "empty_reply"


def test_rejected_key_is_a_setup_error_without_retries(make_cfg):
    def forbidden(request):
        raise FakeHTTPError(401, "bad key")

    with FakeLLMServer(handlers={"qa_generator": forbidden}) as srv:
        with pytest.raises(LLMSetupError) as err:
            run(_one_question, make_cfg(srv.base_url))
        assert len(srv.requests) == 1
    assert str(err.value) == f"llm.api_key: {srv.base_url} rejected the API key (HTTP 401)"
    assert SECRET_KEY not in str(err.value)


def test_unknown_model_is_a_setup_error_naming_the_agent_key(make_cfg):
    def unknown(request):
        raise FakeHTTPError(404, "model not found")

    with FakeLLMServer(handlers={"qa_generator": unknown}) as srv:
        cfg = make_cfg(srv.base_url, agents={"qa_generator": {"model": "no-such-model"}})
        with pytest.raises(LLMSetupError, match=r"^llm.agents.qa_generator.model: .*"
                                                r"HTTP 404 for model 'no-such-model'"):
            run(_one_question, cfg)


def test_other_client_errors_fail_the_call_without_retries(make_cfg):
    def bad_request(request):
        raise FakeHTTPError(400, "context length exceeded")

    with FakeLLMServer(handlers={"qa_generator": bad_request}) as srv:
        with pytest.raises(LLMCallError) as err:
            run(_one_question, make_cfg(srv.base_url))
        assert len(srv.requests) == 1
    assert err.value.reason == "llm_error"


def test_missing_key_for_the_public_endpoint_is_a_setup_error(make_cfg):
    cfg = make_cfg(None, api_key=None)
    with pytest.raises(LLMSetupError, match=r"^llm.api_key: no API key for https://"):
        run(_one_question, cfg)


def test_backoff_is_capped_jittered_and_respects_retry_after_cap():
    policy = RetryPolicy(base=1.0, cap=4.0, retry_after_cap=10.0)
    waits = [policy.delay(attempt) for attempt in range(8) for _ in range(50)]
    assert all(0.0 <= w <= 4.0 for w in waits)
    assert len({round(w, 6) for w in waits}) > 100  # full jitter, not a fixed schedule
    assert policy.delay(0, retry_after=3600) == 10.0
    assert policy.delay(0, retry_after=2.5) >= 2.5
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None
