"""response_format fallback, parsing, validation and the single repair attempt."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel

from dlgforge_core.llm.errors import LLMCallError
from dlgforge_core.llm.structured import parse_json_text, schema_spec
from tests.fake_llm import FakeLLMServer
from tests.llm.helpers import QuestionReply, ask, run


class Reply(BaseModel):
    action: Literal["search", "answer"]
    query: str | None = None
    cited_chunk_ids: list[str] = []


def _two_questions(client):
    async def go():
        first = await client.structured("qa_generator", ask(1), QuestionReply, cache_key="a")
        second = await client.structured("qa_generator", ask(2), QuestionReply, cache_key="b")
        return first, second
    return go()


def _formats(srv):
    return [((r.response_format or {}).get("type"), r.status) for r in srv.requests]


def test_json_schema_request_carries_the_models_strict_schema(make_cfg, server):
    run(_two_questions, make_cfg(server.base_url))
    fmt = server.requests[0].response_format
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "QuestionReply"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["question"]
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False


def test_rejected_json_schema_falls_back_to_json_object_and_is_remembered(make_cfg):
    with FakeLLMServer(reject_formats=("json_schema",)) as srv:
        first, second = run(_two_questions, make_cfg(srv.base_url))
        formats = _formats(srv)
        schema_hint = srv.requests[1].messages[0]["content"]
    assert first.value.question and second.value.question
    # one rejection, then json_object for the retry AND for the second call
    assert formats == [("json_schema", 400), ("json_object", 200), ("json_object", 200)]
    assert '"question"' in schema_hint and "JSON schema" in schema_hint


def test_rejected_json_object_falls_back_to_plain_text(make_cfg):
    with FakeLLMServer(reject_formats=("json_schema", "json_object")) as srv:
        first, second = run(_two_questions, make_cfg(srv.base_url))
        formats = _formats(srv)
    assert first.value.question and second.value.question
    assert formats == [("json_schema", 400), ("json_object", 400), (None, 200), (None, 200)]


def test_broken_json_is_repaired_with_one_extra_call(make_cfg):
    with FakeLLMServer() as srv:
        srv.force_faults("broken_json")
        result = run(lambda c: c.structured("qa_generator", ask(), QuestionReply,
                                            cache_key="x"), make_cfg(srv.base_url))
        repair = srv.requests[1]
    assert result.value.question.startswith("Question 1")
    assert len(srv.requests) == 2
    # the repair request shows the model its bad reply and what was wrong with it
    assert repair.messages[-2]["role"] == "assistant"
    assert repair.messages[-2]["content"].startswith('{"question": "Question 0')
    assert "not valid" in repair.messages[-1]["content"]
    # tokens of both calls are counted
    assert result.usage.completion_tokens > 0


def test_invalid_twice_raises_invalid_json(make_cfg):
    with FakeLLMServer(script="broken_json") as srv:
        with pytest.raises(LLMCallError) as err:
            run(lambda c: c.structured("qa_generator", ask(), QuestionReply),
                make_cfg(srv.base_url))
        assert len(srv.requests) == 2
    assert err.value.reason == "invalid_json"


def test_validate_callback_failure_triggers_repair(make_cfg):
    def validate(reply: QuestionReply) -> None:
        if "Question 0" in reply.question:
            raise ValueError("question must not be the first one")

    with FakeLLMServer() as srv:
        result = run(lambda c: c.structured("qa_generator", ask(), QuestionReply,
                                            validate=validate), make_cfg(srv.base_url))
        repair_prompt = srv.requests[1].messages[-1]["content"]
    assert result.value.question.startswith("Question 1")
    assert "question must not be the first one" in repair_prompt


def test_schema_mismatch_is_repaired(make_cfg):
    replies = iter([{"answer": "wrong shape"}, {"question": "fixed?"}])
    with FakeLLMServer(handlers={"qa_generator": lambda r: next(replies)}) as srv:
        result = run(lambda c: c.structured("qa_generator", ask(), QuestionReply),
                     make_cfg(srv.base_url))
    assert result.value.question == "fixed?"


def test_parse_json_text_handles_fences_and_prose():
    assert parse_json_text('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_text('Sure, here it is: {"a": {"b": [1, 2]}} Hope it helps') == \
        {"a": {"b": [1, 2]}}
    assert parse_json_text('{broken {"ok": true}') == {"ok": True}
    with pytest.raises(ValueError):
        parse_json_text("no json at all")


def test_schema_spec_is_built_once_per_model_and_strict_compatible():
    spec = schema_spec(Reply)
    assert schema_spec(Reply) is spec
    schema = spec.json_schema_format["json_schema"]["schema"]
    assert schema["required"] == ["action", "query", "cited_chunk_ids"]
    assert "default" not in json.dumps(schema)
