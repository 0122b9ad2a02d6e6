"""The local backend on the REAL model: grammar-constrained replies, one shared engine, FIFO
queue off the event loop, determinism, degenerate replies retried then dropped."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from dlgforge_core.config import load_config
from dlgforge_core.config.sections import DEFAULT_JUDGE_REASONS
from dlgforge_core.generation.prompts import generator_messages, responder_messages
from dlgforge_core.generation.replies import FinalAnswerReply, QuestionReply, ResponderReply
from dlgforge_core.judge.prompts import turn_messages
from dlgforge_core.judge.replies import judge_reply_model, make_validator
from dlgforge_core.llm.backends import ChatRequest, FatalBackendError, make_backend
from dlgforge_core.llm.client import LLMClient
from dlgforge_core.llm.errors import LLMCallError
from dlgforge_core.llm.local import LocalBackend, get_local_backend
from dlgforge_core.llm.structured import schema_spec, validate_reply
from tests.local.conftest import write_local_project

SNIPPET = {"chunk_id": "plans-0001", "text": (
    "A day pass costs 8.00 EUR and gives unlimited 45-minute rides for 24 hours. Each extra "
    "15 minutes costs 1.00 EUR. Electric bikes add 0.10 EUR per minute on every plan.")}
PERSONA = {"name": "Daily commuter", "description": "Rides to work every weekday."}
QUESTION = "How much does a day pass cost?"
ANSWER = "A day pass costs 8.00 EUR and includes unlimited 45-minute rides for 24 hours."


def agent_case(agent: str):
    """(messages, reply model, extra validator) as the pipeline builds them for ``agent`` on the
    packaged base model (completion-style prompts for the generator and the responder)."""
    if agent == "qa_generator":
        messages = generator_messages(language="en", persona=PERSONA, mode="fresh",
                                      snippets=[SNIPPET], previous_turns=[], style="completion")
        return messages, QuestionReply, None
    if agent == "kb_responder":
        messages = responder_messages(language="en", persona=PERSONA, previous_turns=[],
                                      question=QUESTION, snippets=[SNIPPET], searches=[],
                                      searches_left=1, style="completion")
        return messages, ResponderReply, None
    if agent == "kb_responder_last_round":
        messages = responder_messages(language="en", persona=PERSONA, previous_turns=[],
                                      question=QUESTION, snippets=[SNIPPET], searches=[],
                                      searches_left=0, style="completion")
        return messages, FinalAnswerReply, None
    messages = turn_messages(language="en", question=QUESTION, answer=ANSWER, chunks=[SNIPPET],
                             score_min=1, score_max=5, reasons=DEFAULT_JUDGE_REASONS)
    return messages, judge_reply_model(1, 5, DEFAULT_JUDGE_REASONS), make_validator(1, 5, DEFAULT_JUDGE_REASONS)


def request_for(messages, model, max_tokens=96, seed=11, temperature=0.0) -> ChatRequest:
    return ChatRequest(model="gemma-3-270m", messages=messages, temperature=temperature,
                       max_tokens=max_tokens, top_p=1.0, timeout=300, response_format=None,
                       json_schema=schema_spec(model).schema, seed=seed)


@pytest.fixture(scope="module")
def project(tmp_path_factory, default_model):
    return write_local_project(tmp_path_factory.mktemp("local-backend"), max_retries=1,
                               local_max_tokens=256, cache=False)


@pytest.fixture(scope="module")
def backend(project) -> LocalBackend:
    return get_local_backend(load_config(project))


@pytest.mark.parametrize("agent", ["qa_generator", "kb_responder", "kb_responder_last_round", "qa_judge"])
def test_grammar_constrained_reply_parses_into_the_agent_model(backend, agent):
    messages, model, validate = agent_case(agent)
    response = asyncio.run(backend.complete(request_for(messages, model)))
    value = validate_reply(response.text, model, validate)
    assert isinstance(value, model)
    assert response.prompt_tokens > 50 and 0 < response.completion_tokens <= 96
    assert response.endpoint == "local:gemma-3-270m-q4_k_m.gguf"
    if agent == "kb_responder_last_round":
        assert value.action == "answer" and value.answer.strip()
    if agent == "qa_judge":
        assert 1 <= value.score <= 5 and set(value.reasons) <= set(DEFAULT_JUDGE_REASONS)


def test_one_engine_is_shared_by_the_three_agents(project, backend):
    cfg = load_config(project)
    built = [make_backend(cfg.agent_settings(agent), cfg) for agent in ("qa_generator", "kb_responder", "qa_judge")]
    assert all(isinstance(b, LocalBackend) and b.native_structured for b in built)
    assert {id(b.engine) for b in built} == {id(backend.engine)}
    assert {id(b.engine.llama) for b in built} == {id(backend.engine.llama)}


def test_temperature_zero_with_a_seed_is_deterministic(backend):
    messages, model, _ = agent_case("qa_generator")
    other, other_model, _ = agent_case("qa_judge")

    async def three():
        first = await backend.complete(request_for(messages, model, max_tokens=48))
        await backend.complete(request_for(other, other_model, max_tokens=24))  # disturbs the KV cache
        second = await backend.complete(request_for(messages, model, max_tokens=48))
        return first, second

    first, second = asyncio.run(three())
    assert first.text == second.text
    assert (first.prompt_tokens, first.completion_tokens) == (second.prompt_tokens, second.completion_tokens)


def test_requests_are_served_in_order_without_blocking_the_event_loop(backend):
    cases = [agent_case(agent) for agent in ("qa_judge", "qa_generator", "kb_responder", "qa_generator")]

    async def scenario():
        finished: list[int] = []
        ticks = 0
        stop = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        async def one(index, messages, model):
            response = await backend.complete(request_for(messages, model, max_tokens=32, seed=index))
            finished.append(index)
            return response

        tick_task = asyncio.create_task(ticker())
        responses = await asyncio.gather(*(one(i, m, model) for i, (m, model, _) in enumerate(cases)))
        stop.set()
        await tick_task
        return finished, ticks, responses

    finished, ticks, responses = asyncio.run(scenario())
    assert finished == [0, 1, 2, 3]  # first in, first out
    assert ticks >= 10  # the loop kept running while the worker thread generated
    assert all(r.completion_tokens > 0 for r in responses)


class Zeros(BaseModel):
    """A schema whose only valid replies are one token pattern looping: degenerate by design."""

    values: list[Literal[0]] = Field(min_length=60, max_length=60)


def test_degenerate_reply_is_retried_then_dropped_with_a_named_reason(project):
    cfg = load_config(project)
    messages = [{"role": "user", "content": "List sixty zeros."}]

    async def call():
        client = LLMClient(cfg, log_dir=project.parent / "logs-degenerate")
        try:
            with pytest.raises(LLMCallError) as err:
                await client.structured("kb_responder", messages, Zeros, cache_key="z")
            return err.value, client.calls_made
        finally:
            await client.aclose()

    error, calls = asyncio.run(call())
    assert error.reason == "empty_reply"
    assert calls == 2  # the first try and max_retries=1 retry
    log = (project.parent / "logs-degenerate" / "llm.log").read_text()
    assert log.count("outcome=retry:empty") == 1 and log.count("outcome=error:empty") == 1


def test_prompt_longer_than_the_context_is_a_fatal_error(tmp_path, default_model):
    cfg = load_config(write_local_project(tmp_path, n_ctx=256))
    small = get_local_backend(cfg)
    long_text = " ".join(["The day pass costs eight euros."] * 80)
    request = request_for([{"role": "user", "content": long_text}], QuestionReply)
    with pytest.raises(FatalBackendError, match=r"does not fit llm.local.n_ctx=256"):
        asyncio.run(small.complete(request))


@pytest.mark.parametrize("style_agent", ["qa_generator", "kb_responder_last_round"])
def test_completion_prompts_are_rendered_raw_and_reply_in_the_schema(backend, style_agent):
    if style_agent == "qa_generator":
        messages = generator_messages(language="en", persona=PERSONA, mode="fresh", snippets=[SNIPPET],
                                      previous_turns=[], style="completion")
        model = QuestionReply
    else:
        messages = responder_messages(language="en", persona=PERSONA, previous_turns=[], question=QUESTION,
                                      snippets=[SNIPPET], searches=[], searches_left=0, style="completion")
        model = FinalAnswerReply
    rendered = backend.engine.formatter.render(messages)
    assert rendered.text == messages[0]["content"]  # no chat template around the few-shot text
    response = asyncio.run(backend.complete(request_for(messages, model, max_tokens=96)))
    value = validate_reply(response.text, model, None)
    assert isinstance(value, model)


def test_text_cut_by_the_grammar_cap_finishes_with_length(backend):
    messages = responder_messages(language="en", persona=PERSONA, previous_turns=[], question=QUESTION,
                                  snippets=[SNIPPET], searches=[], searches_left=0, style="completion")
    short = asyncio.run(backend.complete(request_for(messages, FinalAnswerReply, max_tokens=48)))
    value = validate_reply(short.text, FinalAnswerReply, None)  # still valid JSON: the grammar closed it
    # cut inside its first sentence: a length finish; else trimmed back to a complete sentence
    assert value.answer and (short.finish_reason == "length" or value.answer.endswith((".", "!", "?")))
