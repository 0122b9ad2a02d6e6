"""Reply guards in the engine, against the loopback server scripted to produce each bad reply.

Each bad reply is regenerated and, when it keeps coming, drops the conversation with the
guard's name; a good reply of the same shape passes. Counts reach the summary and run state.
"""

from __future__ import annotations

import json

import pytest

from dlgforge_core.generation.summary import format_summary
from tests.engine.conftest import merge
from tests.engine.helpers import records, run_languages
from tests.fake_llm.handlers import FakeReply, chunk_ids_in, responder_reply
from tests.fake_llm.server import FakeLLMServer

ONE = {"llm": {"cache": {"enabled": False}, "max_tokens": 100},
       "run": {"total_samples": 1, "n_turns": 1, "batch_size": 1, "max_attempts_factor": 1}}

# (guard, language, bad question, good question of the same shape)
BAD_QUESTIONS = [
    ("template_echo", "en", "<the user's message>", "How long do refunds take to reach my card?"),
    ("template_echo", "en", "You wrote the next message of a USER talking to a support agent.",
     "When are the invoices sent each month by email?"),
    ("template_echo", "en", '{"question": "refunds"}', "Which payment method gets the refund back?"),
    ("too_short", "en", "Refunds?", "Refunds for annual plans?"),
    ("degenerate", "en", "refund refund refund refund refund refund refund refund refund refund refund",
     "Are annual plans refunded for the months that were not used?"),
    ("wrong_language", "fr", "How many days does a refund take to reach my card?",
     "Combien de jours faut-il pour recevoir un remboursement sur ma carte ?"),
]

# (guard, language, bad answer, good answer of the same shape)
BAD_ANSWERS = [
    ("too_short", "en", "Yes", "Yes, refunds take five business days."),
    ("template_echo", "en", "<your reply>", "Refunds take five business days to arrive."),
    ("template_echo", "en", "You are a helpful assistant answering from a knowledge base.",
     "Refunds reach the original payment method within five business days."),
    ("degenerate", "en", "five days five days five days five days five days five days five days five days",
     "Refunds take five business days, and annual plans are refunded pro rata."),
    ("wrong_language", "fr", "Refunds take five business days to reach the original payment method.",
     "Les remboursements arrivent sur le moyen de paiement d'origine en cinq jours ouvrés."),
]


def _questions(bad: str, good: str, bad_count: int):
    """The generator's handler: ``bad`` for the first ``bad_count`` calls, then numbered good ones."""
    def handler(req):
        return {"question": bad if req.seq < bad_count else f"{good[:-1]} (case {req.seq}){good[-1]}"}
    return handler


def _answers(bad: str, good: str, bad_count: int):
    def handler(req):
        ids = chunk_ids_in(req.prompt_text)
        answer = bad if req.seq < bad_count else good
        return {"action": "answer", "query": None, "answer": answer, "cited_chunk_ids": ids[:1]}
    return handler


def _state(cfg, language: str) -> dict:
    return json.loads((cfg.output_dir / "run_state" / f"main-{language}.json").read_text())


@pytest.mark.parametrize("guard,language,bad,good", BAD_QUESTIONS)
def test_bad_question_is_regenerated_then_dropped_with_its_guard(make_config, built_kb, guard, language, bad, good):
    handlers = {"qa_generator": _questions(bad, good, 1)}
    with FakeLLMServer(handlers=handlers) as srv:
        cfg = make_config(srv.base_url, ONE)
        [summary] = run_languages(cfg, built_kb, [language])
        assert summary.accepted_total == 1 and summary.dropped_by_reason == {}
        assert summary.guards["rejected"] == {guard: 1}
        assert summary.guards["question_attempts"] == 2 and summary.guards["questions"] == 1
        [record] = records(cfg)
        assert record["turns"][0]["user_message"] != bad
        retry = srv.calls("qa_generator")[1]
        assert "the last question was rejected" in retry.prompt_text
    # the same bad reply every time: the conversation is dropped with the guard's name
    with FakeLLMServer(handlers={"qa_generator": _questions(bad, good, 10**6)}) as srv:
        cfg = make_config(srv.base_url, ONE, name="always")
        [summary] = run_languages(cfg, built_kb, [language])
        assert summary.accepted_total == 0
        assert summary.dropped_by_reason == {guard: 2}
        assert {d["reason"] for d in _state(cfg, language)["dropped"]} == {guard}
        retries = cfg.coverage.question_dedup_retries + 1
        assert len(srv.calls("qa_generator")) == 2 * retries
        assert summary.guards["rejected"] == {guard: 2 * retries}


@pytest.mark.parametrize("guard,language,bad,good", BAD_ANSWERS)
def test_bad_answer_is_regenerated_then_dropped_with_its_guard(make_config, built_kb, guard, language, bad, good):
    with FakeLLMServer(handlers={"kb_responder": _answers(bad, good, 1)}) as srv:
        cfg = make_config(srv.base_url, ONE)
        [summary] = run_languages(cfg, built_kb, [language])
        assert summary.accepted_total == 1 and summary.dropped_by_reason == {}
        assert summary.guards["rejected"] == {guard: 1}
        [record] = records(cfg)
        turn = record["turns"][0]
        assert turn["assistant_message"] == good
        assert turn["guards"]["answer_attempts"] == 2
        assert "Your previous answer was rejected" in srv.calls("kb_responder")[1].prompt_text
    with FakeLLMServer(handlers={"kb_responder": _answers(bad, good, 10**6)}) as srv:
        cfg = make_config(srv.base_url, ONE, name="always")
        [summary] = run_languages(cfg, built_kb, [language])
        assert summary.accepted_total == 0 and summary.dropped_by_reason == {guard: 2}
        attempts = cfg.quality.guards.max_attempts
        assert len(srv.calls("kb_responder")) == 2 * attempts
        assert summary.guards["answer_attempts"] == 2 * attempts


def test_answer_repeating_its_question_is_an_echo(make_config, built_kb):
    def parrot(req):
        question = req.last_user_message.split("\n\n---", 1)[0].strip()
        return {"action": "answer", "query": None, "answer": question, "cited_chunk_ids": []}

    with FakeLLMServer(handlers={"kb_responder": parrot}) as srv:
        cfg = make_config(srv.base_url, ONE)
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 0 and summary.dropped_by_reason == {"template_echo": 2}


UNGROUNDED = "Bananas ripen faster when stored next to apples in a warm kitchen."


def test_ungrounded_answer_is_flagged_by_default_and_dropped_when_configured(make_config, built_kb):
    with FakeLLMServer(handlers={"kb_responder": _answers(UNGROUNDED, UNGROUNDED, 0)}) as srv:
        cfg = make_config(srv.base_url, ONE)
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 1
        [record] = records(cfg)
        guards = record["turns"][0]["guards"]
        assert guards["flags"] == ["ungrounded"] and guards["grounding_overlap"] == 0.0
        assert summary.guards["flagged"] == {"ungrounded": 1}
    drop = merge(ONE, {"quality": {"guards": {"ungrounded": {"action": "drop"}}}})
    with FakeLLMServer(handlers={"kb_responder": _answers(UNGROUNDED, UNGROUNDED, 0)}) as srv:
        cfg = make_config(srv.base_url, drop, name="drop")
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 0 and summary.dropped_by_reason == {"ungrounded": 2}
    # a grounded answer of the same shape (one sentence from its first chunk) passes unflagged
    def quoting(req):
        first = req.prompt_text.split("[chunk:", 1)[1].split("]", 1)[1].strip().split(".")[0]
        return {"action": "answer", "query": None, "answer": f"The guide says: {first}.", "cited_chunk_ids": []}

    with FakeLLMServer(handlers={"kb_responder": quoting}) as srv:
        cfg = make_config(srv.base_url, drop, name="grounded")
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 1
        assert records(cfg)[0]["turns"][0]["guards"]["flags"] == []


def test_truncated_reply_is_retried_with_a_larger_limit(make_config, built_kb):
    def cut_at_default_limit(req):
        reply = {"question": f"How long do refunds take for order {req.seq}?"}
        return FakeReply(reply, finish_reason="length") if req.body.get("max_tokens", 0) <= 100 else reply

    with FakeLLMServer(handlers={"qa_generator": cut_at_default_limit}) as srv:
        cfg = make_config(srv.base_url, ONE)
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 1 and summary.dropped_by_reason == {}
        assert [r.body.get("max_tokens") for r in srv.calls("qa_generator")] == [100, 200]
        assert summary.guards["truncated_retries"] == 1


def test_reply_cut_off_twice_drops_as_truncated(make_config, built_kb):
    def always_cut(req):
        return FakeReply(responder_reply(req), finish_reason="length")

    with FakeLLMServer(handlers={"kb_responder": always_cut}) as srv:
        cfg = make_config(srv.base_url, ONE)
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 0 and summary.dropped_by_reason == {"truncated": 2}
        assert [r.body.get("max_tokens") for r in srv.calls("kb_responder")] == [100, 200, 100, 200]
        assert _state(cfg, "en")["guards"]["rejected"] == {"truncated": 2}
        assert "truncated=2" in format_summary([summary], cfg)


def test_guards_switched_off_accept_what_they_would_drop(make_config, built_kb):
    off = merge(ONE, {"quality": {"guards": {"enabled": False}}})
    with FakeLLMServer(handlers={"kb_responder": _answers("Yes", "Yes", 0)}) as srv:
        cfg = make_config(srv.base_url, off)
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 1 and records(cfg)[0]["turns"][0]["assistant_message"] == "Yes"
    one_off = merge(ONE, {"quality": {"guards": {"too_short": {"enabled": False}}}})
    with FakeLLMServer(handlers={"kb_responder": _answers("Yes", "Yes", 0)}) as srv:
        cfg = make_config(srv.base_url, one_off, name="one")
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 1


def test_summary_and_run_state_count_the_guards(make_config, built_kb):
    with FakeLLMServer(handlers={"qa_generator": _questions("<the user's message>", "How are refunds paid back?", 1),
                                 "kb_responder": _answers("no", "Refunds go back to the original card.", 1)}) as srv:
        cfg = make_config(srv.base_url, merge(ONE, {"run": {"total_samples": 2}}))
        [summary] = run_languages(cfg, built_kb, ["en"])
        assert summary.accepted_total == 2
        state = _state(cfg, "en")["guards"]
        assert state == summary.guards
        assert state["rejected"] == {"template_echo": 1, "too_short": 1}
        assert state["questions"] == 2 and state["question_attempts"] == 3
        assert state["answers"] == 2 and state["answer_attempts"] == 3
        text = format_summary([summary], cfg)
        assert "guards: rejected template_echo=1, too_short=1" in text
        assert "3 attempts for 2 questions" in text
