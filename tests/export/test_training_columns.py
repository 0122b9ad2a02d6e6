"""Issue 13: the training columns `messages_with_tools`, `user_reasoning` and
`assistant_reasoning`, from a real `python -m dlgforge run` against the loopback LLM server
(the responder searches once per turn, every reply carries `reasoning_content`), then
`python -m dlgforge push --no-push`: `datasets` loads every export file, tool-call ids pair
up, and the reasoning text of the server is in the columns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlgforge_core.export import prepare_export
from dlgforge_core.export.sharegpt import to_sharegpt
from dlgforge_core.generation.replies import QuestionReply
from tests.e2e.generate_project import cli_env, jsonl, write_config
from tests.export.conftest import default_records, make_record, write_outputs
from tests.fake_llm.handlers import generator_reply, search_once_then_answer_reply
from tests.fake_llm.reply import with_reasoning
from tests.fake_llm.server import FakeLLMServer
from tests.support.project import write_kb

DIFFICULTY = ("easy", "medium", "hard")
INTENTS = ("fact", "how_to", "troubleshoot", "compare", "explain", "other")
COLUMNS = ("messages", "metadata", "messages_with_tools", "user_reasoning", "assistant_reasoning")


def _generator(req):
    """The default question, plus an intent and a difficulty that vary with the request."""
    return {**generator_reply(req), "intent": INTENTS[req.seq % len(INTENTS)], "difficulty": DIFFICULTY[req.seq % 3]}


def _python_m_dlgforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlgforge", *args], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=600)


def _load(path: Path, cache: Path, chunksize: int | None = None):
    """``datasets.load_dataset("json", ...)``; a small ``chunksize`` makes the loader infer
    the types of (about) each row on its own and then cast them to one schema, so any row
    whose types differ from the others' fails the load."""
    import datasets

    options = {"chunksize": chunksize} if chunksize else {}
    return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache), **options)


def assert_tool_calls_pair_up(messages: list[dict]) -> list[str]:
    """Every tool message answers an earlier, not yet answered call; every call is answered;
    ids are unique in the conversation. Returns the call ids in order."""
    called: list[str] = []
    answered: list[str] = []
    for message in messages:
        assert set(message) == {"role", "content", "tool_calls", "tool_call_id", "name"}
        if message["role"] == "tool":
            assert message["tool_call_id"] in called and message["tool_call_id"] not in answered
            answered.append(message["tool_call_id"])
        else:
            assert message["tool_call_id"] is None
        for call in message["tool_calls"] or []:
            assert message["role"] == "assistant" and call["type"] == "function"
            assert call["function"]["name"] in ("kb_search", "web_search")
            assert set(json.loads(call["function"]["arguments"])) == {"query"}
            called.append(call["id"])
    assert len(called) == len(set(called)) and sorted(called) == sorted(answered)
    return called


@pytest.mark.slow
def test_training_columns_of_a_real_run(tmp_path: Path):
    shared = {"knowledge_dir": write_kb(tmp_path / "kb" / "knowledge"), "index_dir": tmp_path / "kb" / "index"}
    handlers = {"qa_generator": with_reasoning(_generator),
                "kb_responder": with_reasoning(search_once_then_answer_reply)}
    seeds = {"billing": ["How do invoices and refunds work?", "When is my card charged?"],
             "shipping": ["How fast do orders ship?", "Can I return an opened item?"]}
    seed_file = tmp_path / "seed_topics.yaml"
    seed_file.write_text(json.dumps({"topics": [{"name": name, "questions": {"en": questions}}
                                                for name, questions in seeds.items()]}), encoding="utf-8")
    with FakeLLMServer(handlers=handlers) as srv:
        config = write_config(tmp_path / "project", srv.base_url, shared, {
            "run": {"total_samples": 3},
            "coverage": {"seed_topics_path": str(seed_file), "seed_question_probability": 1.0},
            "judge": {"enabled": True, "mode": "online", "granularity": "turn"},
            "saving": {"hf_push": {"generate_plots": False, "formats": {"sft": True, "raft": True}}},
        })
        done = _python_m_dlgforge("run", str(config), cwd=config.parent)
        assert done.returncode == 0, done.stderr[-3000:]
        searches = [r for r in srv.calls("kb_responder") if "You searched for:" not in r.last_user_message]
    assert searches, "the responder never searched"
    exported = _python_m_dlgforge("push", str(config), "--no-push", cwd=config.parent)
    assert exported.returncode == 0, exported.stderr[-3000:]

    output = config.parent / "output"
    records = {r["conversation_id"]: r for r in jsonl(output / "synthetic_qa.jsonl")}
    assert len(records) == 3
    for record in records.values():
        for turn in record["turns"]:
            rounds = turn["tool_calls"]
            assert [c["round"] for c in rounds] == [0, 1] and {c["tool"] for c in rounds} == {"kb_search"}
            assert rounds[0]["query"] == turn["user_message"]
            assert rounds[1]["query"].startswith("details: ") and all(c["chunk_ids"] for c in rounds)
            assert turn["seed"]["question"] in seeds[turn["seed"]["topic"]]
            if turn["mode"] == "seeded":  # the seed question asked as is: no generator reply
                assert turn["user_message"] == turn["seed"]["question"] and turn["intent"] is None
            else:
                assert turn["difficulty"] in DIFFICULTY and turn["intent"] in INTENTS
        assert record["turns"][0]["mode"] == "seeded" and len(record["turns"]) >= 2

    plain, judged = jsonl(output / "conversations_sharegpt.jsonl"), jsonl(output / "conversations_sharegpt_judged.jsonl")
    assert len(plain) == len(judged) == 3
    for row in plain + judged:
        assert set(COLUMNS) <= set(row)
        record = records[row["metadata"]["conversation_id"]]
        messages = row["messages_with_tools"]
        ids = assert_tool_calls_pair_up(messages)
        assert len(ids) == 2 * len(record["turns"])
        # per turn: user, (assistant call, tool result) per round, the final answer
        position = 0
        for t, turn in enumerate(record["turns"]):
            assert messages[position] == {"role": "user", "content": turn["user_message"], "tool_calls": None,
                                          "tool_call_id": None, "name": None}
            position += 1
            for call in turn["tool_calls"]:
                ask, result = messages[position], messages[position + 1]
                assert ask["role"] == "assistant" and ask["content"] == ""
                assert json.loads(ask["tool_calls"][0]["function"]["arguments"]) == {"query": call["query"]}
                assert result["role"] == "tool" and result["name"] == "kb_search"
                body = json.loads(result["content"])
                assert [r["chunk_id"] for r in body["results"]] == call["chunk_ids"]
                assert all(r["text"] for r in body["results"])
                position += 2
            assert messages[position]["content"] == turn["assistant_message"]
            assert messages[position]["tool_calls"] is None
            position += 1

            asked = row["user_reasoning"][t]
            assert (asked["mode"], asked["intent"], asked["difficulty"]) == (turn["mode"], turn["intent"] or "",
                                                                            turn["difficulty"] or "")
            assert asked["grounding_chunk_ids"] == turn["question_chunk_ids"]
            assert (asked["seed_topic"], asked["seed_question"]) == (turn["seed"]["topic"], turn["seed"]["question"])
            if turn["mode"] == "seeded":
                assert (asked["intent"], asked["difficulty"], asked["reasoning"]) == ("", "", "")
            else:
                assert asked["reasoning"].startswith("Reasoning of qa_generator #")
            answered = row["assistant_reasoning"][t]
            assert [s["query"] for s in answered["searches"]] == [c["query"] for c in turn["tool_calls"]]
            assert [e["chunk_id"] for e in answered["evidence"]] == turn["cited_chunk_ids"] != []
            assert all(e["text"] and e["source"] for e in answered["evidence"])
            # two replies per turn (the search, then the answer), each with its reasoning text
            assert answered["reasoning"].count("Reasoning of kb_responder #") == 2
        assert row["messages"] == [{"role": m["role"], "content": m["content"]} for m in messages
                                   if m["role"] == "user" or (m["role"] == "assistant" and not m["tool_calls"])]

    # one stable schema: `datasets` loads every JSONL file of the output and export folders
    export = output / "export"
    files = [output / "conversations_sharegpt.jsonl", output / "conversations_sharegpt_judged.jsonl",
             *sorted(export.rglob("*.jsonl"))]
    assert {p.relative_to(export).as_posix() for p in files[2:]} >= {
        "data/conversations_sharegpt_judged.jsonl", "sft/train.jsonl", "raft/train.jsonl"}
    for path in files:
        dataset = _load(path, tmp_path / "hf_cache", chunksize=1024)
        assert dataset.num_rows == len(jsonl(path)), path
        if "sharegpt" in path.name:
            features = dataset.features
            assert set(COLUMNS) <= set(features)
            assert set(features["messages_with_tools"].feature) == {"role", "content", "tool_calls", "tool_call_id", "name"}
            first = dataset[0]["messages_with_tools"]
            assert [m["role"] for m in first[:4]] == ["user", "assistant", "tool", "assistant"]


def test_rows_of_records_without_rounds_load_with_the_same_columns(tmp_path: Path):
    """Records written before the rounds were recorded (no `tool_calls`, intent or seed) still
    give every column, with the same keys and types: a file mixing them with new rows loads."""
    old = make_record("main-en-000000", "en", [("How are invoices sent?", "By email, monthly.")])
    new = make_record("main-en-000001", "en", [("When do refunds arrive?", "Within five days.")], index=1)
    new["turns"][0].update(
        intent="fact", difficulty="easy", seed={"topic": "billing", "question": "Refunds?"},
        generator_reasoning=None, responder_reasoning="Look up refunds.",
        tool_calls=[{"round": 0, "tool": "kb_search", "query": "When do refunds arrive?",
                     "chunk_ids": ["billing.md#0"],
                     "results": [{"id": "billing.md#0", "source": "billing.md", "text": "Refunds take five days."}]},
                    {"round": 1, "tool": "web_search", "query": "refund law", "chunk_ids": [],
                     "results": [], "error": "web search failed: timeout"}])
    rows = [to_sharegpt(old), to_sharegpt(new)]
    assert rows[0]["messages_with_tools"] == [
        {"role": "user", "content": "How are invoices sent?", "tool_calls": None, "tool_call_id": None, "name": None},
        {"role": "assistant", "content": "By email, monthly.", "tool_calls": None, "tool_call_id": None, "name": None}]
    assert rows[0]["user_reasoning"][0]["intent"] == "" and rows[0]["assistant_reasoning"][0]["searches"] == []
    assert assert_tool_calls_pair_up(rows[1]["messages_with_tools"]) == ["call_0_0", "call_0_1"]
    failed = json.loads(rows[1]["messages_with_tools"][4]["content"])
    assert failed == {"query": "refund law", "results": [], "error": "web search failed: timeout"}
    assert rows[1]["user_reasoning"][0] == {
        "turn_index": 0, "mode": "fresh", "intent": "fact", "difficulty": "easy", "seed_topic": "billing",
        "seed_question": "Refunds?", "grounding_chunk_ids": ["billing.md#0"], "grounding_sources": [],
        "reasoning": ""}
    assert rows[1]["assistant_reasoning"][0]["evidence"] == [
        {"chunk_id": "billing.md#0", "source": "billing.md", "text": "Refunds take five days."}]
    for a, b in zip(rows[0]["user_reasoning"], rows[1]["user_reasoning"]):
        assert set(a) == set(b) and all(type(a[k]) is type(b[k]) for k in a)

    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    dataset = _load(path, tmp_path / "hf_cache")
    assert dataset.num_rows == 2
    assert dataset[1]["assistant_reasoning"][0]["reasoning"] == "Look up refunds."


def test_configured_column_names(tmp_path: Path):
    """`saving.output_columns.*` renames the three columns."""
    names = {"messages_with_tools": "mwt", "user_reasoning": "ur", "assistant_reasoning": "ar"}
    row = to_sharegpt(make_record("main-en-000000", "en", [("Q?", "A.")]), names)
    assert {"mwt", "ur", "ar"} <= set(row) and not set(names) & set(row)


def test_question_reply_extras_parse_old_and_odd_replies():
    """Cached replies from before intent/difficulty still parse; odd values never fail a question."""
    old = QuestionReply.model_validate_json('{"question": "How are invoices sent?"}')
    assert (old.intent, old.difficulty) == (None, None)
    odd = QuestionReply.model_validate({"question": "Why?", "intent": "Small talk", "difficulty": "extreme"})
    assert (odd.intent, odd.difficulty) == ("other", None)
    fine = QuestionReply.model_validate({"question": "How?", "intent": "How-to", "difficulty": " Hard "})
    assert (fine.intent, fine.difficulty) == ("how_to", "hard")


def test_pii_in_search_results_queries_and_reasoning_is_gated_and_redacted(project):
    """The training columns ship KB texts, queries and reasoning: the `no_pii` gate sees them,
    and redaction removes them from the data file."""
    email, card = "jane.roe@example.org", "4539 1488 0343 6467"
    record = make_record("main-en-000042", "en", [("How do I get a refund for my order?",
                                                    "Billing refunds orders within five business days.")],
                         index=42, scores=[4])
    record["turns"][0].update(
        responder_reasoning=f"The user could also write to {email}.",
        tool_calls=[{"round": 0, "tool": "kb_search", "query": f"refund card {card}", "chunk_ids": ["billing.md#0"],
                     "results": [{"id": "billing.md#0", "source": "billing.md",
                                  "text": f"Refunds: contact {email} for help."}]}])
    cfg = project(repo_id="acme/ds", generate_stats=False)
    write_outputs(cfg.output_dir, default_records() + [record])
    [gate] = [g for g in prepare_export(cfg).gate_failures if g.name == "no_pii"]
    assert set(gate.offending) == {"main-en-000042 turn 0 assistant reasoning: email",
                                   "main-en-000042 turn 0 search 0 query: credit_card",
                                   "main-en-000042 turn 0 search 0 result billing.md#0: email"}
    redacted = prepare_export(cfg, redact_pii=True)
    assert not [g for g in redacted.gate_failures if g.name == "no_pii"]
    data = (redacted.export_dir / "data" / "conversations_sharegpt_judged.jsonl").read_text(encoding="utf-8")
    assert email not in data and card not in data and "[EMAIL]" in data and "[CARD_NUMBER]" in data
    row = [json.loads(line) for line in data.splitlines() if "main-en-000042" in line][0]
    assert json.loads(row["messages_with_tools"][2]["content"])["results"][0]["text"] == "Refunds: contact [EMAIL] for help."
