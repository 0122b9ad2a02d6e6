"""End to end on the REAL embedded model through the REAL CLI (no test server involved).

1 language x 2 conversations x 2 turns with the online judge, on Gemma 3 270M via llama.cpp.
Kept as small as the issue allows (short max_tokens, small n_ctx, a two-document KB).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dlgforge_core.config.sections import DEFAULT_JUDGE_REASONS

REPO = Path(__file__).resolve().parents[2]
LOG_LINE = re.compile(
    r"agent=(?P<agent>\S+) model=(?P<model>\S+) endpoint=(?P<endpoint>\S+) latency_ms=\S+ "
    r"prompt_tokens=(?P<prompt>\d+) completion_tokens=(?P<completion>\d+) outcome=(?P<outcome>\S+)"
)


def run_cli(config: Path, tmp_path: Path, timeout: int = 840) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "PYTHONPATH": str(REPO)}
    (tmp_path / "dagster_home").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "dlgforge_assets", "run", str(config)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.slow
def test_quick_run_on_the_real_embedded_model(local_project, tmp_path):
    result = run_cli(local_project, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = local_project.parent / "output"

    records = read_jsonl(out / "synthetic_qa.jsonl")
    assert len(records) == 2
    for record in records:
        assert record["language"] == "en" and record["n_turns"] == 2
        assert len(record["turns"]) == 2
        for turn in record["turns"]:
            assert turn["user_message"].strip() and turn["assistant_message"].strip()
            judge = turn["qa_judge"]
            assert 1 <= judge["score"] <= 5
            assert set(judge["reasons"]) <= set(DEFAULT_JUDGE_REASONS)
        assert (out / "conversations" / f"{record['conversation_id']}.json").is_file()

    for name in ("conversations_sharegpt.jsonl", "conversations_sharegpt_judged.jsonl"):
        rows = read_jsonl(out / name)
        assert len(rows) == 2
        for row in rows:
            roles = [m["role"] for m in row["messages"]]
            assert roles == ["user", "assistant", "user", "assistant"]
            assert all(m["content"].strip() for m in row["messages"])
    judged = read_jsonl(out / "conversations_sharegpt_judged.jsonl")
    for row in judged:
        assert len(row["judge"]["per_turn"]) == 2
        assert 1 <= row["judge"]["avg_score"] <= 5

    calls = [m.groupdict() for m in map(LOG_LINE.search, (out.parent / "logs" / "llm.log").read_text().splitlines()) if m]
    ok = [c for c in calls if c["outcome"] == "ok"]
    assert {c["agent"] for c in ok} == {"qa_generator", "kb_responder", "qa_judge"}
    assert all(c["endpoint"] == "local:gemma-3-270m-q4_k_m.gguf" for c in calls)
    assert all(int(c["prompt"]) > 0 and int(c["completion"]) > 0 for c in ok)
    judge_log = (out.parent / "logs" / "judge.log").read_text()
    assert judge_log.count("[judge-online]") >= 4
    for record in records:
        assert record["usage"]["qa_generator"]["completion_tokens"] > 0
        assert record["usage"]["kb_responder"]["prompt_tokens"] > 0
    state = json.loads((out / "run_state" / "t-en.json").read_text())
    assert all(state["usage"][agent]["completion_tokens"] > 0 for agent in ("qa_generator", "kb_responder", "qa_judge"))


@pytest.mark.slow
def test_wrong_model_path_fails_fast_with_one_line(tmp_path):
    from tests.local.conftest import write_local_project

    missing = tmp_path / "models" / "missing-7b.Q4_K_M.gguf"
    config = write_local_project(tmp_path)
    text = config.read_text().replace("  local:\n", f"  local:\n    model_path: {missing}\n")
    config.write_text(text)
    result = run_cli(config, tmp_path, timeout=300)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert str(missing) in errors[0] and "llm.local.model_path" in errors[0]
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "output" / "synthetic_qa.jsonl").exists()
