"""The judge through the real CLI: online per conversation, offline `dlgforge judge`.

Each command runs in a subprocess against the loopback fake LLM server (real HTTP, real
openai client), with the real KB (LanceDB + MiniLM) and the real output store. The
assertions read the files the commands wrote and the requests the server received.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fake_llm.handlers import judge_reply
from tests.fake_llm.server import FakeLLMServer

pytestmark = pytest.mark.slow

REASONS = ["grounded", "unsupported_claim", "unclear"]
KB_FILES = {
    "billing.md": "# Billing\n\nInvoices are sent on the first day of each month. Refunds "
    "take five business days to reach the original payment method. Late payments add a "
    "two percent fee after thirty days.\n",
    "accounts.md": "# Accounts\n\nPasswords must be at least twelve characters long. "
    "Two-factor authentication can be enabled on the security settings page. Deleted "
    "accounts can be restored within fourteen days.\n",
}


def dlgforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed `dlgforge` command (or `python -m dlgforge_assets`)."""
    script = Path(sys.executable).parent / "dlgforge"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dlgforge_assets"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(command + list(args), cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def write_config(root: Path, base_url: str, judge: dict[str, Any],
                 cache: bool = False) -> Path:
    knowledge = root / "knowledge"
    knowledge.mkdir(parents=True, exist_ok=True)
    for name, text in KB_FILES.items():
        (knowledge / name).write_text(text, encoding="utf-8")
    sections = {
        "run": {"total_samples": 3, "batch_size": 2, "min_turns": 1, "max_turns": 2,
                "target_languages": ["en"], "run_id": "jt", "seed": 5},
        "llm": {"backend": "openai", "base_url": base_url, "api_key": "test-key",
                "model": "fake-model", "max_retries": 2, "timeout": 60,
                "cache": {"enabled": cache}},
        "retrieval": {"chunk_size": 200, "chunk_overlap": 20},
        "judge": {"reasons": REASONS, **judge},
        "saving": {"output_dir": "output"},
    }
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(sections, sort_keys=False), encoding="utf-8")
    return config


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def snapshot(output: Path) -> dict[str, bytes]:
    """Every output file's bytes, logs excepted (they are appended to by design)."""
    return {
        str(p.relative_to(output)): p.read_bytes()
        for p in sorted(output.rglob("*"))
        if p.is_file() and "logs" not in p.relative_to(output).parts
    }


@pytest.fixture(scope="module")
def server():
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def fresh_server(server):
    """The module's server with default handlers and an empty request log."""
    server.set_handler("qa_judge", judge_reply)
    server.reset()
    yield server
    server.set_handler("qa_judge", judge_reply)


@pytest.fixture(scope="module")
def unjudged_project(server, tmp_path_factory) -> Path:
    """A project generated once with the judge disabled (copied by each test)."""
    root = tmp_path_factory.mktemp("unjudged")
    config = write_config(root, server.base_url, {"enabled": False})
    server.reset()
    done = dlgforge("run", str(config), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert server.calls("kb_responder") and not server.calls("qa_judge")
    server.reset()
    return root


def copy_project(src: Path, dest: Path, base_url: str, judge: dict[str, Any]) -> Path:
    shutil.copytree(src, dest)
    return write_config(dest, base_url, judge)


def test_online_conversation_judge(fresh_server, tmp_path):
    root = tmp_path / "online"
    config = write_config(root, fresh_server.base_url,
                          {"enabled": True, "mode": "online", "granularity": "conversation"})
    done = dlgforge("run", str(config), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]

    output = root / "output"
    records = jsonl(output / "synthetic_qa.jsonl")
    assert len(records) == 3
    for record in records:
        verdict = record["conversation_judge"]
        assert verdict["score"] == 4 and verdict["reasons"] == ["grounded"]
        assert verdict["model"] == "fake-model" and verdict["settings_hash"]
        stored = json.loads((output / "conversations" / f"{record['conversation_id']}.json")
                            .read_text(encoding="utf-8"))
        assert stored["conversation_judge"] == verdict
    # Every accepted conversation was judged once as a whole (a slot started past the
    # target may also have been judged, then discarded: that is the engine's business).
    judged_ids = [r.conversation_id for r in fresh_server.calls("qa_judge")]
    for record in records:
        assert judged_ids.count(record["conversation_id"]) >= 1

    judged = jsonl(output / "conversations_sharegpt_judged.jsonl")
    assert len(judged) == 3
    for row in judged:
        assert row["judge"]["conversation"] == {"score": 4, "reasons": ["grounded"], "notes": "ok"}
        assert row["judge"]["avg_score"] == 4.0
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"] * row["metadata"]["n_turns"]

    log = (output.parent / "logs" / "judge.log").read_text(encoding="utf-8")
    for record in records:
        assert f"[judge-online-conversation] {record['conversation_id']} score=4" in log


def test_offline_judge_then_noop_repeat(fresh_server, unjudged_project, tmp_path):
    root = tmp_path / "offline"
    config = copy_project(unjudged_project, root, fresh_server.base_url,
                          {"enabled": True, "mode": "offline", "granularity": "turn"})
    output = root / "output"
    assert not (output / "conversations_sharegpt_judged.jsonl").exists()

    done = dlgforge("judge", str(config), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "judge: 3 judged, 0 already judged, 0 failed" in done.stdout
    # `dlgforge run` had exported the unjudged conversations: the command says how to refresh
    assert (output / "export" / "manifest.json").is_file()
    assert f"was prepared before these scores; refresh it with `dlgforge push {config} --no-push`" in done.stdout

    records = jsonl(output / "synthetic_qa.jsonl")
    turns = [turn for record in records for turn in record["turns"]]
    assert len(records) == 3 and all(t["qa_judge"]["score"] == 4 for t in turns)
    assert all(t["qa_judge"]["reasons"] == ["grounded"] for t in turns)
    judge_calls = [r for r in fresh_server.calls("qa_judge") if r.conversation_id != "self-check"]
    assert len(judge_calls) == len(turns)
    # The judge saw exactly the chunks each answer was grounded on, with their KB text.
    prompts = [r.prompt_text for r in judge_calls]
    for turn in turns:
        ids = [c["chunk_id"] for c in turn["grounding"]["chunks"]]
        assert any(all(f"[chunk:{cid}]" in p for cid in ids) and turn["assistant_message"] in p
                   for p in prompts)
    assert any("Invoices are sent" in p or "Passwords must" in p for p in prompts)

    rows = jsonl(output / "turns.jsonl")
    assert len(rows) == len(turns) and all(r["judge_score"] == 4 for r in rows)
    judged = jsonl(output / "conversations_sharegpt_judged.jsonl")
    assert len(judged) == 3
    for row in judged:
        assert len(row["judge"]["per_turn"]) == row["metadata"]["n_turns"]
        assert row["judge"]["avg_score"] == 4.0
    for record in records:
        stored = json.loads((output / "conversations" / f"{record['conversation_id']}.json")
                            .read_text(encoding="utf-8"))
        assert stored == record
    assert "[judge-offline]" in (output.parent / "logs" / "judge.log").read_text(encoding="utf-8")

    before = snapshot(output)
    fresh_server.reset()
    again = dlgforge("judge", str(config), cwd=root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "judge: 0 judged, 3 already judged, 0 failed" in again.stdout
    assert "refresh it" not in again.stdout
    assert fresh_server.calls("qa_judge") == []
    assert snapshot(output) == before


def test_unknown_reason_is_repaired(fresh_server, unjudged_project, tmp_path):
    root = tmp_path / "repaired"
    # judge.enabled stays false: running `dlgforge judge` is the opt-in.
    config = copy_project(unjudged_project, root, fresh_server.base_url,
                          {"enabled": False, "granularity": "conversation"})
    first_seen: set[str] = set()

    def bad_once(req):
        if req.conversation_id not in first_seen:
            first_seen.add(req.conversation_id)
            return {"score": 4, "reasons": ["made_up_reason"], "notes": "bad label"}
        return judge_reply(req)

    fresh_server.set_handler("qa_judge", bad_once)
    done = dlgforge("judge", str(config), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "judge: 3 judged, 0 already judged, 0 failed" in done.stdout
    records = jsonl((root / "output" / "synthetic_qa.jsonl"))
    assert all(r["conversation_judge"]["reasons"] == ["grounded"] for r in records)
    assert len(fresh_server.calls("qa_judge")) == 6  # one repair per conversation


def test_invalid_judge_leaves_records_unjudged_and_exits_zero(fresh_server, unjudged_project,
                                                              tmp_path):
    root = tmp_path / "invalid"
    config = copy_project(unjudged_project, root, fresh_server.base_url,
                          {"enabled": True, "granularity": "turn"})
    output = root / "output"
    before = snapshot(output)
    fresh_server.set_handler(
        "qa_judge", lambda req: {"score": 4, "reasons": ["made_up_reason"], "notes": "x"})

    done = dlgforge("judge", str(config), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "judge: 0 judged, 0 already judged, 3 failed" in done.stdout
    assert fresh_server.calls("qa_judge")
    assert snapshot(output) == before
    assert not (output / "conversations_sharegpt_judged.jsonl").exists()
    log = (output.parent / "logs" / "judge.log").read_text(encoding="utf-8")
    assert log.count("[judge-offline]") >= 3 and " failed reason=" in log


def test_judge_without_a_judge_model_exits_2_with_one_line(tmp_path):
    root = tmp_path / "nomodel"
    config = write_config(root, "http://127.0.0.1:9/v1", {"enabled": False})
    sections = yaml.safe_load(config.read_text(encoding="utf-8"))
    del sections["llm"]["model"]
    sections["llm"]["agents"] = {"qa_generator": {"model": "gen"}, "kb_responder": {"model": "resp"}}
    config.write_text(yaml.safe_dump(sections), encoding="utf-8")

    done = dlgforge("judge", str(config), cwd=root)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "llm.agents.qa_judge.model" in lines[0] and "Traceback" not in done.stderr
    assert not (root / "output" / "synthetic_qa.jsonl").exists()
